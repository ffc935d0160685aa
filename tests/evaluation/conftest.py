"""Evaluation page and API tests: eval runs are queued but not run (no worker here; the task is
recorded instead), and the leakage check embeds with a word-count embedder, not MiniLM."""

import pytest


@pytest.fixture
def queued(monkeypatch, settings):
    from evaluation import tasks

    settings.TUNELOOP_EMBEDDER = "tests.training.factories.word_embedder"
    sent = []
    monkeypatch.setattr(tasks.run_eval_task, "apply_async", lambda **kw: sent.append(kw))
    return sent
