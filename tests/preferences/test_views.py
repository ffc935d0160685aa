"""The preference pages over htmx: comparison (blind, display order, inline errors, skip), curated
pairs (roles, filters, approve / exclude / edit, recompute) and the leaderboard."""

import re

import pytest
from django.urls import reverse

from annotation.models import Assignment, Judgment, Response
from preferences.models import PairStatus, PreferencePair
from preferences.services import recompute_consensus
from tests.chart_specs import chart_spec
from tests.preferences.factories import judge, make_cmp_project, make_comparisons, response_model

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def cmp(users):
    p = make_cmp_project(users)
    make_comparisons(p, users["lead"], 3)
    return p


def login(client, users, who):
    client.force_login(users[who])
    return client


def compare_url(p):
    return reverse("preferences:compare", args=[p.pk])


def current_assignment(user):
    return Assignment.objects.filter(annotator=user, state="leased").latest("id")


# --- comparison page ----------------------------------------------------------------------------


def test_compare_page_shows_responses_in_display_order_without_model_names(client, users, cmp):
    login(client, users, "annotator")
    response = client.get(compare_url(cmp))
    assert response.status_code == 200
    html = response.content.decode()
    assignment = current_assignment(users["annotator"])
    texts = [Response.objects.get(pk=rid).text for rid in assignment.display_order]
    a, b = html.index(f"{texts[0]}"), html.index(f"{texts[1]}")
    assert a < b  # A is the first response of the stored display order
    assert re.search(r'id="response-A"[^>]*>\s*' + re.escape(texts[0]), html)
    assert re.search(r'id="response-B"[^>]*>\s*' + re.escape(texts[1]), html)
    assert "model-a" not in html and "model-b" not in html  # blind
    assert 'name="choice"' in html and 'name="strength"' in html
    assert "0 done · 3 left" in html


