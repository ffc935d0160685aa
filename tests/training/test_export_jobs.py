"""The Django side of exports: raw-judgment snapshots (pseudonymised), export jobs (progress, restart
of a dead worker), the dataset card from real snapshot metadata, inline downloads, the Hub push."""

import io
import json
import zipfile
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
import yaml
from django.utils import timezone

from annotation.core.errors import Forbidden
from annotation.models import Project
from annotation.queue import services as queue_services
from tests.conftest import GOOD_SCORES
from tests.training.factories import make_pairs, sft_project_data, word_embedder
from training import exports, runs, snapshots, tasks
from training.export import writers
from training.models import ExportJob, RunState

pytestmark = pytest.mark.django_db

NAMES = {"annotator": ("alice.smith", "alice@example.org"), "annotator2": ("bob.jones", "bob@corp.example")}


def build(project, users, kind, **filters):
    filters.setdefault("near_dup_threshold", 1.0)
    return snapshots.build_snapshot(
        project=project, actor=users["lead"], kind=kind, filters=filters, embedder=word_embedder
    )


@pytest.fixture
def named(users):
    for key, (username, email) in NAMES.items():
        users[key].username, users[key].email = username, email
        users[key].save()
    return users


def _zip_texts(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_raw_judgments_snapshot_has_every_judgment_and_no_name_or_email_leaves(project, named, tmp_path):
    sft_project_data(project, named, n=3)
    # a superseded judgment: annotator re-submits an edit of one item
    item = project.items.order_by("id").first()
    assignment = item.assignments.get(annotator=named["annotator"])
    queue_services.submit_judgment(
        assignment=assignment, user=named["annotator"], decision="reject", scores=GOOD_SCORES
    )
    snap = build(project, named, "raw")
    assert snap.kind == "raw" and snap.val_count == 0
    assert snap.train_count == 7  # 3 items x 2 judges + the superseded one
    for fmt, provenance in (("jsonl", True), ("parquet", True), ("csv", False)):
        out = tmp_path / fmt
        result = exports.write(snap, out, layout="raw-judgments", fmt=fmt, provenance=provenance)
        blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
        for username, email in NAMES.values():
            assert username.encode() not in blob and email.encode() not in blob
        assert result["files"]["train"]["rows"] == 7
    rows = [json.loads(line) for line in open(tmp_path / "jsonl" / "train.jsonl")]
    assert sum(not r["is_current"] for r in rows) == 1
    assert {r["annotator"] for r in rows} == {
        exports.pseudonymizer(project)(named["annotator"].pk),
        exports.pseudonymizer(project)(named["annotator2"].pk),
    }
    assert all(r["annotator"].startswith("annotator-") for r in rows)
    first = rows[0]
    assert (
        first["rubric_version"] == 1
        and json.loads(first["scores"])
        and first["decision"] in ("accept", "reject")
    )
    assert "duration_seconds" in first and "flags" in first and "adjudications" in first
    # the pseudonym is stable per project and differs across projects
    other = Project.objects.create(name="Other")
    assert exports.pseudonymizer(other)(named["annotator"].pk) not in {r["annotator"] for r in rows}


def test_raw_snapshots_cannot_train(project, users):
    sft_project_data(project, users, n=2)
    snap = build(project, users, "raw")
    with pytest.raises(runs.InvalidInput):
        runs.start_run(project=project, actor=users["lead"], snapshot=snap)


def test_export_job_writes_the_zip_with_a_card_from_real_snapshot_metadata(
    project, users, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    project.dataset_license = "cc-by-4.0"
    project.save()
    make_pairs(project, users["lead"], [f"Prompt {i}?" for i in range(6)])
    snap = build(project, users, "dpo", val_fraction=0.34, min_confidence=0.5)
    job = runs.request_export(snapshot=snap, actor=users["lead"], layout="trl-preference", fmt="parquet",
                              provenance=True)  # fmt: skip
    assert job.state == RunState.COMPLETED and job.rows_done == snap.total_count == 6
    assert job.file_size > 0 and exports.job_file(job) is not None
    files = _zip_texts(exports.job_file(job).read_bytes())
    assert {"README.md", "train.parquet", "validation.parquet"} <= set(files)
    card = files["README.md"].decode()
    header = yaml.safe_load(card.split("---")[1])
    assert header["license"] == "cc-by-4.0"
    assert snap.content_hash in card and f"#{snap.pk}" in card
    assert f"train: {snap.train_count}" in card and f"validation: {snap.val_count}" in card
    assert "min_confidence" in card and "0.5" in card  # the snapshot's filters
    assert "Consensus rule: majority" in card
    table = pq.read_table(io.BytesIO(files["train.parquet"]))
    assert table.num_rows == snap.train_count and "annotators" in table.column_names


def test_card_lists_rubric_versions_and_agreement_figures(project, users, tmp_path):
    from annotation.quality import reports

    sft_project_data(project, users, n=4)
    reports.recompute_agreement(project=project, actor=users["lead"])
    snap = build(project, users, "sft", val_fraction=0)
    meta = exports.card_meta(snap)
    assert meta["rubric_versions"] == [1] and meta["consensus_rule"] == "unanimous"
    assert meta["agreement"] and any(k.startswith("sft ") for k in meta["agreement"])
    exports.write(snap, tmp_path / "o", layout="trl-messages", fmt="jsonl", provenance=False)
    card = (tmp_path / "o" / "README.md").read_text()
    assert "Rubric versions: 1" in card and "report computed at" in card


def test_the_export_task_reports_progress_and_survives_a_worker_restart(project, users, settings, tmp_path,
                                                                      monkeypatch):  # fmt: skip
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    make_pairs(project, users["lead"], [f"Prompt {i}?" for i in range(7)])
    snap = build(project, users, "dpo", val_fraction=0)
    job = ExportJob.objects.create(project=project, snapshot=snap, layout="trl-preference-text", format="jsonl",
                                   rows_total=snap.total_count)  # fmt: skip
    # a worker claimed it, then died: the job is left running with a heartbeat long gone
    assert exports.claim(job_id=job.pk, attempt=1, hostname="dead@host") is not None
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2), rows_done=3)
    seen = []
    real = exports._progress

    def spy(job_id, attempt, stop):
        inner = real(job_id, attempt, stop)

        def on_row(n):
            inner(n)
            seen.append(ExportJob.objects.values_list("rows_done", "attempt").get(pk=job_id))

        return on_row

    monkeypatch.setattr(exports, "_progress", spy)
    recovered = tasks.recover_stale_exports()
    assert recovered == [job.pk]
    job.refresh_from_db()
    assert job.state == RunState.COMPLETED and job.attempt == 2 and job.rows_done == 7
    assert seen == [(2, 2), (4, 2), (6, 2)]  # progress written as rows stream, under the new attempt
    # the dead attempt's late message does nothing; the export ran exactly once
    assert tasks.run_export_task.apply(args=[job.pk, 1]).get() == "skipped"
    assert tasks.recover_stale_exports() == []
    assert len(list((tmp_path / "exports" / str(job.pk)).glob("*.zip"))) == 1
    lines = _zip_texts(exports.job_file(job).read_bytes())["train.jsonl"].decode().splitlines()
    assert len(lines) == 7


