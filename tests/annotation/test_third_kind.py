"""A third kind, defined here: plain classification (one text, a label from the item's own list in
`metadata["labels"]`). Registered for these tests only, it goes through import, the queue, submit
(validated by the kind), routing (agreeing -> approved with the kind's resolution, disagreeing ->
disputed), gold, adjudication (a lead's pick or override, validated by the kind), the agreement
report, the task API and the lead's pages, with no change to annotation's code."""

import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.core.errors import InvalidInput
from annotation.importing import services as import_services
from annotation.importing.parse import parse_items
from annotation.kinds import registry
from annotation.kinds.base import Kind
from annotation.models import Adjudication, ItemState, Project
from annotation.quality import adjudication
from annotation.quality.reports import build_report
from annotation.quality.selectors import gold_accuracy
from annotation.queue import services as queue_services

KIND = "classification"


class Classification(Kind):
    """The answer is payload {"label"}; a final answer is {"label"}; one of item.metadata["labels"]."""

    name = KIND
    label = "Classification"
    noun = "text"

    def _checked(self, item, value, field):
        allowed = (item.metadata or {}).get("labels") or []
        if value not in allowed:
            raise InvalidInput(errors={field: [f"Must be one of: {', '.join(allowed)}."]})
        return value

    def validate(self, *, item, assignment, project, rubric_version, answer):
        label = self._checked(item, (answer.get("payload") or {}).get("label"), "payload.label")
        return {**answer, "payload": {"label": label}}

    def validate_final(self, item, answer, *, require_text=False):
        return {"label": self._checked(item, answer.get("label"), "label")}


@pytest.fixture
def classification():
    kind = registry.register(Classification())
    yield kind
    registry.unregister(KIND)


@pytest.fixture
def texts(project, users, classification):
    Project.objects.filter(pk=project.pk).update(
        agreement_routing=True, agreement_threshold=1.0, max_extra_annotators=0
    )
    project.refresh_from_db()
    lines = "\n".join(
        json.dumps(
            {
                "prompt": f"Is message {i} spam?",
                "response": f"Message {i}",
                "metadata": {"labels": ["spam", "ham"]},
            }
        )
        for i in range(3)
    )
    parsed = parse_items(lines, kind=KIND)
    assert parsed.ok, parsed.errors
    import_services.import_items(project=project, actor=users["lead"], records=parsed.records, source="test")
    items = list(project.items.filter(kind=KIND).order_by("id"))
    assert len(items) == 3
    return items


def classify(project, user, label):
    assignment = queue_services.next_assignment(project=project, user=user, kind=KIND)
    assert assignment is not None
    return assignment, queue_services.submit_judgment(
        assignment=assignment, user=user, payload={"label": label}
    )


