"""Backup and restore of the database and the artifact store (`manage.py backup`, `manage.py restore`).

A backup is one tar.gz (`annotation.core.archive`): the database (PostgreSQL: `pg_dump --format=custom`;
SQLite: the online backup API, consistent while the app runs), the artifact folders under
TUNELOOP_DATA_DIR (`ARTIFACT_FOLDERS`: training runs with their adapters and model cards, export jobs'
files, active learning's quality models, pending import uploads, loop reports, media) and a manifest
(format, app version, created_at, database engine, every file's size and sha256, the applied migrations).
Snapshots, eval reports, promotions and the audit trail are database rows: they travel in the dump. Rows
that store a path into the data dir (`PATH_COLUMNS`, registered by each app) are rewritten when the archive
is restored under another TUNELOOP_DATA_DIR, so that they point at the restored files.

`restore` extracts into a folder under the data dir and verifies everything against the manifest before it
touches anything; refuses an archive of another database engine, or one whose database has migrations this
code does not know (a newer release); then swaps the artifact folders in (renames, undone if the database
step fails) and restores the database in one transaction (PostgreSQL: the dump's SQL from
`pg_restore --clean --if-exists` run by `psql --single-transaction` after dropping every table of the
schema, so an empty database and a used one end the same; SQLite: the backup API into the live file);
then migrates (an older backup meets newer code) and clears the cache (figures of the replaced data).
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from annotation.core import archive
from annotation.core.archive import ArchiveError

# Folders under TUNELOOP_DATA_DIR that hold what the database points at. Not backed up: the model cache
# (TUNELOOP_MODEL_CACHE, downloaded base models), collected static files, the SQLite database files
# themselves (the dump is), the Celery broker's SQLite files (transient) and the demo's secret key.
ARTIFACT_FOLDERS = ("runs", "exports", "active_learning", "imports", "loop", "media")
PG_DUMP_NAME = "database.pgdump"
SQLITE_NAME = "database.sqlite3"
CACHE_TABLE = "tuneloop_cache"
LOCK_TIMEOUT = "15s"


# Columns that hold a path into TUNELOOP_DATA_DIR, ("app_label.Model", field name): each app registers
# its own in `ready()`. A restore into another data dir points them at the same place under the new one.
PATH_COLUMNS: list[tuple[str, str]] = []


def register_path_columns(model: str, *fields: str) -> None:
    for name in fields:
        if (model, name) not in PATH_COLUMNS:
            PATH_COLUMNS.append((model, name))


def rebase_paths(old: str, new: str, *, using: str = "default") -> int:
    """Rewrite every registered path equal to `old` or under `old/` to the same path under `new`, in one
    transaction; returns the rows changed. Paths elsewhere (a base model's folder, a Hub id) stay."""
    conn = connections[using]
    qn = conn.ops.quote_name
    old, new, changed = old.rstrip("/"), new.rstrip("/"), 0
    with transaction.atomic(using=using), conn.cursor() as cur:
        for label, name in PATH_COLUMNS:
            model = apps.get_model(label)
            table, col = qn(model._meta.db_table), qn(model._meta.get_field(name).column)
            cur.execute(
                f"UPDATE {table} SET {col} = %s || substr({col}, %s) "
                f"WHERE {col} = %s OR substr({col}, 1, %s) = %s",
                [new, len(old) + 1, old, len(old) + 1, old + "/"],
            )
            changed += cur.rowcount
    return changed


class BackupError(ArchiveError):
    """The backup or restore cannot go on; the message says why and nothing was changed."""


@dataclass
class Outcome:
    path: Path
    manifest: dict
    notes: list[str] = field(default_factory=list)


def _engine(using: str) -> str:
    vendor = connections[using].vendor
    if vendor not in {"postgresql", "sqlite"}:
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {vendor}.")
    return vendor


def _app_version() -> str:
    try:
        return metadata.version("tuneloop")
    except metadata.PackageNotFoundError:
        return "unknown"


def applied_migrations(using: str) -> dict[str, list[str]]:
    state: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connections[using]).applied_migrations()):
        state.setdefault(app, []).append(name)
    return state


