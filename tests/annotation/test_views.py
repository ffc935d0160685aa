"""The htmx pages through Django's test client: the review flow and the lead pages."""

import io
import json

import pytest
from django.urls import reverse

from annotation.models import Assignment, AssignmentState, Item, Judgment
from tests.chart_specs import chart_spec
from tests.conftest import make_items

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def scores_post(**extra):
    data = {"score_helpfulness": "4", "score_safe": "yes", "duration_seconds": "12.5"}
    data.update(extra)
    return data


@pytest.fixture
def annotator_client(client, users):
    client.force_login(users["annotator"])
    return client


@pytest.fixture
def lead_client(client, users):
    client.force_login(users["lead"])
    return client


def current_assignment(user):
    return Assignment.objects.get(annotator=user, state=AssignmentState.LEASED)


def test_review_page_renders_task_with_guidelines_rubric_and_progress(
    annotator_client, project, items, users
):
    res = annotator_client.get(reverse("annotation:review", args=[project.pk]))
    assert res.status_code == 200
    html = res.content.decode()
    assert "Question 0?" in html and "Answer 0." in html
    assert "0 done · 5 left" in html
    assert "<em>kind</em>" in html  # guidelines rendered as Markdown
    assert 'name="score_helpfulness"' in html and 'name="score_safe"' in html and 'name="score_tone"' in html
    assert "How much does it help the user?" in html
    a = current_assignment(users["annotator"])
    assert f'hx-post="/assignments/{a.pk}/submit/"' in html
    assert f'name="rubric_version" value="{project.current_rubric_version().pk}"' in html
    assert "htmx.min.js" in html and "X-CSRFToken" in html


