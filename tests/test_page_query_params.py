"""Garbage in every page's query parameters: a NUL, a UTF-8-encoded surrogate, huge text, a huge number,
negative, non-numeric and non-finite values. No page answers 500 (the test client raises on one); a
parameter read through annotation.core.web's query helpers answers 400 naming it; one a Django form
reads is ignored (the form is invalid, the page shows everything), as are keyset paging's `page`,
`after` and `before` (annotation.core.keyset: a link that is not one of ours shows the first page)."""

import pytest
from django.urls import reverse

from annotation.core import keyset
from tests.test_permission_walk import url_for, world  # noqa: F401  (the walk's fixture world)

pytestmark = pytest.mark.django_db

GARBAGE = {
    "nul": "%00",
    "nul-inside": "sft%00x",
    "surrogate": "%ED%A0%80",  # U+D800 encoded as UTF-8 (invalid): decodes to replacement characters
    "huge-text": "x" * 5000,
    "huge-number": "9" * 5000,
    "beyond-integer": str(2**63),
    "negative": "-1",
    "non-numeric": "abc",
    "non-finite": "1e999",
    "nan": "nan",
}

# page -> (who asks, the world's row for `pk`, parameters read by the query helpers, parameters ignored when bad)
PAGING = ["page", "after", "before"]
PAGES = {
    "annotation:items": (
        "lead",
        "project",
        ["q", "state", "kind", "gold", "disputed", "tag", "active_learning", "size"],
        PAGING,
    ),
    "annotation:audit": ("lead", "project", ["verb"], PAGING),
    "annotation:rubric": ("lead", "project", ["from"], []),
    "annotation:rubric-compare": ("lead", "project", ["a", "b"], []),
    "annotation:production": (
        "lead",
        "project",
        ["model_version", "q", "feedback", "selected", "colour", "page", "entropy_min", "priority_max"],
        [],
    ),
    "preferences:pairs": (
        "lead",
        "project",
        [],
        ["min_confidence", "rubric_version", "criterion", "model", "status", *PAGING],
    ),
    "preferences:leaderboard": ("lead", "project", [], ["baseline"]),
    "preferences:compare-diff": ("annotator", "comparison_assignment", ["left", "right"], []),
    "training:snapshots": ("lead", "project", ["kind"], []),
    "training:snapshot-download": ("lead", "snapshot", ["split"], []),
    "training:run-new": ("lead", "project", ["snapshot"], []),
    "training:models": ("lead", "project", [], ["compare"]),
    "training:snapshot-files": ("lead", "snapshot", ["layout", "format", "provenance"], []),
    "training:snapshot-file": ("lead", "snapshot", ["layout", "format", "split", "provenance"], []),
    "training:snapshot-card": ("lead", "snapshot", ["layout", "format", "provenance"], []),
    "training:snapshot-zip": ("lead", "snapshot", ["layout", "format", "provenance"], []),
    "training:snapshot-diff": ("lead", "snapshot", ["against"], []),
    "evaluation:set": ("lead", "eval_set", ["version"], []),
    "evaluation:run-new": ("lead", "project", ["version", "eval_set"], []),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_garbage_query_parameters_never_500(client, world, name):  # noqa: F811
    who, row, checked, ignored = PAGES[name]
    client.force_login(world["users"][who])
    url = url_for(name, world, {"pk": row})
    assert client.get(url).status_code in (200, 400)  # the page itself, without parameters
    for param in checked + ignored:
        for label, value in GARBAGE.items():
            response = client.get(f"{url}?{param}={value}")
            # 404: an id that names no row of the project (the rubric's `from`, the diff's `against`)
            assert response.status_code in (200, 400, 404), (param, label, response.status_code)
            if param in checked and label in ("nul", "nul-inside", "huge-text"):
                assert response.status_code == 400, (param, label)
                if response["Content-Type"].startswith("text/html"):
                    assert f"&#x27;{param}&#x27;" in response.content.decode(), (param, label)


def test_page_filters_answer_400_for_values_outside_their_choices(client, world):  # noqa: F811
    """The issue's examples: state / kind on the items page and verb on the audit page."""
    client.force_login(world["users"]["lead"])
    project = world["project"].pk
    items = reverse("annotation:items", args=[project])
    assert client.get(f"{items}?state=%00").status_code == 400
    assert client.get(f"{items}?kind=nonsense").status_code == 400
    assert client.get(f"{items}?state=complete&kind=sft&gold=no").status_code == 200
    assert client.get(f"{items}?page=-1").status_code == 200  # keyset paging: not ours, the first page
    for bad in ("state=nonsense", "disputed=maybe", "active_learning=1", "gold=true", "size=30", "size=0",
                "size=1000", "q=a%00b", "tag=%00", f"q={'x' * 201}"):  # fmt: skip
        response = client.get(f"{items}?{bad}")
        assert response.status_code == 400, bad
        assert f"&#x27;{bad.split('=')[0]}&#x27; parameter" in response.content.decode(), bad
    ok = "q=%3Cb%3E&state=open&kind=sft&gold=no&disputed=no&tag=t&active_learning=no&size=200"
    assert client.get(f"{items}?{ok}").status_code == 200
    audit = reverse("annotation:audit", args=[project])
    response = client.get(f"{audit}?verb=item%00.imported")
    assert response.status_code == 400
    assert "&#x27;verb&#x27; parameter" in response.content.decode()
    assert client.get(f"{audit}?verb=items.imported").status_code == 200


@pytest.mark.parametrize(
    "query", ["q=%00", "feedback=sideways", "entropy_min=nan", f"model_version={'m' * 5000}"]
)
def test_samples_api_answers_400_with_the_error_format(client, world, query):  # noqa: F811
    """The explorer's filters are shared with GET /api/projects/{id}/samples/: same checks, JSON errors."""
    client.force_login(world["users"]["lead"])
    response = client.get(f"/api/projects/{world['project'].pk}/samples/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert query.split("=")[0] in response.json()["detail"]


@pytest.mark.parametrize("value", ["%C2%B2", "9" * 5000, "-1", "abc", "%00"])
def test_api_ids_in_the_query_answer_400_or_404(client, world, value):  # noqa: F811
    """`?version=` of the leakage check, `?against=` of the snapshot diff: "²" passes str.isdigit()
    and int("9" * 5000) raises; both were 500s."""
    client.force_login(world["users"]["lead"])
    leakage = client.get(f"/api/eval-sets/{world['eval_set'].pk}/leakage/?version={value}")
    diff = client.get(f"/api/snapshots/{world['snapshot'].pk}/diff/?against={value}")
    for response in (leakage, diff):
        assert response.status_code in (400, 404)
        assert response.json()["detail"]


def test_pages_read_query_parameters_only_through_the_helpers():
    """A page or endpoint that reads one query parameter does it through annotation.core.web's
    helpers (forms and serializers validate the rest)."""
    from tests.test_house import ROOT, python_files

    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files("annotation", "preferences", "training", "evaluation")
        if path.name != "web.py"
        and any(raw in path.read_text() for raw in ("GET.get(", "GET[", "query_params.get("))
    ]
    assert offenders == []


@pytest.mark.parametrize("values", [["abc"], ["\x00"], [2**70], [None], [[1]]])
@pytest.mark.parametrize("page", ["annotation:items", "annotation:audit"])
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_forged_cursor_shows_the_first_page(client, world, page, direction, values):  # noqa: F811
    """A cursor that decodes but holds text, a NUL or an overflowing number where an id goes reached
    the database (a 500); it is now one that is not ours: the first page."""
    client.force_login(world["users"]["lead"])
    url = reverse(page, args=[world["project"].pk])
    response = client.get(f"{url}?{direction}={keyset.encode(values)}")
    assert response.status_code == 200
