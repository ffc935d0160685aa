"""Helpers for the preferences tests: comparison items through the real import path, and judging them."""

import json

from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.projects import services as project_services
from annotation.queue import services as queue_services


def comparison_lines(n, *, start=0, models=("model-a", "model-b"), prefix="Compare"):
    return "\n".join(
        json.dumps(
            {
                "prompt": f"{prefix} question {i}?",
                "responses": [{"text": f"Answer {i} variant {k}.", "model": m} for k, m in enumerate(models)],
            }
        )
        for i in range(start, start + n)
    )


def make_comparisons(project, actor, n, *, start=0, models=("model-a", "model-b"), prefix="Compare"):
    parsed = parse_items(comparison_lines(n, start=start, models=models, prefix=prefix), kind="comparison")
    assert parsed.ok, parsed.errors
    return import_services.import_items(project=project, actor=actor, records=parsed.records, source="test")


def response_model(response_id):
    from annotation.models import Response

    return Response.objects.get(pk=response_id).model_name


def judge(project, user, *, prefer=None, payload=None, harmful=(), comment="because", **kwargs):
    """Lease the user's next comparison and submit; `prefer` = model name to pick (pairs, by slot),
    `harmful` = model names whose responses the user reports harmful (by slot, as on the page)."""
    assignment = queue_services.next_assignment(project=project, user=user, kind="comparison")
    assert assignment is not None
    names = [response_model(r) for r in assignment.display_order]
    if payload is None:
        slot = "AB"[names.index(prefer)]
        payload = {"choice": slot, "strength": 2}
    if harmful:
        payload = {**payload, "harmful": ["ABCDEFGH"[names.index(m)] for m in harmful]}
    judgment = queue_services.submit_judgment(
        assignment=assignment, user=user, payload=payload, comment=comment, **kwargs
    )
    return assignment, judgment


CMP_CRITERIA = [
    {"key": "helpfulness", "type": "likert", "required": False, "instructions": "Which helps more?"},
    {"key": "honesty", "type": "likert", "required": False, "instructions": "Which is more honest?"},
]


def make_cmp_project(users, *, overlap=2, require_rationale=False, name="Prefs"):
    """A project whose rubric criteria are all optional (comparisons answer them as A / B / tie)."""
    p = project_services.create_project(
        name=name, created_by=users["admin"], overlap=overlap, require_rationale=require_rationale
    )
    project_services.set_membership(project=p, actor=users["admin"], user=users["lead"], role="lead")
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator"], role="annotator"
    )
    project_services.set_membership(
        project=p, actor=users["admin"], user=users["annotator2"], role="annotator"
    )
    project_services.create_rubric_version(project=p, actor=users["lead"], criteria=CMP_CRITERIA)
    return p


def lease(project, user):
    return queue_services.next_assignment(project=project, user=user, kind="comparison")


def both_prefer_a_overall_and_b_for_honesty(cmp, users):
    """Both annotators: model-a is better overall, model-b more honest; the item judged."""
    for user in ("annotator", "annotator2"):
        a = lease(cmp, users[user])
        names = [response_model(r) for r in a.display_order]
        a_slot, b_slot = "AB"[names.index("model-a")], "AB"[names.index("model-b")]
        queue_services.submit_judgment(
            assignment=a,
            user=users[user],
            payload={"choice": a_slot, "strength": 1, "criteria": {"honesty": b_slot}},
        )
    return a.item
