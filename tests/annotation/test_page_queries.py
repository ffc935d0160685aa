"""The lead pages read a fixed number of SQL statements whatever the project's size: each page is
counted on a small project, the project grows twelvefold (items, judgments, pairs, audit events, a
second page of every list), and the count must be the same, and under the page's bound.

benchmarks/scale.py times the same pages at 100k and 1M judgments on PostgreSQL."""

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from annotation.models import Project
from annotation.quality import reports
from annotation.queue import services as queue_services
from preferences import services as pref_services
from tests.conftest import GOOD_SCORES, make_items
from tests.preferences.factories import judge, make_comparisons

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_cache")]


# Statements per page view, sessions and permission checks included (the most either database needs).
BOUNDS = {
    "dashboard": 12,  # with the skip reasons
    "pairs": 13,  # with the latest consensus recompute's progress
    "pairs, next page": 13,
    "items": 7,  # with the capped result count
    "items, next page": 7,
    # a search with filters on (annotation.quality.item_list): PostgreSQL reads three disjoint parts
    # (the side table's prompt matches, its response matches, items without a search row) in two
    # statements each (the count and the page), SQLite in one
    "items, searched": 11,
    "items, searched, next page": 11,
    "items, every filter": 11,
    "agreement": 7,  # with the latest agreement recompute's progress
    "audit": 6,
    "audit, next page": 6,
    "members": 6,
    "rubric": 7,
    "disagreements": 6,
    # cold cache: the stored win counts and the newest judgment id (preferences.tally_state), the counts
    # above the stored id in SQL (preferences.tallies; PostgreSQL: JIT off first), the annotators' names,
    # the project's judgment version (annotation.core.versions: a table, no longer the cache)
    "leaderboard": 12,
}


def grow(project, users, n, *, start):
    """n more SFT items and n more comparisons, each judged by both annotators (half of them
    disagreeing), then the agreement report and the consensus recomputed."""
    make_items(project, users["lead"], n, start=start)
    make_comparisons(project, users["lead"], n, start=start)
    for who, name in enumerate(("annotator", "annotator2")):
        user = users[name]
        for i in range(n):
            a = queue_services.next_assignment(project=project, user=user, kind="sft")
            decision = "reject" if who and i % 2 else "accept"
            queue_services.submit_judgment(assignment=a, user=user, decision=decision, scores=GOOD_SCORES)
            judge(project, user, prefer="model-b" if who and i % 4 == 3 else "model-a")
    reports.recompute_agreement(project=project, actor=users["lead"])
    pref_services.recompute_consensus(project=project, actor=users["lead"])


def next_link(client, url):
    html = client.get(url).content.decode()
    found = re.search(r'href="\?([^"]*after=[^"]+)" rel="next"', html)
    assert found, f"{url} has no next page"
    return f"{url.split('?')[0]}?{found.group(1).replace('&amp;', '&')}"


def statements(client, project, django_assert_max_num_queries):
    """Statements of one view of each lead page (cache emptied first: a cold view), each under its
    bound."""
    pk = project.pk
    urls = {
        "dashboard": reverse("annotation:dashboard", args=[pk]),
        "pairs": reverse("preferences:pairs", args=[pk]),
        "items": reverse("annotation:items", args=[pk]),
        "agreement": reverse("annotation:agreement", args=[pk]),
        "audit": reverse("annotation:audit", args=[pk]),
        "members": reverse("annotation:members", args=[pk]),
        "rubric": reverse("annotation:rubric", args=[pk]),
        "disagreements": reverse("annotation:disagreements", args=[pk]),
        "leaderboard": reverse("preferences:leaderboard", args=[pk]),
    }
    urls["items, searched"] = f"{urls['items']}?q=ANSWER&kind=sft&gold=no&active_learning=no"
    urls["items, every filter"] = (
        f"{urls['items']}?q=question&state=approved&kind=sft&gold=no&disputed=yes&tag=t&active_learning=no"
    )
    for name in ("pairs", "items", "audit", "items, searched"):
        urls[f"{name}, next page"] = next_link(client, urls[name])
    counts = {}
    for name, url in urls.items():
        cache.clear()
        with django_assert_max_num_queries(BOUNDS[name]) as ctx:
            response = client.get(url)
        assert response.status_code == 200, name
        counts[name] = len(ctx.captured_queries)
    return counts


def check_pages_do_not_grow(client, project, users, django_assert_max_num_queries, monkeypatch):
    import annotation.projects.views
    import annotation.quality.views_items
    import preferences.views

    # Pages of 3, so that the small project has a second page of every list too.
    monkeypatch.setattr(annotation.projects.views, "AUDIT_PER_PAGE", 3)
    monkeypatch.setattr(annotation.quality.views_items, "ITEMS_PER_PAGE", 3)
    monkeypatch.setattr(preferences.views, "PAIRS_PER_PAGE", 3)
    Project.objects.filter(pk=project.pk).update(agreement_routing=True)  # disagreements get disputed
    project.refresh_from_db()
    client.force_login(users["lead"])
    grow(project, users, 5, start=0)
    small = statements(client, project, django_assert_max_num_queries)
    grow(project, users, 55, start=5)  # 60 of each kind
    assert project.items.filter(state="disputed").exists() and project.preference_pairs.count() > 40
    large = statements(client, project, django_assert_max_num_queries)
    assert large == small


def test_lead_pages_read_a_fixed_number_of_statements(
    client, project, users, django_assert_max_num_queries, monkeypatch
):
    check_pages_do_not_grow(client, project, users, django_assert_max_num_queries, monkeypatch)


@pytest.mark.postgres
def test_lead_pages_read_a_fixed_number_of_statements_on_postgres(
    client, project, users, django_assert_max_num_queries, monkeypatch
):
    """The same on PostgreSQL, where the dashboard, audit and pairs pages take their SQL paths."""
    check_pages_do_not_grow(client, project, users, django_assert_max_num_queries, monkeypatch)
