"""Bulk curation over HTTP: `POST /api/projects/{id}/pairs/bulk/` (roles, validation, the threshold
variant) and the pairs page's bulk forms, with htmx (the panel comes back with fresh counts) and
without JavaScript (post and redirect), plus the counts a row's own update swaps out of band."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import AuditEvent
from annotation.projects import services as project_services
from preferences import curation
from preferences.models import PairStatus, PreferencePair
from tests.annotation.test_page_queries import BOUNDS
from tests.training.factories import make_pairs

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> APIClient:
    client = APIClient(raise_request_exception=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def candidates(project, users, n, *, prefix="Q", confidence=0.9):
    prompts = [f"{prefix} {i}?" for i in range(n)]
    return make_pairs(project, users["lead"], prompts, status=PairStatus.CANDIDATE, confidence=confidence)


def statuses(rows):
    return [PreferencePair.objects.get(pk=p.pk).status for p in rows]


def api_url(project):
    return f"/api/projects/{project.pk}/pairs/bulk/"


# --- API ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who,status", [("outsider", 404), ("annotator", 403), ("lead", 200), ("admin", 200)])
def test_bulk_api_roles(project, users, who, status):
    rows = candidates(project, users, 2)
    body = {"ids": [r.pk for r in rows], "action": "approve"}
    response = client_for(users[who]).post(api_url(project), body, format="json")
    assert response.status_code == status, response.content
    assert statuses(rows) == [PairStatus.APPROVED if status == 200 else PairStatus.CANDIDATE] * 2
    if status == 200:
        assert response.json()["changed"] == 2 and response.json()["ids"] == [r.pk for r in rows]


def test_bulk_api_needs_a_token(project, users):
    rows = candidates(project, users, 1)
    response = APIClient().post(api_url(project), {"ids": [rows[0].pk], "action": "approve"}, format="json")
    assert response.status_code == 401 and statuses(rows) == [PairStatus.CANDIDATE]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"ids": [1], "action": "delete"}, "action"),
        ({"ids": ["one"], "action": "approve"}, "ids"),
        ({"ids": [1.5], "action": "approve"}, "ids"),
        ({"ids": [True], "action": "approve"}, "ids"),
        ({"ids": "1,2", "action": "approve"}, "ids"),
        ({"ids": [], "action": "approve"}, "ids"),
        ({"ids": list(range(1, curation.MAX_IDS + 2)), "action": "approve"}, "ids"),
        ({"action": "approve"}, "non_field_errors"),
        ({"ids": [1], "min_confidence": 0.5, "action": "approve"}, "non_field_errors"),
        ({"min_confidence": 0.5, "action": "exclude"}, "action"),
        ({"min_confidence": 1.5, "action": "approve"}, "min_confidence"),
        ({"ids": [1], "action": "approve", "filters": {"model": "a"}}, "filters"),
        ({"min_confidence": 0.5, "action": "approve", "filters": {"status": "maybe"}}, "filters.status"),
    ],
)
def test_bulk_api_refuses_bad_input(project, users, body, field):
    rows = candidates(project, users, 1)
    response = client_for(users["lead"]).post(api_url(project), body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(k == field or k.startswith(f"{field}.") for k in errors), errors
    assert statuses(rows) == [PairStatus.CANDIDATE]
    assert not AuditEvent.objects.filter(verb=curation.VERB).exists()


def test_bulk_api_threshold_variant_with_filters_and_other_projects_ids(project, users):
    high = candidates(project, users, 3, prefix="High", confidence=0.95)
    low = candidates(project, users, 2, prefix="Low", confidence=0.6)
    lead = client_for(users["lead"])
    body = {"action": "approve", "min_confidence": 0.9, "filters": {"model": "a"}}
    response = lead.post(api_url(project), body, format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["changed"] == 3 and sorted(data["ids"]) == sorted(p.pk for p in high)
    assert statuses(low) == [PairStatus.CANDIDATE] * 2
    body = {"action": "approve", "min_confidence": 0.5, "filters": {"model": "nobody"}}
    assert lead.post(api_url(project), body, format="json").json()["changed"] == 0

    elsewhere = project_services.create_project(name="Elsewhere", created_by=users["admin"])
    project_services.set_membership(project=elsewhere, actor=users["admin"], user=users["lead"], role="lead")
    theirs = candidates(elsewhere, users, 1, prefix="Theirs")
    response = lead.post(
        api_url(project), {"ids": [low[0].pk, theirs[0].pk], "action": "exclude"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["ignored"] == [theirs[0].pk] and response.json()["changed"] == 1
    assert statuses(theirs) == [PairStatus.CANDIDATE]


# --- the page ---------------------------------------------------------------------------------------


def page_url(project):
    return reverse("preferences:pairs", args=[project.pk])


def bulk_url(project, query=""):
    return reverse("preferences:pairs-bulk", args=[project.pk]) + (f"?{query}" if query else "")


def test_bulk_form_without_javascript_posts_and_redirects_with_the_query(client, project, users):
    rows = candidates(project, users, 3)
    client.force_login(users["lead"])
    response = client.post(
        bulk_url(project, "status=candidate"), {"action": "approve", "ids": [rows[0].pk, rows[1].pk]}
    )
    assert response.status_code == 302 and response.url == page_url(project) + "?status=candidate"
    assert statuses(rows) == [PairStatus.APPROVED, PairStatus.APPROVED, PairStatus.CANDIDATE]
    html = client.get(response.url).content.decode()
    assert "2 pairs approved." in html and "1 pair: 1 candidate, 0 approved" in html
    response = client.post(bulk_url(project), {"action": "approve"}, follow=True)  # nothing selected
    assert "Select at least one pair." in response.content.decode()


def test_bulk_form_with_htmx_returns_the_panel_with_fresh_counts(client, project, users):
    rows = candidates(project, users, 3)
    client.force_login(users["lead"])
    assert "3 pairs: 3 candidate, 0 approved, 0 excluded." in client.get(page_url(project)).content.decode()
    response = client.post(bulk_url(project), {"action": "exclude", "ids": [rows[2].pk]}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "3 pairs: 2 candidate, 0 approved, 1 excluded." in html and "1 pair excluded." in html
    assert html.count('class="pair-row') == 3 and 'id="pairs-bulk"' in html
    response = client.post(bulk_url(project), {"action": "approve", "ids": ["x"]}, **HX)
    assert response.status_code == 400 and "Pair ids are whole numbers." in response.content.decode()


def test_threshold_form_applies_to_every_page_of_the_filtered_list(client, project, users, monkeypatch):
    import preferences.views

    monkeypatch.setattr(preferences.views, "PAIRS_PER_PAGE", 2)
    high = candidates(project, users, 5, prefix="High", confidence=0.95)
    low = candidates(project, users, 2, prefix="Low", confidence=0.5)
    client.force_login(users["lead"])
    response = client.post(
        bulk_url(project, "min_confidence=0.4"), {"action": "approve", "min_confidence": "0.9"}, **HX
    )
    html = response.content.decode()
    assert response.status_code == 200 and "5 pairs approved." in html
    assert "7 pairs: 2 candidate, 5 approved, 0 excluded." in html
    assert statuses(high) == [PairStatus.APPROVED] * 5 and statuses(low) == [PairStatus.CANDIDATE] * 2


@pytest.mark.parametrize("who,status", [("outsider", 404), ("annotator", 403)])
def test_bulk_form_is_lead_only(client, project, users, who, status):
    rows = candidates(project, users, 1)
    client.force_login(users[who])
    response = client.post(bulk_url(project), {"action": "approve", "ids": [rows[0].pk]}, **HX)
    assert response.status_code == status and statuses(rows) == [PairStatus.CANDIDATE]


def test_a_rows_update_swaps_the_counts_out_of_band(client, project, users):
    rows = candidates(project, users, 2)
    client.force_login(users["lead"])
    client.get(page_url(project))  # the counts are cached now
    url = reverse("preferences:pair-update", args=[rows[0].pk]) + "?status=candidate"
    response = client.post(url, {"status": "approved"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith("<tr")
    assert 'id="pair-counts" aria-live="polite" hx-swap-oob="true"' in html
    assert "1 pair: 1 candidate, 0 approved, 0 excluded." in html  # the filtered list's counts
    assert "?status=candidate" in html  # the row's forms keep the page's filters


def test_the_bulk_page_action_reads_the_same_statements_for_2_or_40_pairs(
    client, project, users, django_assert_max_num_queries, settings
):
    """The pairs page's own bound (tests/annotation/test_page_queries.py) plus the bulk action's five:
    savepoint, the locking read, one UPDATE, one audit INSERT, release (the cache in memory, as there)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    few = candidates(project, users, 2, prefix="Few")
    many = candidates(project, users, 40, prefix="Many")
    client.force_login(users["lead"])
    counts = []
    for rows in (few, many):
        with django_assert_max_num_queries(BOUNDS["pairs"] + 5) as ctx:
            response = client.post(
                bulk_url(project), {"action": "approve", "ids": [r.pk for r in rows]}, **HX
            )
        assert response.status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    assert statuses(many) == [PairStatus.APPROVED] * 40


def test_bulk_api_takes_json_only(project, users):
    """A form-encoded `filters=...` is no nested object to DRF: it was dropped in silence and the
    threshold approved every candidate of the project. Only JSON is taken (415 otherwise)."""
    wide = candidates(project, users, 2, confidence=0.9)
    client = client_for(users["lead"])
    form = {"action": "approve", "min_confidence": "0.5", "filters": "model=nobody"}
    encoded = "action=approve&min_confidence=0.5&filters=model%3Dnobody"
    assert (
        client.post(api_url(project), encoded, content_type="application/x-www-form-urlencoded").status_code
        == 415
    )
    assert client.post(api_url(project), form, format="multipart").status_code == 415
    assert statuses(wide) == [PairStatus.CANDIDATE] * 2
