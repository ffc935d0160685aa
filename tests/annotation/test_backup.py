"""Backup and restore (annotation.core.backup, `manage.py backup` / `restore`): a project with items,
judgments, a fake adapter folder and an export file backed up, wiped, restored and compared row by row
and file by file; altered, truncated and newer archives refused with nothing changed."""

import gzip
import io
import json
import os
import shutil
import tarfile
import uuid

import dj_database_url
import psycopg
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.utils import load_backend

from annotation.core import archive, backup
from annotation.models import Item, Judgment, Project
from annotation.queue import services as qs
from tests.conftest import GOOD_SCORES, make_items

ON_SQLITE = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) is False


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    adapter = root / "runs" / "7" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(os.urandom(4096))
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    (adapter / "README.md").write_text("# Model card\n")
    export = root / "exports" / "3"
    export.mkdir(parents=True)
    (export / "snapshot-1-trl-jsonl.zip").write_bytes(b"PK\x03\x04 not really a zip " * 50)
    (root / "models").mkdir()
    (root / "models" / "base.bin").write_bytes(b"downloaded base model: not backed up")
    return root


@pytest.fixture
def seeded(project, users):
    make_items(project, users["lead"], 6)
    for who in ("annotator", "annotator2"):
        for _ in range(2):
            a = qs.next_assignment(project=project, user=users[who])
            qs.submit_judgment(assignment=a, user=users[who], decision="accept", scores=GOOD_SCORES)
    return project


def rows(using="default") -> dict:
    """Every row of every table the app's models own, by table, ordered by primary key."""
    out = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            out[model._meta.db_table] = list(model.objects.using(using).order_by("pk").values())
    return out


