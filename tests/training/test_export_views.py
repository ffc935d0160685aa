"""Export entry points: snapshot page, curated pairs page, API, `manage.py export`; the snapshot diff
page and API; permissions of every new URL (outsider 404, annotator 403, lead 200)."""

import io
import json
import re
import zipfile

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from annotation.projects import services as project_services
from preferences.models import PairStatus
from tests.training.factories import make_pairs, word_embedder
from training import runs, snapshots
from training.models import DatasetSnapshot, ExportJob, RunState

pytestmark = pytest.mark.django_db


def build(project, users, kind="dpo", **filters):
    filters.setdefault("near_dup_threshold", 1.0)
    filters.setdefault("val_fraction", 0)
    return snapshots.build_snapshot(
        project=project, actor=users["lead"], kind=kind, filters=filters, embedder=word_embedder
    )


@pytest.fixture
def data(project, users, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    make_pairs(project, users["lead"], [f"Prompt {i}?" for i in range(4)])
    snap = build(project, users)
    job = runs.request_export(snapshot=snap, actor=users["lead"], layout="trl-preference", fmt="jsonl")
    return {"snapshot": snap, "job": job}


def _names(content):
    return set(zipfile.ZipFile(io.BytesIO(content)).namelist())


def _client(users, who):
    api = APIClient()
    api.force_authenticate(users[who])
    return api


def _export_urls(project, users, data):
    """(pages, apis) of every export URL: (method, url, body)."""
    snap, job = data["snapshot"], data["job"]
    other = build(project, users, min_confidence=0.0, seed=3)
    pages = [
        ("get", f"/snapshots/{snap.pk}/diff/?against={other.pk}", {}),
        ("get", f"/exports/{job.pk}/", {}),
        ("get", f"/exports/{job.pk}/progress/", {}),
        ("get", f"/exports/{job.pk}/download/", {}),
        ("post", f"/snapshots/{snap.pk}/export/", {"layout": "trl-preference", "format": "jsonl"}),
        ("post", f"/projects/{project.pk}/pairs/export/", {"layout": "trl-preference", "format": "csv"}),
        ("post", f"/exports/{job.pk}/push/", {"repo_id": "a/b"}),
    ]
    streamed = {"layout": "trl-preference", "format": "jsonl"}
    for name in ("files", "card", "zip"):
        pages.append(("get", f"/snapshots/{snap.pk}/export/{name}/", streamed))
    pages.append(("get", f"/snapshots/{snap.pk}/export/file/", {**streamed, "split": "train"}))
    apis = [
        ("get", f"/api/snapshots/{snap.pk}/diff/{other.pk}/", {}),
        ("get", f"/api/snapshots/{snap.pk}/diff/?against={other.pk}", {}),
        ("get", f"/api/exports/{job.pk}/", {}),
        ("get", f"/api/exports/{job.pk}/download/", {}),
        ("post", f"/api/snapshots/{snap.pk}/exports/", {"layout": "trl-preference", "format": "jsonl"}),
        (
            "post",
            f"/api/projects/{project.pk}/exports/",
            {"from": "pairs", "layout": "trl-kto", "format": "jsonl"},
        ),
    ]
    return pages, apis


def test_every_new_url_outsider_404_annotator_403(client, project, users, data):
    pages, apis = _export_urls(project, users, data)
    for who, status in (("outsider", 404), ("annotator", 403)):
        client.force_login(users[who])
        for method, url, body in pages:
            assert getattr(client, method)(url, body).status_code == status, (who, url)
        api = _client(users, who)
        for method, url, body in apis:
            assert getattr(api, method)(url, body, format="json").status_code == status, (who, url)


@pytest.mark.slow  # a lead's requests build snapshots and write exports: seconds
def test_every_new_url_lead_ok(client, project, users, data):
    pages, apis = _export_urls(project, users, data)
    client.force_login(users["lead"])
    for method, url, body in pages:
        code = getattr(client, method)(url, body).status_code
        redirects = (
            url.endswith(("/push/", "/export/")) and method == "post" and body.get("format") != "parquet"
        )
        assert code == (302 if redirects else 200), (url, code)
    api = _client(users, "lead")
    for method, url, body in apis:
        code = getattr(api, method)(url, body, format="json").status_code
        assert code == (201 if method == "post" else 200), (url, code)


def test_snapshot_page_export_streams_a_small_export_and_queues_a_large_one(
    client, project, users, data, settings
):
    snap = data["snapshot"]
    client.force_login(users["lead"])
    page = client.get(f"/snapshots/{snap.pk}/").content.decode()
    assert 'id="snapshot-export"' in page and "trl-kto" in page and "trl-messages" not in page
    assert f"/snapshots/{snap.pk}/diff/" in page
    response = client.post(f"/snapshots/{snap.pk}/export/", {"layout": "trl-preference", "format": "parquet",
                                                             "provenance": "on"})  # fmt: skip
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert _names(b"".join(response.streaming_content)) == {"README.md", "train.parquet"}
    assert ExportJob.objects.count() == 1  # only the fixture's job: a small export is no job
    assert "tl_download" not in response.cookies  # the form sent no token (no JS)
    # with busy.js's token, the file answers with the cookie that ends the button's "Working…"
    response = client.post(f"/snapshots/{snap.pk}/export/", {"layout": "trl-preference", "format": "parquet",
                                                             "download_token": "abc123"})  # fmt: skip
    assert response["Content-Type"] == "application/zip" and response.cookies["tl_download"].value == "abc123"
    response = client.post(f"/snapshots/{snap.pk}/export/", {"layout": "trl-preference", "format": "parquet",
                                                             "download_token": "<script>"})  # fmt: skip
    assert "tl_download" not in response.cookies  # only a plain token is echoed
    settings.TUNELOOP_EXPORT_INLINE_ROWS = 2
    response = client.post(f"/snapshots/{snap.pk}/export/", {"layout": "trl-preference", "format": "hf"})
    job = ExportJob.objects.latest("id")
    assert response.status_code == 302 and response["Location"] == f"/exports/{job.pk}/"
    assert job.state == RunState.COMPLETED  # no worker here: it ran at once
    progress = client.get(f"/exports/{job.pk}/progress/").content.decode()
    assert f"/exports/{job.pk}/download/" in progress and "hx-get" not in progress
    archive = b"".join(client.get(f"/exports/{job.pk}/download/").streaming_content)
    assert "README.md" in _names(archive) and any(n.startswith("train/") for n in _names(archive))
    bad = client.post(f"/snapshots/{snap.pk}/export/", {"layout": "trl-messages", "format": "jsonl"})
    assert bad.status_code == 302 and ExportJob.objects.count() == 2


def test_pairs_page_export_snapshots_the_shown_pairs_first(client, project, users, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    make_pairs(project, users["lead"], ["Approved 1?", "Approved 2?"])
    make_pairs(project, users["lead"], ["Candidate 1?"], status=PairStatus.CANDIDATE, confidence=0.95)
    client.force_login(users["lead"])
    page = client.get(f"/projects/{project.pk}/pairs/").content.decode()
    assert f'action="/projects/{project.pk}/pairs/export/"' in page
    response = client.post(f"/projects/{project.pk}/pairs/export/",
                           {"layout": "trl-preference-text", "format": "jsonl", "status": "approved"},
                           follow=True)  # fmt: skip
    assert response.status_code == 200
    links = re.findall(r'href="(/snapshots/\d+/export/file/\?[^"]+)"', response.content.decode())
    rows = [json.loads(line) for link in links
            for line in b"".join(client.get(link.replace("&amp;", "&")).streaming_content).decode().splitlines()]  # fmt: skip
    assert sorted(r["prompt"] for r in rows) == ["Approved 1?", "Approved 2?"]
    snap = DatasetSnapshot.objects.get()
    assert snap.kind == "dpo" and snap.filters["criterion"] == "*"
    # the same view again reuses the snapshot (same sources, same filters)
    client.post(f"/projects/{project.pk}/pairs/export/", {"layout": "trl-kto", "format": "csv"})
    assert DatasetSnapshot.objects.count() == 1


def test_api_exports_snapshot_and_project_view_with_field_errors(project, users, data):
    api = _client(users, "lead")
    snap = data["snapshot"]
    bad = api.post(
        f"/api/snapshots/{snap.pk}/exports/", {"layout": "trl-messages", "format": "xml"}, format="json"
    )
    assert bad.status_code == 400 and {"format"} <= set(bad.json()["errors"])
    bad = api.post(f"/api/snapshots/{snap.pk}/exports/", {"layout": "trl-messages"}, format="json")
    assert bad.status_code == 400 and "layout" in bad.json()["errors"]
    bad = api.post(f"/api/projects/{project.pk}/exports/", {"from": "nowhere", "layout": "x"}, format="json")
    assert bad.status_code == 400 and "from" in bad.json()["errors"]
    made = api.post(f"/api/projects/{project.pk}/exports/",
                    {"from": "pairs", "status": "approved", "layout": "openai-preference", "format": "parquet",
                     "provenance": True}, format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    body = api.get(f"/api/exports/{made.json()['id']}/").json()
    assert body["state"] == "completed" and body["percent"] == 100 and body["download"]
    download = api.get(body["download"])
    assert download.status_code == 200 and "train.parquet" in _names(b"".join(download.streaming_content))
    schema = api.get("/api/schema/").content.decode()
    for path in ("/api/snapshots/{snapshot_id}/exports/", "/api/exports/{export_id}/",
                 "/api/projects/{project_id}/exports/", "/api/snapshots/{snapshot_id}/diff/{other_id}/"):  # fmt: skip
        assert path in schema


def test_snapshot_diff_page_and_api_count_added_removed_changed(client, project, users, data):
    old = data["snapshot"]
    pairs = list(project.preference_pairs.order_by("id"))
    pairs[0].status = PairStatus.EXCLUDED
    pairs[0].save()
    pairs[1].chosen_text_override = "A lead's better answer."
    pairs[1].save()
    make_pairs(project, users["lead"], ["A new prompt?"])
    new = build(project, users)
    api = _client(users, "lead")
    body = api.get(f"/api/snapshots/{old.pk}/diff/{new.pk}/").json()
    assert (body["added"], body["removed"], body["changed"], body["unchanged"]) == (1, 1, 1, 2)
    assert body["changed_by_source"] == {"lead_edits": 1}
    assert api.get(f"/api/snapshots/{old.pk}/diff/?against={new.pk}").json()["added"] == 1
    assert api.get(f"/api/snapshots/{old.pk}/diff/").status_code == 400
    client.force_login(users["lead"])
    page = client.get(f"/snapshots/{old.pk}/diff/?against={new.pk}").content.decode()
    assert 'id="diff-added">1<' in page and "lead_edits" in page
    # another project's snapshot: 404 in both
    other_project = project_services.create_project(name="Other", created_by=users["lead"], overlap=1)
    make_pairs(other_project, users["lead"], ["Elsewhere?"])
    foreign = build(other_project, users)
    assert client.get(f"/snapshots/{old.pk}/diff/?against={foreign.pk}").status_code == 404
    assert api.get(f"/api/snapshots/{old.pk}/diff/{foreign.pk}/").status_code == 404


def test_manage_py_export_from_a_snapshot_and_from_the_pairs_view(project, users, data, tmp_path, capsys):
    snap = data["snapshot"]
    out = tmp_path / "cli"
    call_command("export", "--snapshot", str(snap.pk), "--layout", "trl-preference", "--format", "parquet",
                 "--out", str(out))  # fmt: skip
    assert (out / "train.parquet").exists() and (out / "README.md").exists()
    out2 = tmp_path / "cli2"
    call_command("export", "--project", str(project.pk), "--from", "pairs", "--status", "approved",
                 "--layout", "trl-kto-text", "--format", "csv", "--out", str(out2))  # fmt: skip
    lines = sum(p.read_text().count("\n") - 1 for p in out2.glob("*.csv"))  # train + validation
    assert lines == 2 * snap.total_count and (out2 / "README.md").exists()
    with pytest.raises(Exception, match="layout"):
        call_command("export", "--snapshot", str(snap.pk), "--layout", "trl-messages", "--format", "jsonl",
                     "--out", str(tmp_path / "x"))  # fmt: skip


def test_a_small_jsonl_or_csv_export_streams_each_split_as_a_file_with_its_card_beside(
    client, project, users, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    make_pairs(project, users["lead"], [f"=Prompt {i}?" for i in range(6)])
    snap = build(project, users, val_fraction=0.34)
    assert snap.train_count and snap.val_count
    client.force_login(users["lead"])
    response = client.post(f"/snapshots/{snap.pk}/export/", {"layout": "trl-preference", "format": "jsonl"})
    assert response.status_code == 302 and f"/snapshots/{snap.pk}/export/files/" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    for split in ("train", "validation"):
        assert f"snapshot-{snap.pk}-trl-preference-{split}.jsonl" in page
    assert "export/card/" in page and "export/zip/" in page
    q = {"layout": "trl-preference", "format": "jsonl", "provenance": "1"}
    got = {}
    for split in ("train", "validation"):
        r = client.get(f"/snapshots/{snap.pk}/export/file/", {**q, "split": split})
        assert r.status_code == 200 and r.streaming  # a StreamingHttpResponse: never the whole file at once
        assert r["Content-Type"] == "application/x-ndjson; charset=utf-8"
        assert (
            r["Content-Disposition"]
            == f'attachment; filename="snapshot-{snap.pk}-trl-preference-{split}.jsonl"'
        )
        got[split] = [json.loads(line) for line in b"".join(r.streaming_content).decode().splitlines()]
    assert len(got["train"]) == snap.train_count and len(got["validation"]) == snap.val_count
    # the same rows, in the same layout, as the zipped export of the same snapshot
    archive = zipfile.ZipFile(
        io.BytesIO(b"".join(client.get(f"/snapshots/{snap.pk}/export/zip/", q).streaming_content))
    )
    for split in got:
        zipped = [json.loads(line) for line in archive.read(f"{split}.jsonl").decode().splitlines()]
        assert zipped == got[split] and {"prompt", "chosen", "rejected", "annotators"} <= set(got[split][0])
    card = client.get(f"/snapshots/{snap.pk}/export/card/", q)
    assert card["Content-Type"].startswith("text/markdown") and card.content.decode().startswith("---")
    assert f"snapshot-{snap.pk}-trl-preference-train.jsonl" in card.content.decode()
    csv_q = {**q, "layout": "trl-preference-text", "format": "csv", "split": "train"}
    r = client.get(f"/snapshots/{snap.pk}/export/file/", csv_q)
    assert r["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(r.streaming_content).decode()
    assert "'=Prompt" in text and "\n=Prompt" not in text and ",=Prompt" not in text  # formulas neutralised
    # Parquet stays zipped; a large snapshot, or a split it lacks, does not stream
    assert client.get(f"/snapshots/{snap.pk}/export/file/", {**q, "format": "parquet"}).status_code == 400
    assert client.get(f"/snapshots/{snap.pk}/export/file/", {**q, "split": "test"}).status_code == 400
    settings.TUNELOOP_EXPORT_INLINE_ROWS = 2
    assert client.get(f"/snapshots/{snap.pk}/export/file/", {**q, "split": "train"}).status_code == 400
    response = client.post(f"/snapshots/{snap.pk}/export/", {"layout": "trl-preference", "format": "jsonl"})
    assert response["Location"] == f"/exports/{ExportJob.objects.latest('id').pk}/"