def unknown_migrations(state: dict[str, list[str]]) -> list[str]:
    """Migrations recorded in a backup that this code does not have: the backup is from a newer release."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return [
        f"{app}.{name}" for app, names in sorted(state.items()) for name in names if (app, name) not in known
    ]


# --- PostgreSQL client tools -------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(
            f"{name} is not on PATH: install the PostgreSQL client tools of your server's major version "
            "(Debian/Ubuntu: postgresql-client)."
        )
    return path


def tool_major(path: str) -> int:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"\)\s*(\d+)(?:\.\d+)?", out) or re.search(r"(\d+)\.\d+", out)
    if not found:
        raise BackupError(f"Cannot read the version of {path} from {out.strip()!r}.")
    return int(found.group(1))


def _pg_env(using: str) -> dict:
    s = connections[using].settings_dict
    env = dict(os.environ)
    pairs = {
        "PGHOST": s.get("HOST"),
        "PGPORT": s.get("PORT"),
        "PGUSER": s.get("USER"),
        "PGPASSWORD": s.get("PASSWORD"),
        "PGDATABASE": s.get("NAME"),
        "PGSSLMODE": (s.get("OPTIONS") or {}).get("sslmode"),
    }
    env.update({k: str(v) for k, v in pairs.items() if v})
    return env


def _server_major(using: str) -> int:
    conn = connections[using]
    conn.ensure_connection()
    return conn.pg_version // 10000


def _run(args: list[str], env: dict, what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def _dump_postgres(using: str, out: Path) -> dict:
    pg_dump = _tool("pg_dump")
    major, server = tool_major(pg_dump), _server_major(using)
    if major < server:
        raise BackupError(
            f"pg_dump {major} cannot dump a PostgreSQL {server} server: install pg_dump {server} or newer."
        )
    args = [pg_dump, "--format=custom", "--no-password", f"--file={out}"]
    args.append(f"--exclude-table-data={CACHE_TABLE}")  # derived figures, cleared on restore anyway
    _run(args, _pg_env(using), "pg_dump")
    return {"engine": "postgresql", "server_major": server, "pg_dump_major": major}


# Every table, view and sequence of the schema the dump restores into, so the result is the dump's
# schema whatever was there (an empty database, the same one, one migrated further). One transaction
# with the restore itself (psql --single-transaction).
DROP_ALL = f"""
SET lock_timeout = '{LOCK_TIMEOUT}';
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
           ORDER BY c.relkind DESC
  LOOP
    EXECUTE format(
      CASE r.relkind WHEN 'v' THEN 'DROP VIEW IF EXISTS %I CASCADE'
                     WHEN 'm' THEN 'DROP MATERIALIZED VIEW IF EXISTS %I CASCADE'
                     WHEN 'S' THEN 'DROP SEQUENCE IF EXISTS %I CASCADE'
                     ELSE 'DROP TABLE IF EXISTS %I CASCADE' END, r.relname);
  END LOOP;