def test_a_worker_that_restarts_requeues_its_own_exports(project, users, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    make_pairs(project, users["lead"], ["Prompt 1?", "Prompt 2?"])
    snap = build(project, users, "dpo", val_fraction=0)
    job = ExportJob.objects.create(project=project, snapshot=snap, layout="trl-kto", format="csv")
    exports.claim(job_id=job.pk, attempt=1, hostname="w1@host")  # fresh heartbeat, but w1 restarted
    assert tasks.recover_stale_exports("w1@host") == [job.pk]
    job.refresh_from_db()
    assert job.state == RunState.COMPLETED and job.attempt == 2 and job.rows_done == 4  # KTO: 2 rows a pair


def test_a_failing_export_records_its_error(project, users, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    make_pairs(project, users["lead"], ["Prompt 1?"])
    snap = build(project, users, "dpo", val_fraction=0)
    job = ExportJob.objects.create(project=project, snapshot=snap, layout="trl-messages", format="jsonl")
    tasks.run_export_task.apply(args=[job.pk, 1])
    job.refresh_from_db()
    assert job.state == RunState.FAILED and "SFT" in job.error and exports.job_file(job) is None


def test_request_export_refuses_a_layout_the_snapshot_cannot_take(project, users):
    make_pairs(project, users["lead"], ["Prompt 1?"])
    snap = build(project, users, "dpo", val_fraction=0)
    with pytest.raises(runs.InvalidInput) as err:
        runs.request_export(snapshot=snap, actor=users["lead"], layout="trl-messages", fmt="jsonl")
    assert "layout" in err.value.errors
    with pytest.raises(runs.InvalidInput) as err:
        runs.request_export(snapshot=snap, actor=users["lead"], layout="trl-preference", fmt="xlsx")
    assert "format" in err.value.errors
    with pytest.raises(Forbidden):
        runs.request_export(snapshot=snap, actor=users["annotator"], layout="trl-preference", fmt="jsonl")
    assert not ExportJob.objects.exists()


@pytest.mark.slow  # builds a `datasets` folder (a heavy library)
def test_push_to_the_hub_uses_the_token_and_never_shows_it(
    project, users, settings, tmp_path, monkeypatch, client
):
    settings.DATA_DIR = tmp_path
    settings.TUNELOOP_HF_TOKEN = "hf_secret_token_123"
    calls = []
    monkeypatch.setattr(
        writers, "push_to_hub", lambda folder, repo, token, **kw: calls.append((folder, repo, token, kw))
    )
    make_pairs(project, users["lead"], ["Prompt 1?", "Prompt 2?"])
    snap = build(project, users, "dpo", val_fraction=0)
    job = runs.request_export(snapshot=snap, actor=users["lead"], layout="trl-preference", fmt="hf")
    assert job.state == RunState.COMPLETED
    client.force_login(users["lead"])
    page = client.get(f"/exports/{job.pk}/").content.decode()
    assert "Push to the Hub" in page and "hf_secret_token_123" not in page
    response = client.post(f"/exports/{job.pk}/push/", {"repo_id": "org/pairs"})
    assert response.status_code == 302
    (folder, repo, token, kw) = calls[0]
    assert repo == "org/pairs" and token == "hf_secret_token_123" and kw["private"] is True
    assert "license" in kw["card"]
    job.refresh_from_db()
    assert job.hub_repo == "org/pairs"
    body = client.get(f"/api/exports/{job.pk}/").content.decode()
    assert "hf_secret_token_123" not in body and "org/pairs" in body
    settings.TUNELOOP_HF_TOKEN = ""
    with pytest.raises(runs.InvalidInput) as err:
        runs.push_export(job=job, actor=users["lead"], repo_id="org/pairs")
    assert "token" in err.value.errors
