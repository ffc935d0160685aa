"""Active-learning fixtures: a cheap deterministic embedder instead of MiniLM, and samples."""

import json

import pytest

from annotation.active_learning import ingest, records

EMBEDDER = "tests.training.factories.word_embedder"


@pytest.fixture(autouse=True)
def _word_embedder(settings, tmp_path):
    settings.TUNELOOP_EMBEDDER = EMBEDDER
    settings.DATA_DIR = tmp_path


TOPICS = {
    "cooking": "recipe oven bake flour sugar butter dough",
    "python": "python list dict function import loop class",
    "travel": "flight hotel passport airport luggage train ticket",
    "finance": "loan interest mortgage bank budget savings",
}


def sample_rows(n, *, topic=None, start=0, **extra):
    names = list(TOPICS)
    rows = []
    for i in range(start, start + n):
        t = topic or names[i % len(names)]
        words = TOPICS[t].split()
        rows.append(
            {
                "prompt": f"{words[i % len(words)]} {words[(i + 3) % len(words)]} question {i}",
                "output": f"answer about {words[(i + 1) % len(words)]} {words[(i + 5) % len(words)]} number {i}",
                "model_version": "v1",
                **extra,
            }
        )
    return rows


def ingest_rows(project, actor, rows):
    return ingest.ingest(project=project, records=records.parse_rows(rows), actor=actor, source="test")


def jsonl(rows):
    return "\n".join(json.dumps(r) for r in rows)
