"""Bulk curation (preferences.curation), without the browser: approve / exclude many pairs, approve
every candidate over a confidence, project scoping, the harmful-majority rule, one audit event, and a
fixed number of statements whatever the number of pairs."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.core.errors import Forbidden, InvalidInput
from annotation.models import AuditEvent
from annotation.projects import services as project_services
from preferences import curation
from preferences.models import PairStatus, PreferencePair
from tests.training.factories import make_pairs

pytestmark = pytest.mark.django_db
CANDIDATE, APPROVED, EXCLUDED = PairStatus.CANDIDATE, PairStatus.APPROVED, PairStatus.EXCLUDED


def pairs(project, users, n, *, prefix="Q", status=CANDIDATE, confidence=0.9, criterion=""):
    prompts = [f"{prefix} {i}?" for i in range(n)]
    return make_pairs(
        project, users["lead"], prompts, status=status, confidence=confidence, criterion=criterion
    )


def statuses(rows):
    return [PreferencePair.objects.get(pk=p.pk).status for p in rows]


def bulk_events(project):
    return list(AuditEvent.objects.filter(project=project, verb=curation.VERB).order_by("id"))


def test_approve_by_ids_stamps_each_pair_and_records_one_event(project, users):
    chosen = pairs(project, users, 3)
    other = pairs(project, users, 1, prefix="Other")[0]
    result = curation.curate_pairs(
        project=project, actor=users["lead"], action="approve", ids=[chosen[0].pk, chosen[2].pk]
    )
    assert result.changed == [chosen[0].pk, chosen[2].pk] and result.ignored == []
    assert statuses(chosen + [other]) == [APPROVED, CANDIDATE, APPROVED, CANDIDATE]
    for p in (chosen[0], chosen[2]):
        p.refresh_from_db()
        assert p.decided_by == users["lead"] and p.decided_at is not None
    (event,) = bulk_events(project)
    assert event.actor == users["lead"] and event.object_type == "preferencepair"
    assert event.data["count"] == 2 and event.data["ids"] == [chosen[0].pk, chosen[2].pk]
    assert event.data["action"] == "approve" and event.data["new_status"] == APPROVED
    assert result.sentence() == "2 pairs approved."


def test_exclude_by_ids_and_already_decided_pairs_stay_as_they_were(project, users):
    rows = pairs(project, users, 3)
    curation.curate_pairs(project=project, actor=users["admin"], action="exclude", ids=[rows[0].pk])
    decided_at = PreferencePair.objects.get(pk=rows[0].pk).decided_at
    result = curation.curate_pairs(
        project=project, actor=users["lead"], action="exclude", ids=[str(r.pk) for r in rows]
    )
    assert result.changed == [rows[1].pk, rows[2].pk] and result.unchanged == [rows[0].pk]
    assert statuses(rows) == [EXCLUDED] * 3
    first = PreferencePair.objects.get(pk=rows[0].pk)
    assert first.decided_by == users["admin"] and first.decided_at == decided_at  # not touched again
    assert "1 already excluded" in result.sentence()
    assert [e.data["count"] for e in bulk_events(project)] == [1, 2]
    curation.curate_pairs(
        project=project, actor=users["lead"], action="approve", ids=[r.pk for r in rows[:2]]
    )
    PreferencePair.objects.filter(pk=rows[2].pk).update(status=CANDIDATE)
    curation.curate_pairs(project=project, actor=users["lead"], action="approve", ids=[r.pk for r in rows])
    assert bulk_events(project)[-1].data["previous"] == {"candidate": [rows[2].pk]}
    assert bulk_events(project)[-2].data["previous"] == {"excluded": [rows[0].pk, rows[1].pk]}


def test_ids_of_another_project_are_ignored(project, users):
    mine = pairs(project, users, 2)
    elsewhere = project_services.create_project(name="Elsewhere", created_by=users["admin"])
    project_services.set_membership(project=elsewhere, actor=users["admin"], user=users["lead"], role="lead")
    theirs = pairs(elsewhere, users, 2, prefix="Theirs")
    ids = [mine[0].pk, theirs[0].pk, theirs[1].pk, 10**9]
    result = curation.curate_pairs(project=project, actor=users["lead"], action="approve", ids=ids)
    assert result.changed == [mine[0].pk]
    assert result.ignored == sorted([theirs[0].pk, theirs[1].pk, 10**9])
    assert statuses(theirs) == [CANDIDATE, CANDIDATE]  # even though the lead leads that project too
    assert statuses(mine) == [APPROVED, CANDIDATE]
    (event,) = bulk_events(project)
    assert event.data["ignored"] == result.ignored and not bulk_events(elsewhere)
    assert "3 id(s) are not pairs of this project" in result.sentence()


def test_a_bulk_approval_leaves_harmful_majority_pairs_but_an_exclusion_takes_them(project, users):
    rows = pairs(project, users, 3)
    PreferencePair.objects.filter(pk=rows[1].pk).update(chosen_harmful_flags=2, chosen_harmful_majority=True)
    ids = [r.pk for r in rows]
    result = curation.curate_pairs(project=project, actor=users["lead"], action="approve", ids=ids)
    assert result.skipped_harmful == [rows[1].pk] and statuses(rows) == [APPROVED, CANDIDATE, APPROVED]
    assert "approve such a pair on its own" in result.sentence()
    assert bulk_events(project)[-1].data["skipped_harmful"] == [rows[1].pk]
    curation.curate_pairs(project=project, actor=users["lead"], action="exclude", ids=ids)
    assert statuses(rows) == [EXCLUDED] * 3


def test_approve_confident_takes_every_matching_candidate_and_no_decided_pair(project, users):
    high = pairs(project, users, 60, prefix="High", confidence=0.95)  # more than a page of the page
    low = pairs(project, users, 2, prefix="Low", confidence=0.5)
    excluded = pairs(project, users, 1, prefix="Excl", status=EXCLUDED, confidence=0.99)
    stale = pairs(project, users, 1, prefix="Stale", confidence=0.99)
    PreferencePair.objects.filter(pk=stale[0].pk).update(is_stale=True)
    harmful = pairs(project, users, 1, prefix="Harm", confidence=0.99)
    PreferencePair.objects.filter(pk=harmful[0].pk).update(
        chosen_harmful_flags=2, chosen_harmful_majority=True
    )
    result = curation.approve_confident(project=project, actor=users["lead"], min_confidence=0.9)
    assert sorted(result.changed) == sorted(p.pk for p in high)
    assert result.skipped_harmful == [harmful[0].pk]
    assert statuses(low + excluded + stale + harmful) == [
        CANDIDATE,
        CANDIDATE,
        EXCLUDED,
        CANDIDATE,
        CANDIDATE,
    ]
    (event,) = bulk_events(project)
    assert event.data["count"] == 60 and event.data["min_confidence"] == 0.9
    assert result.sentence().startswith("60 pairs approved.")


def test_approve_confident_honours_the_page_filters(project, users):
    overall = pairs(project, users, 2, prefix="Overall", confidence=0.8)
    honesty = pairs(project, users, 2, prefix="Honest", confidence=0.8, criterion="honesty")
    result = curation.approve_confident(
        project=project, actor=users["lead"], min_confidence=0.7, filters={"criterion": "honesty"}
    )
    assert sorted(result.changed) == sorted(p.pk for p in honesty)
    assert statuses(overall) == [CANDIDATE, CANDIDATE]
    assert bulk_events(project)[0].data["filters"] == {"criterion": "honesty"}
    # a status filter other than candidate leaves nothing to approve
    result = curation.approve_confident(
        project=project, actor=users["lead"], min_confidence=0.0, filters={"status": EXCLUDED}
    )
    assert result.changed == [] and statuses(overall) == [CANDIDATE, CANDIDATE]


@pytest.mark.parametrize("who", ["annotator", "outsider"])
def test_only_leads_curate_in_bulk(project, users, who):
    rows = pairs(project, users, 2)
    with pytest.raises(Forbidden):
        curation.curate_pairs(project=project, actor=users[who], action="approve", ids=[rows[0].pk])
    with pytest.raises(Forbidden):
        curation.approve_confident(project=project, actor=users[who], min_confidence=0.5)
    assert statuses(rows) == [CANDIDATE, CANDIDATE] and not bulk_events(project)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"action": "delete", "ids": [1]}, "action"),
        ({"action": "approve", "ids": []}, "ids"),
        ({"action": "approve", "ids": ["one"]}, "ids"),
        ({"action": "approve", "ids": [True]}, "ids"),
        ({"action": "approve", "ids": [0]}, "ids"),
        ({"action": "approve", "ids": "12"}, "ids"),
        ({"action": "approve", "ids": list(range(1, curation.MAX_IDS + 2))}, "ids"),
    ],
)
def test_bad_bulk_input_is_refused(project, users, kwargs, field):
    pairs(project, users, 1)
    with pytest.raises(InvalidInput) as exc:
        curation.curate_pairs(project=project, actor=users["lead"], **kwargs)
    assert field in exc.value.errors and not bulk_events(project)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), "x"])
def test_a_threshold_outside_0_1_is_refused(project, users, threshold):
    with pytest.raises(InvalidInput) as exc:
        curation.approve_confident(project=project, actor=users["lead"], min_confidence=threshold)
    assert "min_confidence" in exc.value.errors


def count_statements(action):
    with CaptureQueriesContext(connection) as ctx:
        action()
    return len(ctx.captured_queries)


def test_a_bulk_action_costs_the_same_statements_for_3_or_60_pairs(project, users):
    few = pairs(project, users, 3, prefix="Few", confidence=0.95)
    many = pairs(project, users, 60, prefix="Many", confidence=0.85)
    lead = users["lead"]

    def by_ids(rows, action):
        return lambda: curation.curate_pairs(
            project=project, actor=lead, action=action, ids=[r.pk for r in rows]
        )

    small, large = count_statements(by_ids(few, "approve")), count_statements(by_ids(many, "approve"))
    assert small == large <= 8
    assert count_statements(by_ids(few, "exclude")) == count_statements(by_ids(many, "exclude")) == small
    PreferencePair.objects.update(status=CANDIDATE)
    small = count_statements(
        lambda: curation.approve_confident(project=project, actor=lead, min_confidence=0.9)
    )
    large = count_statements(
        lambda: curation.approve_confident(project=project, actor=lead, min_confidence=0.8)
    )
    assert small == large <= 8
