"""Training test data through the real paths: SFT items imported and judged by two annotators;
comparison items imported, with curated preference pairs on them."""

import json

import numpy as np

from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.queue import services as queue_services
from preferences.models import PairStatus, PreferencePair
from tests.conftest import GOOD_SCORES


def import_sft(project, actor, rows):
    """rows: [(prompt, response)]."""
    lines = "\n".join(json.dumps({"prompt": p, "response": r, "model": "m"}) for p, r in rows)
    parsed = parse_items(lines, fmt="jsonl")
    assert parsed.ok, parsed.errors
    import_services.import_items(project=project, actor=actor, records=parsed.records, source="test")


def judge_all(project, users, decide=None):
    """Both annotators judge every open SFT item; decide(item, username) -> submit_judgment kwargs."""
    decide = decide or (lambda item, who: {})
    for who in ("annotator", "annotator2"):
        user = users[who]
        while (assignment := queue_services.next_assignment(project=project, user=user)) is not None:
            kwargs = {"decision": "accept", "scores": GOOD_SCORES, **decide(assignment.item, who)}
            queue_services.submit_judgment(assignment=assignment, user=user, **kwargs)


def sft_project_data(project, users, n=6, *, start=0, decide=None):
    import_sft(project, users["lead"], [(f"Question {i}?", f"Answer {i}.") for i in range(start, start + n)])
    judge_all(project, users, decide)


def make_pairs(project, actor, prompts, *, status=PairStatus.APPROVED, confidence=0.9, criterion=""):
    """One comparison item per prompt, with one pair (the first response chosen)."""
    lines = "\n".join(
        json.dumps(
            {
                "prompt": p,
                "responses": [
                    {"text": f"A good answer to {p}", "model": "a"},
                    {"text": f"bad {i}", "model": "b"},
                ],
            }
        )
        for i, p in enumerate(prompts)
    )
    parsed = parse_items(lines, kind="comparison")
    assert parsed.ok, parsed.errors
    import_services.import_items(project=project, actor=actor, records=parsed.records, source="test")
    pairs = []
    for item in project.items.filter(kind="comparison").order_by("id"):
        if item.preference_pairs.exists() or item.prompt_text not in prompts:
            continue
        chosen, rejected = list(item.responses.order_by("position"))
        pairs.append(
            PreferencePair.objects.create(
                project=project,
                item=item,
                criterion=criterion,
                chosen=chosen,
                rejected=rejected,
                confidence=confidence,
                margin=0.5,
                n_votes=2,
                rule="majority",
                status=status,
            )  # fmt: skip
        )
    return pairs


def word_embedder(texts):
    """A cheap deterministic embedder: bag of lower-cased words hashed into 64 dims."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().replace("?", " ").replace(".", " ").split():
            out[i, sum(map(ord, word)) % 64] += 1.0
    return out
