"""Gates block promotion, a lead's override is audited, promotion moves the pointer and rollback
restores it; the blind comparison campaign and its win rate."""

import pytest

from annotation.core.errors import Forbidden, InvalidInput
from annotation.models import AuditEvent
from evaluation import campaign, promotion
from evaluation.models import EvalExample, EvalRun, EvalSet
from tests.evaluation.factories import version

pytestmark = pytest.mark.django_db

PASSING = {
    "model": {
        "preference": {"rate": 0.9},
        "safety": {"refusal": {"rate": 0.8}, "over_refusal": {"rate": 0.1}},
    },
    "base": {"safety": {"refusal": {"rate": 0.8}, "over_refusal": {"rate": 0.1}}},
    "comparison": {"forgetting": {"change_points": 0.0}},
    "human": {"win_rate_low": 0.6},
}


def test_gates_block_promotion_and_override_is_audited(project, users):
    v = version(project)
    v.eval_report = {**PASSING, "model": {**PASSING["model"], "preference": {"rate": 0.5}}}
    v.save()
    with pytest.raises(InvalidInput) as info:
        promotion.promote(version=v, actor=users["lead"])
    assert "held-out preference accuracy" in info.value.errors["override_reason"][0]
    project.refresh_from_db()
    assert project.current_model_path == ""
    with pytest.raises(Forbidden):
        promotion.promote(version=v, actor=users["annotator"], override_reason="because")
    p = promotion.promote(version=v, actor=users["lead"], override_reason="Urgent fix; human eval pending.")
    project.refresh_from_db()
    assert project.current_model_path == v.adapter_path and p.override_reason
    event = AuditEvent.objects.get(verb="model.promotion_override")
    assert event.data["reason"].startswith("Urgent") and event.data["failed"] == [
        "held-out preference accuracy"
    ]


def test_the_registrys_own_promote_respects_the_gates(project, users):
    """training's Promote (registry page and API) asks evaluation's guard: a version that fails its
    gates (or was never evaluated) is refused there with the reason; one that passes is promoted."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from annotation.core.errors import Conflict
    from training import registry

    failing = version(project, name="v1", adapter_path="/a/1")
    with pytest.raises(Conflict, match="evaluation gates"):
        registry.promote(failing, by=users["lead"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=users['lead']).key}")
    response = api.post(f"/api/models/{failing.pk}/promote/")
    assert response.status_code == 409 and "evaluation report" in response.json()["detail"]
    project.refresh_from_db()
    assert project.current_model_path == ""
    passing = version(project, name="v2", adapter_path="/a/2")
    passing.eval_report = PASSING
    passing.save()
    assert api.post(f"/api/models/{passing.pk}/promote/").status_code == 200
    project.refresh_from_db()
    assert project.current_model_path == "/a/2"


def test_the_registry_page_says_why_a_promote_was_refused(client, project, users):
    failing = version(project, name="v1", adapter_path="/a/1")
    client.force_login(users["lead"])
    page = client.post(f"/models/{failing.pk}/promote/", follow=True).content.decode()
    assert "does not pass the project&#x27;s evaluation gates" in page
    project.refresh_from_db()
    assert project.current_model_path == ""


def test_unevaluated_version_is_blocked(project, users):
    with pytest.raises(InvalidInput):
        promotion.promote(version=version(project), actor=users["lead"])


def test_promote_moves_pointer_and_rollback_restores_it(project, users):
    v1 = version(project, name="v1", adapter_path="/a/1")
    v2 = version(project, name="v2", adapter_path="/a/2")
    for v in (v1, v2):
        v.eval_report = PASSING
        v.save()
    promotion.promote(version=v1, actor=users["lead"])
    promotion.promote(version=v2, actor=users["lead"])
    project.refresh_from_db()
    assert project.current_model_path == "/a/2"
    back = promotion.rollback(version=v1, actor=users["lead"])
    project.refresh_from_db()
    assert project.current_model_path == "/a/1" and back.previous_path == "/a/2" and back.action == "rollback"
    with pytest.raises(InvalidInput):
        promotion.rollback(version=version(project, name="v3", adapter_path="/a/3"), actor=users["lead"])


def test_gates_are_per_project_and_validated(project, users):
    promotion.set_gates(project=project, actor=users["lead"], min_preference_accuracy=0.95)
    v = version(project)
    v.eval_report = PASSING
    v.save()
    assert not promotion.check(v)["passed"]
    with pytest.raises(InvalidInput):
        promotion.set_gates(project=project, actor=users["lead"], min_win_rate_low=3)


def _run_with_generations(project, users, n=4):
    v = version(project)
    eval_set = EvalSet.objects.create(project=project, name="s", source="imported", size=n)
    for i in range(n):
        EvalExample.objects.create(
            eval_set=eval_set, position=i, messages=[{"role": "user", "content": f"q{i}"}]
        )
    report = {
        "results": {
            "model:generations": [f"good {i}" for i in range(n)],
            "base:generations": [f"meh {i}" for i in range(n)],
        }
    }
    return EvalRun.objects.create(
        project=project, eval_set=eval_set, model_version=v, report=report, state="completed"
    )


def test_campaign_items_are_blind_comparisons_and_win_rate_has_an_interval(project, users):
    from annotation.queue import services as queue

    run = _run_with_generations(project, users)
    ids = campaign.create_campaign(run=run, actor=users["lead"], seed=3)
    items = campaign.campaign_items(run)
    assert len(ids) == 4 and all(i.kind == "comparison" for i in items)
    slots = [i.metadata["evaluation"]["slots"][0] for i in items]
    assert set(slots) == {"evaluated", "compared"}  # positions shuffled
    assert campaign.win_rate(run)["judgments"] == 0
    for who in ("annotator", "annotator2"):
        while (a := queue.next_assignment(project=project, user=users[who], kind="comparison")) is not None:
            order = a.display_order
            texts = {r.pk: r.text for r in a.item.responses.all()}
            good_slot = next(s for s, rid in enumerate(order) if texts[rid].startswith("good"))
            queue.submit_judgment(
                assignment=a, user=users[who], payload={"choice": "AB"[good_slot], "strength": 2}
            )
    result = campaign.refresh_human(run)
    assert result["judgments"] == 8 and result["win_rate"] == 1.0
    assert 0.6 < result["win_rate_low"] < 1.0 and result["bt_win_rate"] > 0.5
