"""The rubric builder: formset <-> rubric format, its pages (preview, save, compare, export)."""

import json

import pytest
from django.urls import reverse

from annotation.core.rubrics import RubricError, validate_criteria
from annotation.models import AuditEvent, RubricVersion
from annotation.projects import services
from annotation.projects.rubric_forms import criteria_from_formset, criterion_formset

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}

CRITERIA = validate_criteria(
    [
        {"key": "helpfulness", "label": "Helpful?", "type": "likert", "instructions": "Does it *help*?"},
        {"key": "safe", "type": "binary", "required": False},
        {
            "key": "tone",
            "type": "labels",
            "labels": ["formal", "casual, friendly"],
            "instructions": "Pick one.",
        },
    ]
)


def as_posted(formset, **overrides):
    """What a browser posts for an unbound formset as rendered (checkboxes: "on" or absent)."""
    data = {}
    management = formset.management_form
    for name in management.fields:
        data[management.add_prefix(name)] = str(management[name].value())
    for form in formset.forms:
        for name in form.fields:
            value = form[name].value()
            if isinstance(value, bool) or name == "DELETE":
                if value:
                    data[form.add_prefix(name)] = "on"
            elif value is not None:
                data[form.add_prefix(name)] = str(value)
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def convert(data):
    return criteria_from_formset(criterion_formset(data=data))


def test_round_trip_with_the_json_format():
    data = as_posted(criterion_formset(CRITERIA))
    assert data["criteria-2-labels"] == "formal\ncasual, friendly"
    assert convert(data) == CRITERIA


def test_reordering_follows_the_order_numbers_and_deleted_criteria_go():
    data = as_posted(criterion_formset(CRITERIA), **{"criteria-0-ORDER": "3", "criteria-2-ORDER": "1"})
    assert [c["key"] for c in convert(data)] == ["tone", "safe", "helpfulness"]
    data["criteria-1-DELETE"] = "on"
    assert [c["key"] for c in convert(data)] == ["tone", "helpfulness"]


def test_an_added_form_counts_and_a_blank_key_comes_from_the_name():
    data = as_posted(criterion_formset(CRITERIA[:1]))
    data.update(
        {
            "criteria-TOTAL_FORMS": "3",
            "criteria-1-label": "Factual accuracy!",
            "criteria-1-type": "binary",
            "criteria-1-ORDER": "2",
            # an untouched extra form (the browser never filled it) is not a criterion
            "criteria-2-type": "likert",
            "criteria-2-required": "on",
        }
    )
    criteria = convert(data)
    assert [c["key"] for c in criteria] == ["helpfulness", "factual_accuracy"]
    assert criteria[1] == {
        "key": "factual_accuracy",
        "label": "Factual accuracy!",
        "type": "binary",
        "instructions": "",
        "required": False,
    }


def test_labels_are_only_kept_for_a_labels_criterion():
    data = as_posted(criterion_formset(CRITERIA), **{"criteria-2-type": "binary"})
    assert "labels" not in convert(data)[2]


@pytest.mark.parametrize(
    "overrides, key, message",
    [
        ({"criteria-2-labels": "formal"}, 'Criterion 3 ("tone") labels', "at least two labels"),
        ({"criteria-2-labels": "a\na"}, 'Criterion 3 ("tone") labels', "distinct"),
        ({"criteria-1-key": "Safe Key"}, 'Criterion 2 ("Safe Key") key', "lowercase letters"),
        ({"criteria-1-key": "helpfulness"}, 'Criterion 2 ("helpfulness") key', "Duplicate key"),
        ({"criteria-1-key": "", "criteria-1-label": ""}, "Criterion 2 key", "Required"),
        ({"criteria-0-type": "stars"}, 'Criterion 1 ("helpfulness") type', "valid choice"),
    ],
)
def test_errors_name_the_criterion_and_reach_its_field(overrides, key, message):
    formset = criterion_formset(data=as_posted(criterion_formset(CRITERIA), **overrides))
    with pytest.raises(RubricError) as caught:
        criteria_from_formset(formset)
    assert list(caught.value.errors) == [key]
    assert message in " ".join(caught.value.errors[key])
    field = key.rsplit(" ", 1)[1]
    position = int(key.split()[1])
    assert any(message in m for m in formset.forms[position - 1].errors[field])


