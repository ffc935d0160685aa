"""Model plumbing with no Django: load a causal LM (the bundled SmolLM2, a local path or a Hub id),
generate chat completions in batches, score responses (log-probability, token entropy), and embed
text (MiniLM).

Importing this package is cheap; torch and transformers load on first use.
"""

from .embeddings import minilm_dir, minilm_embedder
from .generate import generate, generation_params, render_prompt
from .loader import (
    DEFAULT_MODEL,
    ModelNotAvailable,
    bundled_model,
    default_cache_dir,
    load_model,
    load_tokenizer,
    pick_device,
    resolve_model,
)
from .scoring import mean_token_entropy, response_stats, sequence_logprobs

__all__ = [
    "DEFAULT_MODEL",
    "ModelNotAvailable",
    "bundled_model",
    "default_cache_dir",
    "generate",
    "generation_params",
    "load_model",
    "load_tokenizer",
    "mean_token_entropy",
    "minilm_dir",
    "minilm_embedder",
    "pick_device",
    "render_prompt",
    "resolve_model",
    "response_stats",
    "sequence_logprobs",
]