END $$;
"""


def _restore_postgres(using: str, dump: Path, db: dict, scratch: Path) -> None:
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    major = tool_major(pg_restore)
    if major < int(db.get("pg_dump_major", 0)):
        raise BackupError(
            f"The dump was made by pg_dump {db['pg_dump_major']}; pg_restore {major} cannot read it: "
            f"install the PostgreSQL {db['pg_dump_major']} client tools or newer."
        )
    prefix = scratch / "drop_all.sql"
    prefix.write_text(DROP_ALL)
    env = _pg_env(using)
    connections[using].close()  # our own idle connection holds nothing, but let go of it
    script = subprocess.Popen(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--file=-", str(dump)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    applied = subprocess.run(
        [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction",
         "-f", str(prefix), "-f", "-"],
        stdin=script.stdout, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    script.stdout.close()
    script_err = script.stderr.read().decode(errors="replace")
    if script.wait() != 0:
        raise BackupError(
            f"pg_restore failed (exit {script.returncode}), nothing was restored: {script_err[-2000:]}"
        )
    if applied.returncode != 0:
        raise BackupError(
            f"Restoring the database failed (psql exit {applied.returncode}), nothing was restored: "
            f"{applied.stderr.strip()[-2000:]}"
        )


# --- SQLite ------------------------------------------------------------------------------------------


def _raw_sqlite(using: str) -> sqlite3.Connection:
    conn = connections[using]
    conn.ensure_connection()
    if not conn.get_autocommit():
        raise BackupError("Backup and restore cannot run inside a transaction.")
    return conn.connection


def _dump_sqlite(using: str, out: Path) -> dict:
    target = sqlite3.connect(out)
    try:
        _raw_sqlite(using).backup(target)  # the online backup API: a consistent copy while others write
    finally:
        target.close()
    return {"engine": "sqlite", "sqlite_version": sqlite3.sqlite_version}


def _restore_sqlite(using: str, dump: Path) -> None:
    source = sqlite3.connect(dump)
    try:
        check = source.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"The SQLite database in the archive fails its integrity check: {check}.")
        source.backup(_raw_sqlite(using))  # replaces the live file's content in one step
    except sqlite3.Error as e:
        raise BackupError(f"Restoring the SQLite database failed, nothing was restored: {e}.") from e
    finally:
        source.close()


# --- backup ------------------------------------------------------------------------------------------


def backup(out: Path, *, using: str = "default", data_dir: Path | None = None) -> Outcome:
    """Write a backup archive of the database `using` and the artifact folders under `data_dir`."""
    data_dir = Path(data_dir or settings.DATA_DIR)
    out = Path(out).absolute()
    engine = _engine(using)
    inside = [f for f in ARTIFACT_FOLDERS if out.is_relative_to((data_dir / f).absolute())]
    if inside:
        raise BackupError(f"Write the backup outside the folders it archives ({data_dir / inside[0]}).")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".backup-") as scratch:
        name = PG_DUMP_NAME if engine == "postgresql" else SQLITE_NAME
        dump = Path(scratch) / name
        migrations = applied_migrations(using)
        db = _dump_postgres(using, dump) if engine == "postgresql" else _dump_sqlite(using, dump)
        manifest = {
            "app_version": _app_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data_dir": str(data_dir),
            "artifact_folders": list(ARTIFACT_FOLDERS),
            "migrations": migrations,
            "database": db,
        }
        files = archive.files_under(data_dir, ARTIFACT_FOLDERS)
        manifest = archive.write(out, manifest, (name, dump), files)
    return Outcome(path=out, manifest=manifest)


# --- restore -----------------------------------------------------------------------------------------


class _Swap:
    """The artifact folders of the archive moved into the data dir; the previous ones kept until commit."""

    def __init__(self, data_dir: Path, new_root: Path, old_root: Path):
        self.data_dir, self.new_root, self.old_root = data_dir, new_root, old_root
        self.moved: list[tuple[Path, Path]] = []  # (from, to), in order, to undo backwards
        old_root.mkdir()

    def _move(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)
        self.moved.append((src, dst))

    def apply(self) -> None:
        try:
            for folder in ARTIFACT_FOLDERS:
                live, new = self.data_dir / folder, self.new_root / folder
                if live.exists() or live.is_symlink():
                    self._move(live, self.old_root / folder)
                if new.exists():
                    self._move(new, live)
        except OSError:
            self.undo()
            raise

    def undo(self) -> None:
        for src, dst in reversed(self.moved):
            os.replace(dst, src)
        self.moved = []


def restore(path: Path, *, using: str = "default", data_dir: Path | None = None) -> Outcome:
    """Restore the archive at `path` into the database `using` and the artifact folders of `data_dir`.
    Verifies everything first; all or nothing."""
    path, data_dir = Path(path), Path(data_dir or settings.DATA_DIR)
    if not path.is_file():
        raise BackupError(f"No backup archive at {path}.")
    engine = _engine(using)
    data_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=data_dir, prefix=".restore-"))  # same filesystem: renames swap
    try:
        unpacked = archive.unpack(path, scratch / "archive")
        manifest = unpacked.manifest
        db = manifest["database"]
        if db.get("engine") != engine:
            raise BackupError(
                f"The archive holds a {db.get('engine')} database; this installation uses {engine}. "
                "Restore it into the same engine (then `manage.py copy_to_postgres` moves SQLite to PostgreSQL)."
            )
        newer = unknown_migrations(manifest.get("migrations", {}))
        if newer:
            raise BackupError(
                f"The backup is from a newer release: its database has migrations this code lacks "
                f"({', '.join(newer[:5])}). Upgrade Tuneloop first, then restore."
            )
        if engine == "postgresql":
            for tool in ("pg_restore", "psql"):
                _tool(tool)  # missing tools fail before anything moves
        swap = _Swap(data_dir, unpacked.files, scratch / "previous")
        swap.apply()
        try:
            if engine == "postgresql":
                _restore_postgres(using, unpacked.database, db, scratch)
            else:
                _restore_sqlite(using, unpacked.database)
        except BaseException:
            swap.undo()
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    notes = []
    call_command("migrate", database=using, interactive=False, verbosity=0)
    cache.clear()
    if manifest.get("data_dir") and Path(manifest["data_dir"]) != data_dir:
        try:
            moved = rebase_paths(manifest["data_dir"], str(data_dir), using=using)
        except DatabaseError as exc:  # e.g. a new path longer than its column: the paths stay as they were
            notes.append(
                f"The backup was made with TUNELOOP_DATA_DIR={manifest['data_dir']}; its stored adapter and "
                f"export paths point there and could not be moved ({exc}). Set TUNELOOP_DATA_DIR to it "
                f"(or link it to {data_dir})."
            )
        else:
            notes.append(
                f"The backup was made with TUNELOOP_DATA_DIR={manifest['data_dir']}: {moved} stored path(s) "
                f"under it now point under {data_dir}."
            )
    return Outcome(path=path, manifest=manifest, notes=notes)


def summary(manifest: dict) -> str:
    files = manifest.get("files", [])
    size = sum(f["size"] for f in files) + manifest["database"]["size"]
    return json.dumps(
        {
            "created_at": manifest.get("created_at"),
            "app_version": manifest.get("app_version"),
            "database": manifest["database"]["engine"],
            "files": len(files),
            "bytes": size,
        }
    )