def test_errors_follow_the_order_shown_and_an_empty_rubric_is_refused():
    data = as_posted(
        criterion_formset(CRITERIA),
        **{"criteria-2-ORDER": "1", "criteria-0-ORDER": "3", "criteria-2-labels": "x"},
    )
    with pytest.raises(RubricError) as caught:
        convert(data)
    assert list(caught.value.errors) == ['Criterion 1 ("tone") labels']
    data = as_posted(criterion_formset(CRITERIA[:1]), **{"criteria-0-DELETE": "on"})
    with pytest.raises(RubricError, match="at least one criterion"):
        convert(data)
    with pytest.raises(RubricError, match="ManagementForm"):
        convert({"criteria-0-key": "x"})


# --- pages -----------------------------------------------------------------------------------


@pytest.fixture
def lead(client, users):
    client.force_login(users["lead"])
    return client


def builder_post(project, criteria, **extra):
    data = as_posted(criterion_formset(criteria), **extra)
    data.setdefault("instructions", "Score **every** criterion.")
    data.setdefault("changelog", "from the builder")
    return data


def test_the_page_shows_the_builder_the_preview_and_the_json_section(lead, project):
    current = project.current_rubric_version()
    html = lead.get(reverse("annotation:rubric", args=[project.pk])).content.decode()
    assert f"Save as version {current.number + 1}" in html
    assert 'name="criteria-0-key"' in html and 'value="helpfulness"' in html
    assert 'id="criterion-template"' in html and "criteria-__prefix__-key" in html
    assert "JSON (advanced)" in html and 'name="criteria"' in html
    assert reverse("annotation:rubric-export", args=[project.pk, current.pk]) in html
    # the preview is the annotator's panel: the same partial the review page renders
    assert 'class="criterion' in html and 'name="score_helpfulness"' in html
    assert "{#" not in html and "panel_criteria" not in html  # template comments stay comments


def test_preview_renders_the_panel_and_saves_nothing(lead, project):
    before = RubricVersion.objects.count()
    url = reverse("annotation:rubric-preview", args=[project.pk])
    data = builder_post(
        project, CRITERIA, **{"criteria-0-instructions": "Use <script>alert(1)</script> **care**"}
    )
    res = lead.post(url, data, **HX)
    html = res.content.decode()
    assert res.status_code == 200
    assert 'data-key="tone"' in html and 'value="casual, friendly"' in html
    assert "<strong>care</strong>" in html and "<script>" not in html  # Markdown, sanitised
    assert "<strong>every</strong>" in html
    assert f"v{project.current_rubric_version().number + 1}" in html
    res = lead.post(url, builder_post(project, CRITERIA, **{"criteria-2-labels": "formal"}), **HX)
    assert res.status_code == 400
    html = res.content.decode()
    assert "Criterion 3 (&quot;tone&quot;) labels: A labels criterion needs at least two labels." in html
    # the criteria that are complete stay in the preview while one is being typed
    assert 'data-key="helpfulness"' in html and 'data-key="safe"' in html and 'data-key="tone"' not in html
    assert RubricVersion.objects.count() == before


def test_saving_makes_the_next_version_through_the_service(lead, project, users):
    current = project.current_rubric_version()
    url = reverse("annotation:rubric-builder", args=[project.pk])
    data = builder_post(project, CRITERIA, **{"criteria-0-ORDER": "3", "criteria-2-ORDER": "1"})
    res = lead.post(url, data, **HX)
    assert res.status_code == 200 and f"Created version {current.number + 1}" in res.content.decode()
    version = project.current_rubric_version()
    assert version.number == current.number + 1
    assert [c["key"] for c in version.criteria] == ["tone", "safe", "helpfulness"]
    assert version.instructions == "Score **every** criterion." and version.changelog == "from the builder"
    event = AuditEvent.objects.filter(verb="rubric.version_created").latest("id")
    assert event.actor == users["lead"] and event.data["criteria"] == ["tone", "safe", "helpfulness"]
    # without htmx: a redirect back to the page
    res = lead.post(url, builder_post(project, CRITERIA[:1]))
    assert res.status_code == 302 and project.current_rubric_version().number == current.number + 2