def hashes(root) -> dict:
    return {
        p.relative_to(root).as_posix(): archive.sha256_of(p)
        for folder in backup.ARTIFACT_FOLDERS
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def drop_sqlite_tables():
    raw = connection.connection
    raw.execute("PRAGMA foreign_keys = OFF")
    for (name,) in raw.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall():
        raw.execute(f'DROP TABLE "{name}"')
    raw.execute("PRAGMA foreign_keys = ON")


sqlite_only = pytest.mark.skipif(not ON_SQLITE, reason="the SQLite path; the PostgreSQL one has its own test")


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_sqlite_round_trip_into_an_empty_database(seeded, data_dir, tmp_path):
    before, files = rows(), hashes(data_dir)
    assert Judgment.objects.count() == 4 and len(files) == 4

    out = tmp_path / "b.tar.gz"
    made = backup.backup(out, data_dir=data_dir)
    listed = {f["path"] for f in made.manifest["files"]}
    assert listed == {f"files/{p}" for p in files}  # the model cache stays out
    assert made.manifest["database"]["engine"] == "sqlite"

    drop_sqlite_tables()  # the disaster: an empty database and an empty data dir
    for folder in backup.ARTIFACT_FOLDERS:
        if (data_dir / folder).exists():
            shutil.rmtree(data_dir / folder)
    (data_dir / "runs").mkdir()
    (data_dir / "runs" / "stray.txt").write_text("written after the backup")

    backup.restore(out, data_dir=data_dir)
    assert rows() == before
    assert hashes(data_dir) == files  # the stray file went with the folder it was in
    assert (data_dir / "models" / "base.bin").exists()
    assert not list(data_dir.glob(".restore-*"))


def test_archive_lists_every_member_with_its_hash(tmp_path, data_dir):
    db = tmp_path / "db.bin"
    db.write_bytes(b"a database")
    files = archive.files_under(data_dir, backup.ARTIFACT_FOLDERS)
    manifest = archive.write(tmp_path / "a.tar.gz", {"migrations": {}}, ("database.bin", db), files)
    unpacked = archive.unpack(tmp_path / "a.tar.gz", tmp_path / "x")
    assert unpacked.manifest == manifest
    assert unpacked.database.read_bytes() == b"a database"
    assert {e["path"]: e["sha256"] for e in manifest["files"]} == {
        f"files/{k}": v for k, v in hashes(data_dir).items()
    }
    assert not (tmp_path / "a.tar.gz.partial").exists()


def _rewrite(src, dst, change):
    """Copy the archive member by member, letting `change(name, data)` alter the bytes."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin:
            data = change(m.name, tin.extractfile(m).read())
            m.size = len(data)
            tout.addfile(m, io.BytesIO(data))


@pytest.fixture
def made(db, seeded, data_dir, tmp_path):
    out = tmp_path / "good.tar.gz"
    backup.backup(out, data_dir=data_dir)
    return out


def _unchanged(data_dir, before_rows, before_files):
    assert rows() == before_rows
    assert hashes(data_dir) == before_files
    assert not list(data_dir.glob(".restore-*"))


@pytest.mark.django_db(transaction=True)
def test_damaged_archives_are_refused_and_nothing_changes(made, data_dir, tmp_path, seeded):
    Item.objects.filter(project=seeded).update(priority=5)  # the live state differs from the backup's
    (data_dir / "exports" / "3" / "later.zip").write_bytes(b"made after the backup")
    before_rows, before_files = rows(), hashes(data_dir)

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(made.read_bytes()[: made.stat().st_size // 2])
    with pytest.raises(archive.ArchiveError, match="not a readable backup archive"):
        backup.restore(truncated, data_dir=data_dir)
    _unchanged(data_dir, before_rows, before_files)

    flipped = tmp_path / "flipped.tar.gz"
    raw = bytearray(gzip.decompress(made.read_bytes()))
    at = raw.index(b'{"r": 8}')
    raw[at + 6] = ord("9")  # one byte of the adapter's config, inside the tar
    flipped.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(archive.ArchiveError, match="integrity check.*adapter_config.json"):
        backup.restore(flipped, data_dir=data_dir)
    _unchanged(data_dir, before_rows, before_files)

    extra = tmp_path / "extra.tar.gz"
    with tarfile.open(made, "r:gz") as tin, tarfile.open(extra, "w:gz") as tout:
        for m in tin:
            tout.addfile(m, tin.extractfile(m))
        smuggled = tarfile.TarInfo("files/runs/7/adapter/extra.bin")
        smuggled.size = 3
        tout.addfile(smuggled, io.BytesIO(b"abc"))
    with pytest.raises(archive.ArchiveError, match="extra.bin: not in the manifest"):
        backup.restore(extra, data_dir=data_dir)

    escaping = tmp_path / "escaping.tar.gz"
    with tarfile.open(escaping, "w:gz") as tout:
        evil = tarfile.TarInfo("../../outside.txt")
        evil.size = 1
        tout.addfile(evil, io.BytesIO(b"x"))
    with pytest.raises(archive.ArchiveError, match="unsafe path"):
        backup.restore(escaping, data_dir=data_dir)
    assert not (tmp_path / "outside.txt").exists()
    _unchanged(data_dir, before_rows, before_files)


@pytest.mark.django_db(transaction=True)
def test_a_newer_release_another_engine_or_a_bare_manifest_is_refused(made, data_dir, tmp_path):
    before_rows, before_files = rows(), hashes(data_dir)
    newer = tmp_path / "newer.tar.gz"

    def future(name, data):
        if name != archive.MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["migrations"].setdefault("annotation", []).append("9999_from_the_future")
        return json.dumps(manifest).encode()

    _rewrite(made, newer, future)
    with pytest.raises(backup.BackupError, match="newer release.*annotation.9999_from_the_future"):
        backup.restore(newer, data_dir=data_dir)
    _unchanged(data_dir, before_rows, before_files)

    other = tmp_path / "other.tar.gz"
    engine = "postgresql" if connection.vendor == "sqlite" else "sqlite"

    def other_engine(name, data):
        if name != archive.MANIFEST:
            return data
        return json.dumps(
            {**json.loads(data), "database": {**json.loads(data)["database"], "engine": engine}}
        ).encode()

    _rewrite(made, other, other_engine)
    with pytest.raises(backup.BackupError, match=f"holds a {engine} database"):
        backup.restore(other, data_dir=data_dir)

    def no_database(name, data):
        if name != archive.MANIFEST:
            return data
        return json.dumps({k: v for k, v in json.loads(data).items() if k != "database"}).encode()

    _rewrite(made, other, no_database)
    with pytest.raises(archive.ArchiveError, match="manifest is incomplete"):
        backup.restore(other, data_dir=data_dir)
    _unchanged(data_dir, before_rows, before_files)


@pytest.mark.django_db(transaction=True)
def test_the_commands(seeded, data_dir, tmp_path, settings, capsys):
    settings.DATA_DIR = data_dir
    out = tmp_path / "cmd.tar.gz"
    call_command("backup", out=str(out))
    assert f"Wrote {out}" in capsys.readouterr().out
    before = rows()
    Judgment.objects.all().delete()
    call_command("restore", str(out), interactive=False)
    assert rows() == before and "Restored" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No backup archive"):
        call_command("restore", str(tmp_path / "missing.tar.gz"), interactive=False)
    with pytest.raises(CommandError, match="outside the folders it archives"):
        call_command("backup", out=str(data_dir / "exports" / "self.tar.gz"))
    assert not (data_dir / "exports" / "self.tar.gz").exists()


@pytest.mark.django_db(transaction=True)
def test_a_restore_under_another_data_dir_points_the_stored_paths_there(
    seeded, data_dir, tmp_path, settings, users
):
    """Rows that store a path into the data dir follow the files to the new one; other paths stay."""
    adapter = data_dir / "runs" / "7" / "adapter"
    Project.objects.filter(pk=seeded.pk).update(current_model_path=str(adapter))
    near = f"{data_dir}-old/runs/7/adapter"  # shares the text prefix, not the folder
    hub = Project.objects.create(name="Hub", created_by=users["admin"], current_model_path="org/model-7b")
    beside = Project.objects.create(name="Beside", created_by=users["admin"], current_model_path=near)
    settings.DATA_DIR = data_dir
    out = tmp_path / "moved.tar.gz"
    backup.backup(out, data_dir=data_dir)

    target = tmp_path / "new home"
    done = backup.restore(out, data_dir=target)
    assert f"1 stored path(s) under it now point under {target}" in done.notes[0]
    moved = Project.objects.get(pk=seeded.pk).current_model_path
    assert moved == str(target / "runs" / "7" / "adapter")
    assert (target / "runs" / "7" / "adapter" / "adapter_config.json").read_text() == '{"r": 8}'
    assert Project.objects.get(pk=beside.pk).current_model_path == near
    assert Project.objects.get(pk=hub.pk).current_model_path == "org/model-7b"

    # restoring under the backup's own data dir changes nothing and says nothing
    again = backup.restore(out, data_dir=data_dir)
    assert again.notes == [] and Project.objects.get(pk=seeded.pk).current_model_path == str(adapter)


def test_every_registered_path_column_exists():
    assert len(backup.PATH_COLUMNS) >= 7
    for label, name in backup.PATH_COLUMNS:
        assert apps.get_model(label)._meta.get_field(name).get_internal_type() == "CharField"


# --- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture
def second_pg():
    """A second, empty database on the test server as the connection alias `restored`; dropped after."""
    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    admin = dict(
        host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"], password=cfg["PASSWORD"]
    )
    name = f"tuneloop_restore_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    both = connections.configure_settings(
        {"default": dict(connections["default"].settings_dict), "restored": {**cfg, "NAME": name}}
    )
    # Registered on the handler only, not in its settings: Django's test case lets such a dynamically
    # created connection through (its guard refuses aliases of settings.DATABASES the test did not name).
    wrapper = load_backend(cfg["ENGINE"]).DatabaseWrapper(both["restored"], "restored")
    connections["restored"] = wrapper
    try:
        yield "restored"
    finally:
        wrapper.close()
        del connections["restored"]
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_round_trip_into_a_second_empty_database(seeded, data_dir, tmp_path, second_pg):
    before, files = rows(), hashes(data_dir)
    out = tmp_path / "pg.tar.gz"
    made = backup.backup(out, data_dir=data_dir)
    assert made.manifest["database"]["engine"] == "postgresql"
    assert made.manifest["database"]["pg_dump_major"] >= made.manifest["database"]["server_major"]

    target_dir = tmp_path / "elsewhere"
    done = backup.restore(out, using=second_pg, data_dir=target_dir)
    assert rows(second_pg) == before
    assert hashes(target_dir) == files
    assert "0 stored path(s)" in done.notes[0]  # another data dir, and no row here points into it

    # again, into the now-used database: the same result, and its sequences follow the restored ids
    backup.restore(out, using=second_pg, data_dir=target_dir)
    assert rows(second_pg) == before
    with connections[second_pg].cursor() as cur:
        cur.execute("INSERT INTO auth_group (name) VALUES ('after the restore')")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_tools_missing_or_too_old_fail_clearly(seeded, data_dir, tmp_path, monkeypatch):
    made = tmp_path / "real.tar.gz"
    backup.backup(made, data_dir=data_dir)  # with the real tools
    (data_dir / "exports" / "3" / "later.zip").write_bytes(b"made after the backup")
    before_rows, before_files = rows(), hashes(data_dir)

    old = tmp_path / "bin"
    old.mkdir()
    (old / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    (old / "pg_dump").chmod(0o755)
    monkeypatch.setenv("PATH", str(old))
    with pytest.raises(backup.BackupError, match=r"pg_dump 9 cannot dump a PostgreSQL \d+ server"):
        backup.backup(tmp_path / "x.tar.gz", data_dir=data_dir)
    (old / "pg_dump").unlink()
    with pytest.raises(backup.BackupError, match="pg_dump is not on PATH"):
        backup.backup(tmp_path / "x.tar.gz", data_dir=data_dir)
    assert not (tmp_path / "x.tar.gz").exists()

    # restore: pg_restore older than the pg_dump that made the archive; the swapped files are put back
    (old / "pg_restore").write_text("#!/bin/sh\necho 'pg_restore (PostgreSQL) 9.6.24'\n")
    (old / "psql").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("pg_restore", "psql"):
        (old / tool).chmod(0o755)
    with pytest.raises(backup.BackupError, match=r"pg_restore 9 cannot read it"):
        backup.restore(made, data_dir=data_dir)
    _unchanged(data_dir, before_rows, before_files)
    (old / "psql").unlink()
    with pytest.raises(backup.BackupError, match="psql is not on PATH"):
        backup.restore(made, data_dir=data_dir)
    _unchanged(data_dir, before_rows, before_files)


# --- the commands on the embedded default, end to end -------------------------------------------------

SEED = """
from django.contrib.auth import get_user_model
from annotation.projects import services as ps
from annotation.queue import services as qs
from tests.conftest import CRITERIA, GOOD_SCORES, make_items
U = get_user_model()
admin = U.objects.create_user("admin1", password="pw")
ann = U.objects.create_user("ann", password="pw")
p = ps.create_project(name="Back me up", created_by=admin, overlap=1)
ps.set_membership(project=p, actor=admin, user=ann, role="annotator")
ps.create_rubric_version(project=p, actor=admin, criteria=CRITERIA)
make_items(p, admin, 5)
for _ in range(3):
    a = qs.next_assignment(project=p, user=ann)
    qs.submit_judgment(assignment=a, user=ann, decision="accept", scores=GOOD_SCORES)
"""
COUNT = "from annotation.models import Item, Judgment, Project; print(Item.objects.count(), Judgment.objects.count())"


@pytest.mark.slow
def test_backup_and_restore_commands_on_a_sqlite_file(tmp_path):
    """`manage.py backup` of the embedded SQLite file and data dir; the file and the adapters lost;
    `manage.py restore` on a fresh start brings both back."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(TUNELOOP_DATA_DIR=str(data), DJANGO_DEBUG="0")

    def manage(*args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    manage("shell", "-c", SEED)
    adapter = data / "runs" / "1" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00weights" * 1000)
    assert manage("shell", "-v0", "-c", COUNT).split() == ["5", "3"]

    out = tmp_path / "nightly.tar.gz"
    manage("backup", "--out", str(out))
    shutil.rmtree(data / "runs")
    for name in ("tuneloop.sqlite3", "tuneloop.sqlite3-wal", "tuneloop.sqlite3-shm"):
        (data / name).unlink(missing_ok=True)

    said = manage("restore", str(out), "--noinput")
    assert "Restored" in said and '"files": 1' in said
    assert manage("shell", "-v0", "-c", COUNT).split() == ["5", "3"]
    assert (adapter / "adapter_model.safetensors").read_bytes() == b"\x00weights" * 1000