def test_compare_page_escapes_response_text_and_keeps_whitespace(client, users):
    import json

    from annotation.importing import services as import_services
    from annotation.importing.parse import parse_items

    p = make_cmp_project(users)
    evil = "<script>alert(1)</script>\n    indented"
    line = json.dumps({"prompt": "<b>hi</b>", "responses": [{"text": evil, "model": "x"}, {"text": "ok"}]})
    import_services.import_items(
        project=p, actor=users["lead"], records=parse_items(line, kind="comparison").records
    )
    html = login(client, users, "annotator").get(compare_url(p)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\n    indented" in html
    assert "&lt;b&gt;hi&lt;/b&gt;" in html


def test_submit_maps_slot_a_to_the_response_shown_first(client, users, cmp):
    login(client, users, "annotator")
    client.get(compare_url(cmp))
    assignment = current_assignment(users["annotator"])
    url = reverse("preferences:compare-submit", args=[assignment.pk])
    response = client.post(
        url,
        {
            "choice": "A",
            "strength": "3",
            "criterion_helpfulness": "B",
            "criterion_honesty": "tie",
            "harmful": ["B"],
            "improved_text": "A better answer.",
            "comment": "A is right",
            "duration_seconds": "12.5",
        },
        **HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Saved comparison" in html and "1 done · 2 left" in html
    judgment = Judgment.objects.get(assignment=assignment)
    shown_a, shown_b = assignment.display_order
    assert judgment.payload["winner"] == shown_a
    assert judgment.payload["ranking"] == [[shown_a], [shown_b]]
    assert judgment.payload["strength"] == 3
    assert judgment.payload["criteria"]["helpfulness"]["winner"] == shown_b
    assert judgment.payload["criteria"]["honesty"]["outcome"] == "tie"
    assert judgment.payload["harmful"] == [shown_b]
    assert judgment.payload["improved_text"] == "A better answer."
    assert judgment.comment == "A is right" and judgment.duration_seconds == 12.5


def test_submit_errors_come_back_inline_and_keep_the_answers(client, users, cmp):
    login(client, users, "annotator")
    client.get(compare_url(cmp))
    assignment = current_assignment(users["annotator"])
    url = reverse("preferences:compare-submit", args=[assignment.pk])
    response = client.post(url, {"choice": "B", "comment": "kept"}, **HX)  # strength missing
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not saved." in html and "Say how much better" in html
    assert re.search(r'value="B" checked', html)
    assert "kept" in html
    assert not Judgment.objects.exists()
    response = client.post(url, {}, **HX)
    assert response.status_code == 400 and "Choose A, B, tie or both bad." in response.content.decode()


def test_rationale_required_error_is_inline(client, users):
    p = make_cmp_project(users, require_rationale=True, name="Strict")
    make_comparisons(p, users["lead"], 1)
    login(client, users, "annotator")
    html = client.get(compare_url(p)).content.decode()
    assert 'title="required"' in html
    assignment = current_assignment(users["annotator"])
    url = reverse("preferences:compare-submit", args=[assignment.pk])
    response = client.post(url, {"choice": "tie"}, **HX)
    assert response.status_code == 400
    assert "This project requires a rationale." in response.content.decode()
    response = client.post(url, {"choice": "tie", "comment": "equal"}, **HX)
    assert response.status_code == 200 and "No comparisons left" in response.content.decode()


def test_nway_ranking_page_and_submit(client, users):
    p = make_cmp_project(users)
    make_comparisons(p, users["lead"], 1, models=("m1", "m2", "m3"))
    login(client, users, "annotator")
    html = client.get(compare_url(p)).content.decode()
    assert 'data-mode="rank"' in html and 'name="ranking"' in html and 'name="choice"' not in html
    assert 'data-slots="ABC"' in html
    assignment = current_assignment(users["annotator"])
    url = reverse("preferences:compare-submit", args=[assignment.pk])
    response = client.post(url, {"ranking": "C>A", "comment": "x"}, **HX)
    assert response.status_code == 400 and "Rank every response exactly once" in response.content.decode()
    response = client.post(url, {"ranking": "C>A=B", "criterion_helpfulness": "A>B>C"}, **HX)
    assert response.status_code == 200
    order = assignment.display_order
    payload = Judgment.objects.get(assignment=assignment).payload
    assert [sorted(g) for g in payload["ranking"]] == [[order[2]], sorted([order[0], order[1]])]
    assert payload["criteria"]["helpfulness"]["ranking"] == [[order[0]], [order[1]], [order[2]]]


def test_skip_loads_the_next_comparison(client, users, cmp):
    login(client, users, "annotator")
    client.get(compare_url(cmp))
    first = current_assignment(users["annotator"])
    response = client.post(reverse("preferences:compare-skip", args=[first.pk]), **HX)
    assert response.status_code == 200
    assert f"Skipped comparison #{first.item_id}" in response.content.decode()
    first.refresh_from_db()
    assert first.state == "skipped"
    assert current_assignment(users["annotator"]).item_id != first.item_id


def test_someone_elses_assignment_is_not_found(client, users, cmp):
    login(client, users, "annotator")
    client.get(compare_url(cmp))
    assignment = current_assignment(users["annotator"])
    login(client, users, "annotator2")
    response = client.post(reverse("preferences:compare-submit", args=[assignment.pk]), {"choice": "A"}, **HX)
    assert response.status_code == 404
    assert not Judgment.objects.exists()


def test_a_comparison_is_not_submitted_or_skipped_through_the_sft_review_urls(client, users, cmp):
    """Each task page only takes its own kind: the SFT form would be validated as the wrong thing."""
    login(client, users, "annotator")
    client.get(compare_url(cmp))
    assignment = current_assignment(users["annotator"])
    for name in ("annotation:submit", "annotation:skip"):
        response = client.post(reverse(name, args=[assignment.pk]), {"decision": "accept"}, **HX)
        assert response.status_code == 404, name
        assert "No such item" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.state == "leased" and not Judgment.objects.exists()


@pytest.mark.parametrize("who,status", [("outsider", 404), ("annotator", 200), ("lead", 200), ("admin", 200)])
def test_compare_page_roles(client, users, cmp, who, status):
    assert login(client, users, who).get(compare_url(cmp)).status_code == status


def test_compare_page_needs_login(client, cmp):
    response = client.get(compare_url(cmp))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- curated pairs --------------------------------------------------------------------------------


@pytest.fixture
def judged(users, cmp):
    """Both annotators prefer model-a on every comparison; consensus computed."""
    for _ in range(3):
        judge(cmp, users["annotator"], prefer="model-a")
        judge(cmp, users["annotator2"], prefer="model-a")
    recompute_consensus(project=cmp, actor=users["lead"])
    return cmp


@pytest.mark.parametrize("who,status", [("outsider", 404), ("annotator", 403), ("lead", 200), ("admin", 200)])
def test_pairs_and_leaderboard_roles(client, users, judged, who, status):
    login(client, users, who)
    assert client.get(reverse("preferences:pairs", args=[judged.pk])).status_code == status
    assert client.get(reverse("preferences:leaderboard", args=[judged.pk])).status_code == status
    response = client.post(reverse("preferences:recompute", args=[judged.pk]), {"rule": "majority"}, **HX)
    assert response.status_code == status
    pair = PreferencePair.objects.first()
    response = client.post(reverse("preferences:pair-update", args=[pair.pk]), {"status": "approved"}, **HX)
    assert response.status_code == status
    pair.refresh_from_db()
    assert (pair.status == PairStatus.APPROVED) == (status == 200)


def test_pairs_page_lists_pairs_with_filters(client, users, judged):
    login(client, users, "lead")
    url = reverse("preferences:pairs", args=[judged.pk])
    html = client.get(url).content.decode()
    assert html.count('class="pair-row') == 3
    assert "3 pairs: 3 candidate" in html
    assert "Compare question 0?" in html and "Answer 0 variant 0." in html
    assert 'id="train-dpo"' in html and "Train DPO</button>" in html  # the training app's button
    assert client.get(url, {"min_confidence": "1.01"}).status_code == 200  # invalid filter: ignored
    html = client.get(url, {"status": "approved"}, **HX).content.decode()
    assert "No pairs match" in html
    html = client.get(
        url, {"model": "model-a", "criterion": "overall", "rubric_version": "1"}
    ).content.decode()
    assert html.count('class="pair-row') == 3
    html = client.get(url, {"model": "nobody"}).content.decode()
    assert "No pairs match" in html


def test_pair_approve_exclude_and_edit_inline(client, users, judged):
    login(client, users, "lead")
    pair = PreferencePair.objects.order_by("id").first()
    url = reverse("preferences:pair-update", args=[pair.pk])
    response = client.post(url, {"status": "excluded"}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith("<tr") and "status-excluded" in html
    response = client.post(url, {"status": "approved", "chosen_text": "<i>Edited</i> answer."}, **HX)
    assert response.status_code == 200
    assert "&lt;i&gt;Edited&lt;/i&gt; answer." in response.content.decode()
    pair.refresh_from_db()
    assert pair.status == "approved" and pair.chosen_text == "<i>Edited</i> answer."
    assert pair.decided_by == users["lead"]
    response = client.post(url, {"status": "bogus"}, **HX)
    assert response.status_code == 400 and "field-error" in response.content.decode()


def test_recompute_button_reports_counts(client, users, cmp):
    for _ in range(3):
        judge(cmp, users["annotator"], prefer="model-a")
    login(client, users, "lead")
    response = client.post(reverse("preferences:recompute", args=[cmp.pk]), {"rule": "weighted"}, **HX)
    assert response.status_code == 200
    assert "Consensus recomputed (weighted): 3 comparisons, 3 pairs" in response.content.decode()
    response = client.post(reverse("preferences:recompute", args=[cmp.pk]), {"rule": "nope"}, **HX)
    assert response.status_code == 400
    # a split vote (one each way) is below a 0.6 minimum confidence: no pair from it
    judge(cmp, users["annotator2"], prefer="model-b")
    url = reverse("preferences:recompute", args=[cmp.pk])
    response = client.post(url, {"rule": "majority", "min_confidence": "0.6"}, **HX)
    assert response.status_code == 200 and "3 comparisons, 2 pairs" in response.content.decode()
    from preferences.models import Consensus

    assert Consensus.objects.filter(rule="majority").first().params["min_confidence"] == 0.6
    assert client.post(url, {"rule": "majority", "min_confidence": "2"}, **HX).status_code == 400


def test_a_queued_recompute_returns_at_once_with_a_progress_bar_that_polls_until_done(
    client, users, cmp, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from annotation.models import Recompute
    from preferences import tasks

    for _ in range(2):
        judge(cmp, users["annotator"], prefer="model-a")
    settings.TUNELOOP_ASYNC_AGREEMENT = True  # a worker is configured: the request only queues
    queued = []
    monkeypatch.setattr(tasks.recompute_consensus, "delay", lambda *args: queued.append(args))
    login(client, users, "lead")
    with django_capture_on_commit_callbacks(execute=True):
        html = client.post(reverse("preferences:recompute", args=[cmp.pk]), {"rule": "majority"}, **HX)
    rec = Recompute.objects.get()
    progress = reverse("annotation:recompute-progress", args=[rec.pk])
    assert "in the background" in html.content.decode() and queued == [(rec.pk,)]
    assert f'hx-get="{progress}"' in html.content.decode() and rec.state == "queued"
    tasks.recompute_consensus(rec.pk)  # the worker's side
    done = client.get(progress, **HX).content.decode()
    assert 'id="recompute-state">done<' in done and "hx-get" not in done and 'value="100"' in done
    assert "in the background" not in done  # the words went with the state they described
    client.force_login(users["annotator"])
    assert client.get(progress, **HX).status_code == 403


# --- leaderboard --------------------------------------------------------------------------------


def test_leaderboard_page(client, users, judged):
    login(client, users, "lead")
    url = reverse("preferences:leaderboard", args=[judged.pk])
    html = client.get(url).content.decode()
    strength = chart_spec(html, "chart-strength")  # a point and an interval per model, best first
    assert strength["kind"] == "interval" and [r["label"] for r in strength["rows"]] == ["model-a", "model-b"]
    assert all(r["low"] <= r["estimate"] <= r["high"] for r in strength["rows"])
    assert html.index(">model-a<") < html.index(">model-b<")  # the stronger model first
    matrix = chart_spec(html, "chart-win-matrix")
    assert {(c["row"], c["column"]): c["value"] for c in matrix["cells"]}[("model-a", "model-b")] == 1.0
    assert 'id="win-matrix"' in html and "100%" in html
    assert 'id="position-bias"' in html and "annotator1" in html
    html = client.get(url, {"baseline": "model-b"}, **HX).content.decode()
    assert "Win rate vs model-b" in html


def test_leaderboard_fit_is_reused_between_judgments_and_redone_after_one(
    users, cmp, monkeypatch, django_capture_on_commit_callbacks
):
    from preferences import consensus, selectors

    fits = []
    real = consensus.bt_from_counts
    monkeypatch.setattr(consensus, "bt_from_counts", lambda *a, **k: fits.append(1) or real(*a, **k))
    with django_capture_on_commit_callbacks(execute=True):  # the judgment version moves on commit
        judge(cmp, users["annotator"], prefer="model-a")
    first = selectors.leaderboard(cmp)
    assert selectors.leaderboard(cmp) == first and len(fits) == 1  # a page view reuses the fit
    assert selectors.leaderboard(cmp, baseline="model-b")["baseline"] == "model-b" and len(fits) == 2
    with django_capture_on_commit_callbacks(execute=True):
        judge(cmp, users["annotator2"], prefer="model-b")
    second = selectors.leaderboard(cmp)
    assert len(fits) == 3 and second["n_outcomes"] == first["n_outcomes"] + 1


def test_leaderboard_empty(client, users, cmp):
    html = login(client, users, "lead").get(reverse("preferences:leaderboard", args=[cmp.pk])).content
    assert b'id="leaderboard-empty"' in html


def test_nav_links(client, users, cmp):
    html = login(client, users, "annotator").get(compare_url(cmp)).content.decode()
    assert reverse("preferences:compare", args=[cmp.pk]) in html
    assert reverse("preferences:pairs", args=[cmp.pk]) not in html
    html = login(client, users, "lead").get(compare_url(cmp)).content.decode()
    assert reverse("preferences:pairs", args=[cmp.pk]) in html
    assert reverse("preferences:leaderboard", args=[cmp.pk]) in html


def test_response_model_helper(users, cmp):
    assignment = judge(cmp, users["annotator"], prefer="model-b")[0]
    assert {response_model(r) for r in assignment.display_order} == {"model-a", "model-b"}


def test_position_bias_counts_n_way_rankings_by_their_top_slot(users):
    """An annotator who always ranks the first shown of three responses best is a positional pick."""
    from preferences import selectors
    from tests.preferences.factories import make_cmp_project

    p = make_cmp_project(users, overlap=1, name="Three-way")
    make_comparisons(p, users["lead"], 4, models=("m1", "m2", "m3"))
    for _ in range(4):
        judge(p, users["annotator"], payload={"ranking": "A>B>C"})
    bias = selectors.leaderboard(p)["position_bias"]
    mine = bias["per_annotator"]["annotator1"]
    assert mine["n_decided"] == 4 and mine["shares"][0] == 1.0 and len(mine["shares"]) == 3


def test_pairs_that_follow_an_adjudication_are_marked(client, users, judged):
    from annotation.models import Item
    from annotation.quality import adjudication

    item = Item.objects.filter(project=judged, kind="comparison").order_by("id").first()
    loser = item.responses.get(model_name="model-b")
    adjudication.adjudicate(
        item=item, lead=users["lead"], decision="override", final={"winner": loser.pk}, reason="B.",
        category="annotator_error",
    )  # fmt: skip
    login(client, users, "lead")
    response = client.post(reverse("preferences:recompute", args=[judged.pk]), {"rule": "majority"}, **HX)
    assert "1 follow a lead&#x27;s adjudication, 0 discarded" in response.content.decode()
    html = client.get(reverse("preferences:pairs", args=[judged.pk])).content.decode()
    assert html.count('class="pair-row') == 3 and html.count(">adjudicated</span>") == 1
    row = html[html.index(f'id="pair-{PreferencePair.objects.get(rule="adjudication").pk}"') :]
    assert "Answer 0 variant 1." in row[: row.index("</tr>")]  # model-b's text is the chosen one


def test_pairs_page_shows_and_filters_harmful_reports(client, users, cmp):
    judge(cmp, users["annotator"], prefer="model-a", harmful=["model-a"])
    judge(cmp, users["annotator2"], prefer="model-a", harmful=["model-a"])
    judge(cmp, users["annotator"], prefer="model-a", harmful=["model-a"])
    judge(cmp, users["annotator2"], prefer="model-a")
    judge(cmp, users["annotator"], prefer="model-a", harmful=["model-b"])
    judge(cmp, users["annotator2"], prefer="model-a")
    login(client, users, "lead")
    response = client.post(reverse("preferences:recompute", args=[cmp.pk]), {"rule": "majority"}, **HX)
    assert "1 pair(s) have a chosen response most judges reported harmful" in response.content.decode()
    url = reverse("preferences:pairs", args=[cmp.pk])
    html = client.get(url).content.decode()
    assert html.count('class="pair-row') == 3
    assert html.count("reported harmful &times;") == 2  # the rejected side's report is not the chosen's
    assert "reported harmful &times;2 (majority)" in html and "reported harmful &times;1</span>" in html
    flagged = PreferencePair.objects.get(chosen_harmful_majority=True)
    row = re.search(rf'<tr class="([^"]*)" id="pair-{flagged.pk}"', html)
    assert "flagged" in row.group(1)  # the whole row stands out
    row_html = html[row.start() : html.index("</tr>", row.start())]
    assert row_html.count("hx-confirm=") == 2  # approving it asks first (button and edit form)
    assert "2 with a chosen response reported harmful, 1 by most of its judges" in html
    assert 'name="hide_harmful"' in html
    html = client.get(url, {"hide_harmful": "on"}, **HX).content.decode()
    assert html.count('class="pair-row') == 1 and "reported harmful &times;" not in html
    assert 'id="id_hide_harmful" checked' in html