def test_a_refused_save_keeps_what_was_typed_and_names_the_criterion(lead, project):
    current = project.current_rubric_version()
    url = reverse("annotation:rubric-builder", args=[project.pk])
    data = builder_post(
        project, CRITERIA, **{"criteria-1-key": "helpfulness", "criteria-0-label": "Kept as typed"}
    )
    res = lead.post(url, data, **HX)
    html = res.content.decode()
    assert res.status_code == 400
    assert "Not saved" in html and "Criterion 2 (&quot;helpfulness&quot;) key: Duplicate key" in html
    assert 'value="Kept as typed"' in html
    assert (
        '<span class="field-error">Duplicate key &#x27;helpfulness&#x27;.</span>' in html
    )  # inline, on the key
    assert project.current_rubric_version().pk == current.pk


def test_annotators_can_neither_preview_nor_save(client, project, users):
    client.force_login(users["annotator"])
    for name in ("rubric-builder", "rubric-preview"):
        res = client.post(reverse(f"annotation:{name}", args=[project.pk]), builder_post(project, CRITERIA))
        assert res.status_code == 403
    assert client.get(reverse("annotation:rubric-compare", args=[project.pk])).status_code == 403


def test_compare_shows_two_versions_side_by_side(lead, project, users):
    v1 = project.current_rubric_version()
    new = [dict(c) for c in v1.criteria]
    new[0]["instructions"] = "Changed instructions"
    new.append({"key": "brand_new", "type": "binary"})
    v2 = services.create_rubric_version(project=project, actor=users["lead"], criteria=new)
    url = reverse("annotation:rubric-compare", args=[project.pk])
    html = lead.get(url).content.decode()  # the default: the previous version against the current
    assert f"v{v1.number} → v{v2.number}" in html and "1 added, 0 removed, 1 changed" in html
    assert 'data-key="brand_new" data-status="added"' in html and 'class="diff-field"' in html
    html = lead.get(url, {"a": v2.pk, "b": v1.pk}).content.decode()
    assert 'data-key="brand_new" data-status="removed"' in html
    res = lead.get(url, {"a": 999999, "b": v1.pk})
    assert res.status_code == 404 and "No such version" in res.content.decode()
    page = lead.get(reverse("annotation:rubric", args=[project.pk])).content.decode()
    assert f"?a={v1.pk}&amp;b={v2.pk}" in page


def test_export_downloads_what_the_json_path_accepts(lead, project):
    version = project.current_rubric_version()
    res = lead.get(reverse("annotation:rubric-export", args=[project.pk, version.pk]))
    assert res.status_code == 200 and res["Content-Type"] == "application/json"
    assert f"v{version.number}.json" in res["Content-Disposition"]
    exported = json.loads(res.content)
    assert exported == version.criteria
    res = lead.post(reverse("annotation:rubric", args=[project.pk]), {"criteria": res.content.decode()}, **HX)
    assert res.status_code == 200 and project.current_rubric_version().criteria == exported
    assert lead.get(reverse("annotation:rubric-export", args=[project.pk, 999999])).status_code == 404


def test_the_builder_can_start_from_an_older_version(lead, project, users):
    v1 = project.current_rubric_version()
    v2 = services.create_rubric_version(
        project=project,
        actor=users["lead"],
        criteria=[{"key": "only_one", "type": "binary"}],
        instructions="v2",
    )
    url = reverse("annotation:rubric", args=[project.pk])
    html = lead.get(url).content.decode()
    assert 'value="only_one"' in html and f"?from={v1.pk}" in html
    html = lead.get(url, {"from": v1.pk}).content.decode()
    assert f"The builder starts from v{v1.number}; saving makes v{v2.number + 1}." in html
    assert 'value="helpfulness"' in html and 'value="only_one"' not in html
    assert lead.get(url, {"from": "nope"}).status_code == 400  # not an id at all: a bad parameter
    assert lead.get(url, {"from": 999999}).status_code == 404


def test_compare_with_a_single_version_says_there_is_nothing_to_compare(lead, project):
    html = lead.get(reverse("annotation:rubric-compare", args=[project.pk])).content.decode()
    assert "nothing to compare: the project has 1 rubric version." in html
