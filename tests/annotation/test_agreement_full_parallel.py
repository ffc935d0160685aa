"""The agreement full rebuild as a worker runs it (PostgreSQL, outside a transaction): the SQL kinds'
items split by id into shares, each labelled, written and summed on a connection of its own at once
(annotation.quality.tally_sql.PARTS); and the derived tables as unlogged caches: all three emptied
together (what crash recovery does to UNLOGGED tables) make the next refresh a full rebuild with the
same sums; the Dawid-Skene fit's read of the stored votes."""

import json
import threading
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from annotation.core.reliability import MISSING, dawid_skene, reliability_weights
from annotation.models import AgreementItemState, AgreementVote, Assignment, Item, Judgment
from annotation.quality import adjudication, reports, tally, tally_sql, tally_store
from annotation.queue import services as queue_services
from tests.annotation.factories import four_annotator_project
from tests.conftest import GOOD_SCORES, make_items
from tests.preferences.factories import make_comparisons

TABLES = ("annotation_agreementitemstate", "annotation_agreementvote", "annotation_agreementtally")


@pytest.fixture
def judged(users, django_user_model):
    """Four annotators over SFT items and comparisons (resubmits, two weeks, a tie among the others),
    a gold item and an answer only the Python labels."""
    project, people, lead = four_annotator_project("Shares", users, django_user_model)
    make_items(project, lead, 5)
    make_comparisons(project, lead, 4)
    for n, person in enumerate(people):
        for kind, answer in (
            ("sft", {"decision": ["accept", "reject", "accept", "edit"][n], "edited_text": "Better.",
                     "scores": {"helpfulness": 1 + n, "safe": bool(n % 2)}}),
            ("comparison", {"payload": {"choice": ["A", "B", "tie", "A"][n], "strength": 1 + n % 3,
                                        "criteria": {"helpfulness": "AB"[n % 2]}}}),
        ):  # fmt: skip
            while (a := queue_services.next_assignment(project=project, user=person, kind=kind)) is not None:
                queue_services.submit_judgment(assignment=a, user=person, comment="because", **answer)
    for a in Assignment.objects.filter(annotator=people[0], state="submitted", item__kind="sft")[:2]:
        queue_services.submit_judgment(  # a resubmit: the later judgment replaces the earlier
            assignment=a, user=people[0], decision="reject", scores={"helpfulness": 3, "safe": True}
        )
    for j in Judgment.objects.filter(item__project=project):
        Judgment.objects.filter(pk=j.pk).update(created_at=j.created_at - timedelta(weeks=j.pk % 2))
    odd = Judgment.objects.filter(item__project=project, item__kind="sft").order_by("id").first()
    Judgment.objects.filter(pk=odd.pk).update(scores={"helpfulness": 2.5})  # the Python path's
    gold = Item.objects.filter(project=project, kind="sft").order_by("-id").first()
    adjudication.set_gold(item=gold, actor=lead, answer={"decision": "accept", "scores": {"safe": True}})
    return project


def _text(mapping: dict) -> dict:
    return {json.dumps(k): json.dumps(v, sort_keys=True) for k, v in mapping.items()}


def _stored(project) -> dict:
    return {k: v for k, v in tally_store.stored_sums(project).items() if k != tally_store.STARTED}


def _expected_states(project) -> dict:
    items = list(Item.objects.filter(project=project).order_by("id"))
    return tally_store.item_states(project, items, tally_store._versions(project))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("parts", [2, 3])
