"""The annotator's "My work" page: the pure figures, the page (own numbers only), the task counter
and the gentle note after a rushed submit."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from annotation.models import Item, ItemState
from annotation.projects import services as project_services
from annotation.quality import adjudication
from annotation.quality.mywork import MyJudgment, figures, median_seconds, per_day
from annotation.queue import lifecycle
from annotation.queue import services as queue_services
from tests.chart_specs import chart_specs
from tests.conftest import GOOD_SCORES, make_items

HX = {"HTTP_HX_REQUEST": "true"}


def mj(item, when, seconds=10.0, *, rushed=False, label="accept", final=None, gold=None):
    return MyJudgment(
        item=item,
        created_at=when,
        duration_seconds=seconds,
        rushed=rushed,
        label=label,
        final_label=final,
        gold_label=gold,
    )


# --- the pure figures ------------------------------------------------------------------------


def test_per_day_buckets_by_the_given_time_zone_and_fills_quiet_days():
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 18:30 in New York, same day
    early = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 22:00 on 1 March in New York
    later = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert per_day([late, early, later], UTC) == [
        (date(2026, 3, 1), 1),
        (date(2026, 3, 2), 1),
        (date(2026, 3, 3), 0),
        (date(2026, 3, 4), 1),
    ]
    assert per_day([late, early, later], ZoneInfo("America/New_York")) == [
        (date(2026, 3, 1), 2),
        (date(2026, 3, 2), 0),
        (date(2026, 3, 3), 0),
        (date(2026, 3, 4), 1),
    ]
    assert per_day([], UTC) == []


def test_median_leaves_out_judgments_without_a_time():
    assert median_seconds([4.0, None, 30.0, 20.0]) == 20.0
    assert median_seconds([4.0, 7.0]) == 5.5
    assert median_seconds([None]) is None and median_seconds([]) is None


def test_agreement_counts_non_gold_items_with_a_final_answer():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        mj(1, t, label="accept", final="accept"),
        mj(2, t, label="accept", final="reject"),
        mj(3, t, label="reject", final="reject"),
        mj(4, t, label="accept"),  # no final answer yet: left out
        mj(5, t, label="accept", final="reject", gold="accept"),  # gold: not in agreement
    ]
    out = figures(rows, tz=UTC, show_gold=True)
    assert out["agreement"] == {"share": round(2 / 3, 4), "matches": 2, "total": 3}
    assert out["gold"] == {"share": 1.0, "matches": 1, "total": 1}
    assert out["judgments"] == 5


def test_gold_accuracy_only_when_the_lead_turns_feedback_on():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [mj(1, t, label="accept", gold="reject"), mj(2, t, label="reject", gold="reject")]
    assert figures(rows, tz=UTC, show_gold=False)["gold"] is None
    assert figures(rows, tz=UTC, show_gold=True)["gold"] == {"share": 0.5, "matches": 1, "total": 2}
    assert figures([], tz=UTC, show_gold=True)["gold"] == {"share": None, "matches": 0, "total": 0}


def test_rushed_judgments_are_counted_newest_first():
    rows = [
        mj(1, datetime(2026, 3, 1, 9, tzinfo=UTC), 3.0, rushed=True),
        mj(2, datetime(2026, 3, 1, 10, tzinfo=UTC), 30.0),
        mj(3, datetime(2026, 3, 1, 11, tzinfo=UTC), 2.0, rushed=True),
    ]
    out = figures(rows, tz=UTC, show_gold=False)
    assert out["rushed"] == 2 and [j.item for j in out["recent_rushed"]] == [3, 1]
    assert out["median_seconds"] == 3.0


# --- the page --------------------------------------------------------------------------------


def judge_all(project, user, decide, seconds):
    """Judge every item the queue offers `user`: decide(item) -> decision, seconds(item) -> time."""
    while True:
        a = queue_services.next_assignment(project=project, user=user)
        if a is None:
            return
        queue_services.submit_judgment(
            assignment=a,
            user=user,
            decision=decide(a.item),
            scores=GOOD_SCORES,
            duration_seconds=seconds(a.item),
        )


@pytest.fixture
def worked(project, users):
    """Three items: annotator1 accepts 0 (4 s, rushed) and 1 (20 s), rejects 2 (30 s); annotator2
    accepts all (100 s, 200 s, 300 s). Item 0 approved as accept, item 1 as reject; item 2 is gold
    (reject)."""
    project_services.update_project(project=project, actor=users["admin"], min_seconds_per_item=10)
    make_items(project, users["lead"], 3)
    items = list(Item.objects.filter(project=project).order_by("id"))
    index = {item.pk: i for i, item in enumerate(items)}
    judge_all(
        project,
        users["annotator"],
        lambda item: "reject" if index[item.pk] == 2 else "accept",
        lambda item: [4.0, 20.0, 30.0][index[item.pk]],
    )
    judge_all(project, users["annotator2"], lambda item: "accept", lambda item: 100.0 * (index[item.pk] + 1))
    lifecycle.resolve(items[0], ItemState.APPROVED, {"decision": "accept", "text": "", "scores": {}})
    lifecycle.resolve(items[1], ItemState.APPROVED, {"decision": "reject", "text": "", "scores": {}})
    adjudication.set_gold(item=items[2], actor=users["lead"], answer={"decision": "reject"})
    return project


def my_page(client, user, project):
    client.force_login(user)
    return client.get(reverse("annotation:my-work", args=[project.pk]))


@pytest.mark.django_db
def test_my_work_shows_the_callers_own_numbers(client, users, worked, django_assert_max_num_queries):
    client.force_login(users["annotator"])
    with django_assert_max_num_queries(6):
        response = client.get(reverse("annotation:my-work", args=[worked.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="stat-num" id="my-judgments">3</span>' in html
    assert '<span class="stat-num" id="my-median">20.0 s</span>' in html
    assert '<span class="stat-num" id="my-agreement">50%</span>' in html and "(1 of 2)" in html
    assert '<span class="stat-num" id="my-rushed">1</span>' in html
    assert 'id="my-gold"' not in html  # gold feedback is off by default
    assert 'id="my-rushed-list"' in html and "4.0 s" in html
    spec = chart_specs(html)["chart-my-days"]
    assert spec["kind"] == "bar" and spec["y"]["integer"] is True
    assert [d["values"] for d in spec["series"]] == [[3.0]] and len(spec["labels"]) == 1
    assert "My work</a>" in html  # in the annotator's navigation
    # annotator2's numbers (median 200 s, nothing rushed) are not on annotator1's page
    assert "200.0 s" not in html


@pytest.mark.django_db
def test_another_annotator_sees_only_their_own(client, users, worked):
    html = my_page(client, users["annotator2"], worked).content.decode()
    assert '<span class="stat-num" id="my-median">200.0 s</span>' in html
    assert '<span class="stat-num" id="my-agreement">50%</span>' in html
    assert '<span class="stat-num" id="my-rushed">0</span>' in html and 'id="my-rushed-list"' not in html
    assert "20.0 s" not in html and "4.0 s" not in html


@pytest.mark.django_db
def test_gold_accuracy_appears_when_the_lead_turns_it_on(client, users, worked):
    project_services.update_project(project=worked, actor=users["lead"], show_gold_feedback=True)
    html = my_page(client, users["annotator"], worked).content.decode()
    assert '<span class="stat-num" id="my-gold">100%</span>' in html
    html = my_page(client, users["annotator2"], worked).content.decode()
    assert '<span class="stat-num" id="my-gold">0%</span>' in html and "(0 of 1)" in html


@pytest.mark.django_db
def test_a_final_answer_from_the_callers_judgment_alone_is_not_agreement(client, users, project):
    """Routing can approve an item from the caller's judgment alone (overlap 1 or a lone judge): that
    says nothing about agreement. A lead's adjudication always counts."""
    make_items(project, users["lead"], 2)
    judge_all(project, users["annotator"], lambda item: "accept", lambda item: 12.0)
    alone, adjudicated = Item.objects.filter(project=project).order_by("id")
    lifecycle.resolve(alone, ItemState.APPROVED, {"decision": "accept", "text": "", "scores": {}})
    final = {"source": "adjudication", "adjudication": 1, "decision": "reject", "text": "", "scores": {}}
    lifecycle.resolve(adjudicated, ItemState.APPROVED, final)
    html = my_page(client, users["annotator"], project).content.decode()
    assert '<span class="stat-num" id="my-agreement">0%</span>' in html and "(0 of 1)" in html