@pytest.mark.django_db
def test_a_third_kind_goes_through_queue_routing_adjudication_and_report(project, users, texts):
    annotator, annotator2, lead = users["annotator"], users["annotator2"], users["lead"]
    first, second, third = texts
    adjudication.set_gold(item=third, actor=lead, answer={"label": "ham"})
    with pytest.raises(InvalidInput) as bad:
        adjudication.set_gold(item=third, actor=lead, answer={"label": "maybe"})
    assert "label" in bad.value.errors

    # submit: the kind validates the answer (a label from the item's own list)
    assignment = queue_services.next_assignment(project=project, user=annotator, kind=KIND)
    assert assignment.item == first
    with pytest.raises(InvalidInput) as bad:
        queue_services.submit_judgment(assignment=assignment, user=annotator, payload={"label": "eggs"})
    assert "payload.label" in bad.value.errors
    queue_services.submit_judgment(assignment=assignment, user=annotator, payload={"label": "spam"})
    classify(project, annotator, "spam")  # second item
    classify(project, annotator2, "spam")  # first item: both agree
    classify(project, annotator2, "ham")  # second item: they disagree
    assert queue_services.next_assignment(project=project, user=annotator, kind=KIND) is None

    # routing: agreement approves with the kind's resolution, disagreement goes to the leads
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == ItemState.APPROVED
    assert first.resolution["label"] == "spam" and first.resolution["source"] == "routing"
    assert second.state == ItemState.DISPUTED

    # adjudication: an override the kind rejects, then a pick
    common = dict(item=second, lead=lead, reason="Spam by the guidelines.", category="annotator_error")
    with pytest.raises(InvalidInput) as bad:
        adjudication.adjudicate(decision="override", final={"label": "eggs"}, **common)
    assert "label" in bad.value.errors
    picked = second.judgments.get(annotator=annotator)
    done = adjudication.adjudicate(decision="pick", judgment_id=picked.pk, **common)
    second.refresh_from_db()
    assert second.state == ItemState.APPROVED
    assert second.resolution == {"source": "adjudication", "adjudication": done.pk, "label": "spam"}
    assert Adjudication.objects.get(pk=done.pk).final == {"label": "spam"}

    # the agreement report and gold accuracy read the kind's labels
    report = build_report(project)
    rows = {(r["kind"], r["version"]): r for r in report["decisions"]}
    assert rows[(KIND, "all")]["items"] == 2 and rows[(KIND, "all")]["percent"] == 0.5
    assert {r["username"] for r in report["annotators"][KIND]} == {"annotator1", "annotator2"}
    assert [r["week"] for r in report["weekly"] if r["kind"] == KIND]
    assert gold_accuracy(project) == []  # nobody judged the gold item yet


@pytest.mark.django_db
def test_a_third_kind_override_and_gold_accuracy(project, users, texts):
    first, _second, third = texts
    adjudication.set_gold(item=third, actor=users["lead"], answer={"label": "ham"})
    Project.objects.filter(pk=project.pk).update(gold_share=1.0)
    project.refresh_from_db()
    assignment, _ = classify(project, users["annotator"], "spam")
    assert assignment.item == third  # gold served first (share 1.0), judged like any other
    rows = gold_accuracy(project)
    assert [(r["username"], r["n"], r["correct"]) for r in rows] == [("annotator1", 1, 0)]
    classify(project, users["annotator"], "ham")
    classify(project, users["annotator2"], "ham")  # annotator2 gets the gold item first
    classify(project, users["annotator2"], "spam")
    first.refresh_from_db()
    assert first.state == ItemState.DISPUTED
    done = adjudication.adjudicate(
        item=first, lead=users["lead"], decision="override", final={"label": "ham"},
        reason="Not spam.", category="guideline_gap",
    )  # fmt: skip
    first.refresh_from_db()
    assert first.resolution["label"] == "ham" and done.final == {"label": "ham"}


@pytest.mark.django_db
def test_a_third_kind_through_the_api_and_the_lead_pages(client, project, users, texts):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=users['annotator'])[0].key}")
    task = api.get(reverse("api-next", args=[project.pk]), {"kind": KIND}).json()
    assert task["item"]["kind"] == KIND
    assert task["item"]["responses"] == [{"slot": "A", "text": "Message 0"}]
    submitted = api.post(
        reverse("api-submit", args=[task["assignment"]]), {"payload": {"label": "x"}}, format="json"
    )
    assert submitted.status_code == 400 and "payload.label" in submitted.json()["errors"]
    ok = api.post(
        reverse("api-submit", args=[task["assignment"]]), {"payload": {"label": "ham"}}, format="json"
    )
    assert ok.status_code == 201

    client.force_login(users["lead"])
    page = client.get(reverse("annotation:items", args=[project.pk]), {"kind": KIND})
    assert page.status_code == 200 and 'name="label"' in page.content.decode()
    gold = client.post(reverse("annotation:item-gold", args=[texts[2].pk]), {"label": "spam"})
    assert gold.status_code == 302
    texts[2].refresh_from_db()
    assert texts[2].is_gold and texts[2].gold_answer == {"label": "spam"}
    panel = client.get(reverse("annotation:adjudicate", args=[texts[0].pk]))
    assert panel.status_code == 200 and 'name="final_label"' in panel.content.decode()
