"""Interchange imports through the service, page, API and command: items with the other team's
judgments (external, placeholder annotators, no queue slot), all or nothing with line numbers, and
agreement figures that leave external judgments out unless the project says otherwise."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from annotation.importing import external
from annotation.importing.parse import ImportFailed
from annotation.models import Assignment, Item, Judgment
from annotation.quality import facts
from annotation.queue import lifecycle
from preferences.models import PreferencePair
from preferences.services import recompute_consensus

pytestmark = pytest.mark.django_db
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "interchange" / "label_studio_export.json"
PLAIN = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
    {"prompt": "Capital of Italy?", "chosen": "Rome", "rejected": "Milan"},
]


def _import_ls(project, users, **kw):
    parsed = external.parse_external(
        FIXTURE.read_bytes(), name="ls.json", fmt="label-studio", with_judgments=True
    )
    return external.import_interchange(
        project=project, actor=users["lead"], parsed=parsed, source="ls.json", **kw
    )


def test_label_studio_fixture_imports_items_comparisons_and_judgments(project, users):
    result = _import_ls(project, users)
    assert result.as_dict() == {"created": 4, "duplicates": 0, "judgments": 6}
    items = list(Item.objects.filter(project=project).order_by("id"))
    assert [i.kind for i in items] == ["sft", "sft", "comparison", "comparison"]
    judged = Judgment.objects.filter(item__project=project)
    assert judged.count() == 6 and all(j.external and j.source == "label_studio" for j in judged)
    assert sorted(j.decision for j in judged.filter(item__kind="sft")) == ["accept", "edit", "reject"]
    ranked = judged.get(item=items[3])
    shown = list(items[3].responses.order_by("position").values_list("id", flat=True))
    assert ranked.payload["ranking"] == [[shown[2]], [shown[0]], [shown[1]]]
    # no queue slot taken, the lifecycle's rule kept, placeholders cannot log in
    for item in items:
        assert (item.state, item.active_count, item.submitted_count) == ("open", 0, 0)
        assert lifecycle.check_item(item, project) == []
    assert all(not a.annotator.is_active and not a.annotator.has_usable_password()
               for a in Assignment.objects.filter(project=project))  # fmt: skip
    assert {a.state for a in Assignment.objects.filter(project=project)} == {"external"}
    # pairs go straight to curation from the external judgments
    recompute_consensus(project=project, actor=users["lead"])
    assert PreferencePair.objects.filter(project=project).exists()
    # importing the same file again adds nothing
    again = _import_ls(project, users)
    assert again.as_dict() == {"created": 0, "duplicates": 4, "judgments": 0}


@pytest.mark.slow  # writes and reads a `datasets` folder (a heavy library)
def test_a_trl_dataset_folder_imports_as_external_judgments(project, users, tmp_path, capsys):
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_list(PLAIN)}).save_to_disk(str(tmp_path / "ds"))
    call_command("import_external", str(project.pk), str(tmp_path / "ds"), "--format", "trl",
                 "--source", "hf:team/prefs", "--user", "lead")  # fmt: skip
    assert "2 items" in capsys.readouterr().out
    judgments = Judgment.objects.filter(item__project=project)
    assert judgments.count() == 2 and {j.source for j in judgments} == {"hf:team/prefs"}
    item = Item.objects.get(project=project, messages__0__content="What is 2+2?")
    assert judgments.get(item=item).payload["winner"] == item.responses.get(text="4").pk
    call_command("import_external", str(project.pk), str(tmp_path / "ds"), "--format", "trl", "--to-judge",
                 "--user", "lead")  # fmt: skip
    assert Judgment.objects.filter(item__project=project).count() == 2


def test_malformed_files_give_line_numbers_and_import_nothing(project, users, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(PLAIN[0]) + "\n" + json.dumps({"prompt": "x", "chosen": "y"}) + "\n{oops\n")
    parsed = external.parse_path(bad, fmt="trl", with_judgments=True)
    with pytest.raises(ImportFailed) as err:
        external.import_interchange(project=project, actor=users["lead"], parsed=parsed, source="bad")
    assert {e.line for e in err.value.errors} >= {2, 3}
    broken = json.loads(FIXTURE.read_text())
    broken[1]["annotations"][0]["result"] = [{"type": "choices", "value": {"choices": []}}]
    parsed = external.parse_external(json.dumps(broken, indent=1).encode(), name="x.json", fmt="label-studio",
                                     with_judgments=True)  # fmt: skip
    with pytest.raises(ImportFailed) as err:
        external.import_interchange(project=project, actor=users["lead"], parsed=parsed, source="x")
    assert all(e.line > 0 for e in err.value.errors)
    assert not Item.objects.filter(project=project).exists() and not Judgment.objects.exists()


def test_external_judgments_are_left_out_of_agreement_unless_the_lead_says_so(project, users):
    _import_ls(project, users)
    assert facts.gather(project).judgments == []
    project.count_external_judgments = True
    project.save()
    assert len(facts.gather(project).judgments) == 6


def test_api_and_page_import_with_permissions(client, project, users):
    api = APIClient()
    url = f"/api/projects/{project.pk}/import/external/"
    for who, status in (("outsider", 404), ("annotator", 403)):
        api.force_authenticate(users[who])
        with open(FIXTURE, "rb") as fh:
            assert (
                api.post(url, {"file": fh, "format": "label-studio"}, format="multipart").status_code
                == status
            )
    api.force_authenticate(users["lead"])
    with open(FIXTURE, "rb") as fh:
        response = api.post(
            url, {"file": fh, "format": "label-studio", "with_judgments": "false"}, format="multipart"
        )
    assert response.status_code == 201 and response.json() == {"created": 4, "duplicates": 0, "judgments": 0}
    bad = api.post(
        url, {"file": _upload(b'{"prompt": "x"}\n', "p.jsonl"), "format": "trl"}, format="multipart"
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["line"] == 1
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/import/external/")
    assert page.status_code == 200 and "Label Studio" in page.content.decode()
    posted = client.post(
        f"/projects/{project.pk}/import/external/",
        {"file": _upload(_jsonl(PLAIN), "prefs.jsonl"), "format": "trl", "with_judgments": "on"},
    )
    assert posted.status_code == 200 and Judgment.objects.filter(external=True).count() == 2
    for who, status in (("outsider", 404), ("annotator", 403)):
        client.force_login(users[who])
        assert client.get(f"/projects/{project.pk}/import/external/").status_code == status


def _jsonl(rows):
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _upload(content, name):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)
