"""Leakage: eval prompts that the model trained on, exactly (same prompt key) or nearly (embedding
cosine at or above a threshold, found with training.pipeline.dedupe's block search).

`find_leaks(eval_keys, eval_texts, train_keys, train_texts, embed, threshold)` returns one dict per
leaking eval prompt: {"eval_index", "train_index", "kind": "exact"|"near", "cosine"}; an exact
match wins over a near one.
"""

from __future__ import annotations

import numpy as np

from training.pipeline import dedupe


def find_leaks(eval_keys, eval_texts, train_keys, train_texts, *, embed=None, threshold: float = 0.9):
    leaks: dict[int, dict] = {}
    first_train = {}
    for j, key in enumerate(train_keys):
        first_train.setdefault(key, j)
    for i, key in enumerate(eval_keys):
        if key in first_train:
            leaks[i] = {"eval_index": i, "train_index": first_train[key], "kind": "exact", "cosine": 1.0}
    rest = [i for i in range(len(eval_texts)) if i not in leaks]
    if embed is not None and rest and len(train_texts):
        vectors = dedupe.normalise(
            np.vstack([embed(list(train_texts)), embed([eval_texts[i] for i in rest])])
        )
        n_train = len(train_texts)
        later, earlier, cosine = dedupe.candidate_pairs(vectors, threshold)
        best: dict[int, tuple[float, int]] = {}
        for i, j, c in zip(later.tolist(), earlier.tolist(), cosine.tolist(), strict=True):
            if i >= n_train > j and (i not in best or c > best[i][0]):
                best[i] = (c, j)
        for i, (c, j) in best.items():
            index = rest[i - n_train]
            leaks[index] = {"eval_index": index, "train_index": j, "kind": "near", "cosine": round(c, 4)}
    return [leaks[i] for i in sorted(leaks)]