def test_shares_on_their_own_connections_give_the_python_sums_states_and_votes(judged, monkeypatch, parts):
    project = judged
    monkeypatch.setattr(tally_sql, "PARTS", parts)
    backends, original = set(), tally_sql._part

    def part(*args, **kwargs):
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backends.add((threading.get_ident(), cur.fetchone()[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(tally_sql, "_part", part)
    assert not connection.in_atomic_block
    reports.build(project)
    assert len({pid for _thread, pid in backends}) == parts  # each share on a connection of its own
    assert _text(_stored(project)) == _text(tally_store.fresh_sums(project))
    python = _expected_states(project)
    stored = dict(AgreementItemState.objects.filter(project=project).values_list("item_id", "data"))
    assert _text(stored) == _text(python)
    votes = {(v.item_id, v.annotator_id): v.label for v in AgreementVote.objects.filter(project=project)}
    assert votes == {
        (pk, a): label for pk, s in python.items() if not s["g"] for a, label in tally.votes(s).items()
    }
    since = timezone.now()  # an incremental run from the states the shares wrote stays exact
    j = Judgment.objects.filter(item__project=project, item__kind="comparison", is_current=True).first()
    Judgment.objects.filter(pk=j.pk).update(payload={"choice": "B", "ranking": []})
    Item.objects.filter(pk=j.item_id).update(updated_at=timezone.now())
    assert reports.build(project, since=since)[1] == "incremental"
    assert _text(_stored(project)) == _text(tally_store.fresh_sums(project))


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_derived_tables_are_unlogged_all_three():
    with connection.cursor() as cur:
        cur.execute("SELECT relname, relpersistence FROM pg_class WHERE relname = ANY(%s)", [list(TABLES)])
        assert dict(cur.fetchall()) == dict.fromkeys(TABLES, "u")  # one crash empties them together


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_a_crash_empties_the_derived_tables_the_next_refresh_rebuilds_in_full(judged):
    project = judged
    reports.build(project)
    since = timezone.now()
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(TABLES)}")  # crash recovery's reset of every unlogged table
    j = Judgment.objects.filter(item__project=project, item__kind="sft", is_current=True).last()
    Judgment.objects.filter(pk=j.pk).update(decision="reject")
    Item.objects.filter(pk=j.item_id).update(updated_at=timezone.now())
    assert tally_store.last_started(project) is None  # no ok row: beat's refresh asks for a full run
    sums, mode = tally_store.refresh(project, since=since)  # even when asked for an incremental one
    assert mode == "full"
    assert _text(_stored(project)) == _text(tally_store.fresh_sums(project))
    assert AgreementItemState.objects.filter(project=project).count() == len(_expected_states(project))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["sft", "comparison"])
def test_the_fit_reads_each_stored_vote_as_its_annotators_label(judged, kind):
    """reliability_fit reads the votes grouped by label, as arrays: the same fit as the dense
    annotators x items matrix of the votes, annotators in the report's order (not their ids')."""
    project = judged
    reports.build(project)
    votes = list(
        AgreementVote.objects.filter(project=project, kind=kind).values_list(
            "annotator_id", "item_id", "label"
        )
    )
    annotators = sorted({a for a, _u, _l in votes}, key=lambda a: (a % 3, -a))  # not in id order
    labels = sorted({label for _a, _u, label in votes})
    items = sorted({u for _a, u, _l in votes})
    dense = np.full((len(annotators), len(items)), MISSING)
    for a, u, label in votes:
        dense[annotators.index(a), items.index(u)] = labels.index(label)
    result = dawid_skene(dense, n_classes=len(labels), gold=np.full(len(items), MISSING))
    weights = reliability_weights(result)
    expected = {a: (float(result.accuracy[i]), float(weights[i])) for i, a in enumerate(annotators)}
    assert len({round(acc, 6) for acc, _w in expected.values()}) > 1  # the annotators differ: a mix-up shows
    fitted = tally_store.reliability_fit(project)(kind, annotators, labels)
    assert fitted == {a: pytest.approx(figures, rel=1e-9, abs=1e-12) for a, figures in expected.items()}


def _derived(project) -> tuple:
    states = dict(AgreementItemState.objects.filter(project=project).values_list("item_id", "data"))
    votes = set(AgreementVote.objects.filter(project=project).values_list("item_id", "annotator_id", "label"))
    return _text(states), votes


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_full_rebuild_keeps_the_other_projects_states_and_votes(judged, project, users):
    """A full rebuild empties the tables with TRUNCATE only when they hold no other project's rows."""
    make_items(project, users["lead"], 3)
    for who in ("annotator", "annotator2"):
        while (a := queue_services.next_assignment(project=project, user=users[who])) is not None:
            queue_services.submit_judgment(
                assignment=a, user=users[who], decision="accept", scores=GOOD_SCORES
            )
    reports.build(project)
    other = _derived(project)
    assert other[0] and other[1]
    reports.build(judged)
    reports.build(judged)  # its own old rows replaced
    assert _derived(project) == other
    assert _text(_stored(judged)) == _text(tally_store.fresh_sums(judged))
    assert _derived(judged)[0] == _text(_expected_states(judged))