@pytest.mark.django_db
def test_my_work_for_outsiders_is_404_and_anonymous_must_log_in(client, users, worked):
    assert my_page(client, users["outsider"], worked).status_code == 404
    client.logout()
    response = client.get(reverse("annotation:my-work", args=[worked.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.django_db
def test_my_work_before_any_judgment(client, users, project):
    html = my_page(client, users["annotator"], project).content.decode()
    assert '<span class="stat-num" id="my-judgments">0</span>' in html and "No judgments yet" in html


@pytest.mark.django_db
def test_show_gold_feedback_is_a_project_setting(client, users, project):
    assert project.show_gold_feedback is False
    client.force_login(users["lead"])
    body = client.get(f"/api/projects/{project.pk}/").json()
    assert body["show_gold_feedback"] is False
    response = client.patch(
        f"/api/projects/{project.pk}/", {"show_gold_feedback": True}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    assert project.show_gold_feedback is True
    html = client.get(reverse("annotation:settings", args=[project.pk])).content.decode()
    assert 'name="show_gold_feedback"' in html


# --- the task page: counter and the rushed note ----------------------------------------------


@pytest.mark.django_db
def test_counter_reads_done_and_left(client, users, project):
    make_items(project, users["lead"], 4)
    client.force_login(users["annotator"])
    html = client.get(reverse("annotation:review", args=[project.pk])).content.decode()
    assert '<h1 id="progress" tabindex="-1">0 done · 4 left</h1>' in html


def review_submit(client, project, users, seconds, **extra):
    client.get(reverse("annotation:review", args=[project.pk]))
    a = queue_services.next_assignment(project=project, user=users["annotator"])
    data = {"decision": "accept", "score_helpfulness": "4", "score_safe": "yes"}
    data["duration_seconds"] = str(seconds)
    return client.post(reverse("annotation:submit", args=[a.pk]), data, **extra)


@pytest.mark.django_db
def test_a_rushed_submit_brings_a_gentle_note_on_the_next_task(client, users, project):
    project_services.update_project(project=project, actor=users["admin"], min_seconds_per_item=10)
    make_items(project, users["lead"], 4)
    client.force_login(users["annotator"])
    html = review_submit(client, project, users, 4, **HX).content.decode()
    assert "That one took 4 s; the project asks for at least 10 s per item." in html
    assert 'id="rushed-note"' in html and "1 done · 3 left" in html
    html = review_submit(client, project, users, 12.5, **HX).content.decode()
    assert 'id="rushed-note"' not in html and "That one took" not in html
    # a plain form post: the note comes as a message on the page it is redirected to
    response = review_submit(client, project, users, 2.5, follow=True)
    assert "That one took 2.5 s; the project asks for at least 10 s per item." in response.content.decode()


@pytest.mark.django_db
def test_no_note_when_the_project_sets_no_minimum(client, users, project):
    make_items(project, users["lead"], 2)
    client.force_login(users["annotator"])
    html = review_submit(client, project, users, 1, **HX).content.decode()
    assert 'id="rushed-note"' not in html


@pytest.mark.django_db
def test_no_rushed_figure_without_a_project_minimum(client, users, project):
    """A project with no minimum time per item has no "rushed" (the page said "faster than 0 s")."""
    project_services.update_project(project=project, actor=users["admin"], min_seconds_per_item=0)
    make_items(project, users["lead"], 1)
    html = my_page(client, users["annotator"], project).content.decode()
    assert 'id="my-judgments"' in html and 'id="my-rushed"' not in html and "faster than 0 s" not in html