def test_submit_accept_swaps_in_next_task(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(
        reverse("annotation:submit", args=[a.pk]),
        scores_post(
            decision="accept",
            flags=["pii", "off_topic"],
            comment="fine",
            rubric_version=project.current_rubric_version().pk,
        ),
        **HX,
    )
    assert res.status_code == 200
    html = res.content.decode()
    assert "<html" not in html  # a partial, not a page
    assert "Saved item" in html and "Question 1?" in html and "1 done · 4 left" in html
    j = Judgment.objects.get(assignment=a)
    assert j.decision == "accept" and j.scores == {"helpfulness": 4, "safe": True}
    assert j.flags == ["pii", "off_topic"] and j.comment == "fine" and j.duration_seconds == 12.5
    assert j.rubric_version == project.current_rubric_version()


def test_submit_edit_stores_the_gold_answer(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(
        reverse("annotation:submit", args=[a.pk]),
        scores_post(decision="edit", edited_text="A better answer."),
        **HX,
    )
    assert res.status_code == 200
    assert Judgment.objects.get(assignment=a).edited_text == "A better answer."


def test_submit_reject(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(
        reverse("annotation:submit", args=[a.pk]), scores_post(decision="reject"), **HX
    )
    assert res.status_code == 200
    assert Judgment.objects.get(assignment=a).decision == "reject"


def test_invalid_submit_rerenders_same_task_with_field_messages(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(
        reverse("annotation:submit", args=[a.pk]),
        {
            "decision": "edit",
            "edited_text": "Answer 0.",
            "score_safe": "no",
            "comment": "kept",
            "flags": "unsafe",
        },
        **HX,
    )
    assert res.status_code == 400
    html = res.content.decode()
    assert "Not saved." in html
    assert "This criterion is required." in html  # helpfulness missing
    assert "Question 0?" in html  # the same task
    assert ">kept</textarea>" in html  # the comment is kept
    assert 'value="unsafe" checked' in html and 'value="no" checked' in html
    assert 'value="edit" checked' in html and 'id="edit-box" class="edit-box">' in html  # edit box shown
    assert not Judgment.objects.exists()
    res = annotator_client.post(
        reverse("annotation:submit", args=[a.pk]), scores_post(decision="edit", edited_text="Answer 0."), **HX
    )
    assert res.status_code == 400 and "identical to the response" in res.content.decode()
    assert not Judgment.objects.exists()


def test_submit_unknown_decision_is_400_not_500(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(
        reverse("annotation:submit", args=[a.pk]), scores_post(decision="maybe"), **HX
    )
    assert res.status_code == 400
    assert "Must be one of" in res.content.decode()


def test_someone_elses_assignment_is_404(client, project, items, users):
    client.force_login(users["annotator"])
    client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    client.force_login(users["annotator2"])
    res = client.post(reverse("annotation:submit", args=[a.pk]), scores_post(decision="accept"), **HX)
    assert res.status_code == 404
    res = client.post(reverse("annotation:skip", args=[a.pk]), **HX)
    assert res.status_code == 404
    assert not Judgment.objects.exists()


def test_skip_moves_on_and_never_offers_the_item_again(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(reverse("annotation:skip", args=[a.pk]), **HX)
    assert res.status_code == 200
    html = res.content.decode()
    assert "Skipped item" in html and "Question 1?" in html
    a.refresh_from_db()
    assert a.state == AssignmentState.SKIPPED


def test_without_htmx_submit_redirects_back_to_review(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(reverse("annotation:submit", args=[a.pk]), scores_post(decision="accept"))
    assert res.status_code == 302 and res.url == reverse("annotation:review", args=[project.pk])


def test_empty_queue_says_nothing_left(annotator_client, project, users):
    make_items(project, users["lead"], 1)
    url = reverse("annotation:review", args=[project.pk])
    annotator_client.get(url)
    a = current_assignment(users["annotator"])
    res = annotator_client.post(
        reverse("annotation:submit", args=[a.pk]), scores_post(decision="accept"), **HX
    )
    html = res.content.decode()
    assert "Nothing left to review" in html and "reviewed 1 of 1" in html
    res = annotator_client.get(url)
    assert res.status_code == 200 and "Nothing left to review" in res.content.decode()


def test_review_never_shows_other_annotators_answers(client, project, users):
    make_items(project, users["lead"], 1)
    client.force_login(users["annotator2"])
    client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator2"])
    client.post(
        reverse("annotation:submit", args=[a.pk]),
        scores_post(decision="edit", edited_text="SECRET GOLD TEXT", comment="SECRET COMMENT"),
    )
    client.force_login(users["annotator"])
    html = client.get(reverse("annotation:review", args=[project.pk])).content.decode()
    assert "Question 0?" in html
    assert "SECRET" not in html


# --- lead pages --------------------------------------------------------------------------------


def test_dashboard_shows_states_annotators_and_throughput(client, project, items, users):
    client.force_login(users["annotator"])
    client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    client.post(reverse("annotation:submit", args=[a.pk]), scores_post(decision="accept"), **HX)
    client.force_login(users["lead"])
    res = client.get(reverse("annotation:dashboard", args=[project.pk]))
    assert res.status_code == 200
    html = res.content.decode()
    throughput = chart_spec(html, "chart-throughput")  # the bar chart drawn from the same figures
    assert throughput["kind"] == "bar" and 'id="throughput"' in html
    assert throughput["series"][0]["values"] == [r["count"] for r in res.context["throughput"]]
    assert sum(throughput["series"][0]["values"]) == 1
    assert "annotator1" in html
    assert "12.5" in html  # time per item
    ctx = res.context
    assert ctx["progress"]["items_total"] == 5
    assert sum(r["count"] for r in ctx["throughput"]) == 1
    assert ctx["annotators"][0]["submitted"] == 1


def test_members_page_add_change_remove(lead_client, project, users):
    url = reverse("annotation:members", args=[project.pk])
    res = lead_client.get(url)
    assert res.status_code == 200 and "annotator2" in res.content.decode()
    res = lead_client.post(url, {"username": "outsider", "role": "annotator"}, **HX)
    assert res.status_code == 200 and "outsider is now annotator" in res.content.decode()
    assert project.memberships.filter(user=users["outsider"], role="annotator").exists()
    res = lead_client.post(url, {"username": "outsider", "role": "lead"}, **HX)
    assert project.memberships.get(user=users["outsider"]).role == "lead"
    # a lead may not grant admin: the service's message is shown inline
    res = lead_client.post(url, {"username": "annotator2", "role": "admin"}, **HX)
    assert res.status_code == 403 and "Only a project admin" in res.content.decode()
    res = lead_client.post(url, {"username": "nobody-here", "role": "annotator"}, **HX)
    assert res.status_code == 404 and "No user named" in res.content.decode()
    res = lead_client.post(
        reverse("annotation:member-remove", args=[project.pk]), {"username": "outsider"}, **HX
    )
    assert res.status_code == 200 and not project.memberships.filter(user=users["outsider"]).exists()


def test_rubric_page_lists_versions_and_creates_a_new_one(client, project, items, users):
    # lock v1 by using it
    client.force_login(users["annotator"])
    client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    client.post(reverse("annotation:submit", args=[a.pk]), scores_post(decision="accept"), **HX)
    client.force_login(users["lead"])
    url = reverse("annotation:rubric", args=[project.pk])
    html = client.get(url).content.decode()
    assert "v1" in html and "locked (used)" in html and "helpfulness" in html
    criteria = [{"key": "clarity", "type": "likert", "instructions": "Is it clear?"}]
    res = client.post(
        url, {"criteria": json.dumps(criteria), "instructions": "New", "changelog": "clarity only"}, **HX
    )
    assert res.status_code == 200 and "Created version 2" in res.content.decode()
    assert project.current_rubric_version().number == 2
    res = client.post(url, {"criteria": "[{not json"}, **HX)
    assert res.status_code == 400 and "Not valid JSON" in res.content.decode()
    res = client.post(url, {"criteria": json.dumps([{"key": "Bad Key"}])}, **HX)
    assert res.status_code == 400 and "lowercase letters" in res.content.decode()
    assert project.current_rubric_version().number == 2


def upload(name, text):
    f = io.BytesIO(text.encode())
    f.name = name
    return f


def test_import_success_shows_counts(lead_client, project):
    lines = (
        "\n".join(json.dumps({"q": f"Q{i}", "a": f"A{i}"}) for i in range(3))
        + "\n"
        + json.dumps({"q": "Q0", "a": "A0"})
    )
    res = lead_client.post(
        reverse("annotation:import", args=[project.pk]),
        {"file": upload("items.jsonl", lines), "kind": "sft", "mapping": "prompt=q\nresponse=a"},
        **HX,
    )
    assert res.status_code == 200
    html = res.content.decode()
    assert "3 created, 1 duplicate skipped" in html
    assert Item.objects.filter(project=project).count() == 3


def test_import_failure_lists_errors_and_writes_nothing(lead_client, project):
    text = "prompt,response\nHello,Hi\n,missing prompt\nok,\n"
    res = lead_client.post(
        reverse("annotation:import", args=[project.pk]),
        {"file": upload("items.csv", text), "kind": "sft"},
        **HX,
    )
    assert res.status_code == 400
    html = res.content.decode()
    assert "Nothing was imported" in html
    assert "<td>3</td>" in html and "<td>4</td>" in html  # line numbers
    assert Item.objects.filter(project=project).count() == 0


def test_import_bad_mapping_line(lead_client, project):
    res = lead_client.post(
        reverse("annotation:import", args=[project.pk]),
        {"file": upload("x.jsonl", '{"prompt": "a", "response": "b"}'), "kind": "sft", "mapping": "nonsense"},
        **HX,
    )
    assert res.status_code == 400 and "write `ours=theirs`" in res.content.decode()
    assert Item.objects.count() == 0


def test_audit_page_lists_events(lead_client, project):
    res = lead_client.get(reverse("annotation:audit", args=[project.pk]))
    assert res.status_code == 200
    html = res.content.decode()
    assert "member.added" in html and "rubric.version_created" in html and "admin1" in html


def test_settings_page_updates_project_and_shows_errors(lead_client, project):
    url = reverse("annotation:settings", args=[project.pk])
    form = lead_client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(overlap=3, lease_minutes=15, require_rationale="")
    data.pop("require_rationale")
    res = lead_client.post(url, data, **HX)
    assert res.status_code == 200 and "Saved" in res.content.decode()
    project.refresh_from_db()
    assert project.overlap == 3 and project.lease_minutes == 15
    res = lead_client.post(url, {**data, "overlap": 0}, **HX)
    assert res.status_code == 400
    project.refresh_from_db()
    assert project.overlap == 3


def test_project_list_shows_only_my_projects_with_role(client, project, users):
    from annotation.projects import services as project_services

    project_services.create_project(name="Secret project", created_by=users["outsider"])
    client.force_login(users["annotator"])
    html = client.get(reverse("annotation:project-list")).content.decode()
    assert "Demo" in html and "Secret project" not in html and "annotator" in html


def test_without_htmx_errors_render_the_full_page_and_skip_redirects(annotator_client, project, items, users):
    annotator_client.get(reverse("annotation:review", args=[project.pk]))
    a = current_assignment(users["annotator"])
    res = annotator_client.post(reverse("annotation:submit", args=[a.pk]), {"decision": "accept"})
    assert res.status_code == 400
    html = res.content.decode()
    assert "<html" in html and "This criterion is required." in html and "Question 0?" in html
    res = annotator_client.post(reverse("annotation:skip", args=[a.pk]))
    assert res.status_code == 302
    res = annotator_client.get(res.url)
    assert "Skipped item" in res.content.decode() and "Question 1?" in res.content.decode()


def test_counter_counts_items_someone_else_judged_first(client, users, project, items):
    """Another annotator's submit on an item the caller holds must not drop it from the caller's "left"."""
    import re

    from annotation.queue import services as queue_services
    from tests.conftest import GOOD_SCORES

    a1, a2 = users["annotator"], users["annotator2"]
    while (a := queue_services.next_assignment(project=project, user=a2)) is not None:
        queue_services.submit_judgment(assignment=a, user=a2, decision="accept", scores=GOOD_SCORES)
    client.force_login(a1)
    seen = []
    for _ in range(len(items)):
        html = client.get(reverse("annotation:review", args=[project.pk])).content.decode()
        seen.append(re.search(r'id="progress"[^>]*>([^<]*)<', html).group(1))
        a = queue_services.next_assignment(project=project, user=a1)
        queue_services.submit_judgment(assignment=a, user=a1, decision="accept", scores=GOOD_SCORES)
    assert seen == [f"{n} done · {len(items) - n} left" for n in range(len(items))]


def test_audit_page_is_paged_and_filtered_by_kind(lead_client, project, users):
    from annotation.core import audit
    from annotation.projects.views import AUDIT_PER_PAGE

    for i in range(AUDIT_PER_PAGE + 5):
        audit.record(actor=users["lead"], project=project, verb="item.priority_changed", obj=project, n=i)
    url = reverse("annotation:audit", args=[project.pk])
    first = lead_client.get(url).content.decode()
    assert first.count("<tr><td>") == AUDIT_PER_PAGE and 'href="?after=' in first
    only_items = lead_client.get(url, {"verb": "item"}).content.decode()
    assert "rubric.version_created" not in only_items and "item.priority_changed" in only_items
    assert 'href="?verb=item&amp;after=' in only_items
    rubric = lead_client.get(url, {"verb": "rubric"}).content.decode()
    assert "rubric.version_created" in rubric and "item.priority_changed" not in rubric
    assert '<option value="rubric" selected>' in rubric
