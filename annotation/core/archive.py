"""The backup archive (pure: no Django): one tar.gz holding `manifest.json`, the database dump and the
artifact store's files under `files/`, every member's sha256 in the manifest.

`write` streams each file into the archive once, hashing the bytes it puts in; the manifest goes last
(its hashes are those of the archived bytes). `unpack` reads the headers and the manifest first and
refuses links, absolute paths, `..`, duplicate names, members the manifest does not list or lists
with another size, and more bytes than the scratch folder's disk has free (a tar bomb writes nothing);
then it extracts into a fresh folder and checks every member's sha256 before the caller touches
anything. Used by `annotation.core.backup`.
"""

import hashlib
import io
import json
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from annotation.core import json_text

FORMAT = "tuneloop-backup/1"
MANIFEST = "manifest.json"
FILES = "files"
CHUNK = 1024 * 1024
MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # about 300,000 files listed
MAX_MEMBERS = 1_000_000


class ArchiveError(Exception):
    """The archive cannot be used (unreadable, altered, incomplete): nothing was changed."""


class _Hashing:
    """A file object that hashes what is read through it (tarfile reads exactly the member's size)."""

    def __init__(self, fh):
        self.fh = fh
        self.sha = hashlib.sha256()

    def read(self, n=-1):
        data = self.fh.read(n)
        self.sha.update(data)
        return data


def sha256_of(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def files_under(root: Path, folders) -> list[tuple[str, Path]]:
    """(archive name, path) of every regular file in `folders` under `root`, sorted; links are skipped."""
    found = []
    for folder in folders:
        base = root / folder
        if not base.is_dir() or base.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not (Path(dirpath) / d).is_symlink())
            for name in filenames:
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _add(tar: tarfile.TarFile, name: str, path: Path) -> dict:
    info = tar.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    with open(path, "rb") as fh:
        hashing = _Hashing(fh)
        tar.addfile(info, hashing)
    return {"path": name, "size": info.size, "sha256": hashing.sha.hexdigest()}


def write(out: Path, manifest: dict, database: tuple[str, Path], files: list[tuple[str, Path]]) -> dict:
    """Write the archive to `out` (through `out.partial`, renamed when complete); returns the manifest
    with `database` and `files` entries filled in."""
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    try:
        with tarfile.open(partial, "w:gz") as tar:
            db_name, db_path = database
            manifest = {**manifest, "format": FORMAT}
            manifest["database"] = {**manifest.get("database", {}), **_add(tar, db_name, db_path)}
            manifest["files"] = [_add(tar, f"{FILES}/{name}", path) for name, path in files]
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            info.mtime = int(os.path.getmtime(partial))
            tar.addfile(info, io.BytesIO(body))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return manifest


def _safe_name(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts or name.startswith("/"):
        raise ArchiveError(f"The archive holds an unsafe path: {name!r}.")
    return p


@dataclass
class Unpacked:
    root: Path  # the folder the archive was extracted into
    manifest: dict

    @property
    def database(self) -> Path:
        return self.root / self.manifest["database"]["path"]

    @property
    def files(self) -> Path:
        return self.root / FILES


def free_bytes(folder: Path) -> int:
    """Bytes free on the filesystem that holds `folder`."""
    return shutil.disk_usage(folder).free


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo) -> dict:
    if member.size > MAX_MANIFEST_BYTES:
        raise ArchiveError(
            f"Its {MANIFEST} claims {member.size} bytes (at most {MAX_MANIFEST_BYTES}): not a Tuneloop backup."
        )
    try:
        manifest = json_text.loads(tar.extractfile(member).read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ArchiveError(f"Its {MANIFEST} is not valid JSON ({e}).") from e
    if not isinstance(manifest, dict):
        raise ArchiveError(f"Its {MANIFEST} is not a JSON object: not a Tuneloop backup.")
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"Unknown backup format {manifest.get('format')!r} (expected {FORMAT}).")
    migrations = manifest.get("migrations", {})
    shapes = {
        "database": isinstance(manifest.get("database"), dict),
        "files": isinstance(manifest.get("files", []), list),
        "migrations": isinstance(migrations, dict)
        and all(isinstance(v, list) and all(isinstance(n, str) for n in v) for v in migrations.values()),
        "data_dir": isinstance(manifest.get("data_dir", ""), str),
    }
    wrong = [key for key, ok in shapes.items() if not ok]
    if wrong:
        raise ArchiveError(f"The archive's manifest is incomplete or malformed ({', '.join(wrong)}).")
    return manifest


def _plan(tar: tarfile.TarFile, into: Path) -> tuple[dict, list[tuple[tarfile.TarInfo, PurePosixPath]]]:
    """First pass, headers only (nothing written): every member a plain file (or folder) at a safe,
    unique path, listed in the manifest with the size its header claims, and room for them all.
    A tar bomb (a member claiming terabytes, more members than the manifest lists) stops here."""
    members, seen, manifest_member = [], set(), None
    for member in tar:
        rel = _safe_name(member.name)
        if member.isdir():
            continue
        if not member.isfile():
            raise ArchiveError(f"The archive holds something that is not a plain file: {member.name!r}.")
        name = rel.as_posix()
        if name in seen:
            raise ArchiveError(f"The archive holds {name!r} twice.")
        seen.add(name)
        if name == MANIFEST:
            manifest_member = member
        else:
            members.append((member, rel))
        if len(seen) > MAX_MEMBERS:
            raise ArchiveError(f"The archive holds more than {MAX_MEMBERS} files: not a Tuneloop backup.")
    if manifest_member is None:
        raise ArchiveError(f"It has no {MANIFEST}: not a Tuneloop backup.")
    manifest = _read_manifest(tar, manifest_member)
    sizes = {name: size for name, size, _ in _listed(manifest)}
    problems = [
        f"{rel.as_posix()}: " + ("not in the manifest" if rel.as_posix() not in sizes else "size differs")
        for member, rel in members
        if sizes.get(rel.as_posix()) != member.size
    ]
    _refuse(problems)
    needed = sum(member.size for member, _ in members) + manifest_member.size
    if needed > free_bytes(into):
        raise ArchiveError(
            f"Restoring needs {needed} bytes of scratch space next to the data folder and "
            f"{free_bytes(into)} are free: nothing was restored."
        )
    return manifest, members


def unpack(archive: Path, into: Path) -> Unpacked:
    """Extract `archive` into the empty folder `into` and verify it against its manifest: every file
    listed is there with its size and sha256, nothing else is. Headers and manifest are checked before
    anything is written (`_plan`), the hashes after. Raises ArchiveError otherwise."""
    into.mkdir(parents=True, exist_ok=True)
    hashes: dict[str, tuple[int, str]] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest, members = _plan(tar, into)
            for member, rel in members:
                target = into.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                sha, written = hashlib.sha256(), 0
                with open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        sha.update(chunk)
                        out.write(chunk)
                hashes[rel.as_posix()] = (written, sha.hexdigest())
    except ArchiveError as e:
        raise ArchiveError(f"{archive}: {e}") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ArchiveError(f"{archive} is not a readable backup archive ({type(e).__name__}: {e}).") from e
    verify(hashes, manifest)
    return Unpacked(root=into, manifest=manifest)


def _listed(manifest: dict) -> list[tuple[str, int, str]]:
    """(path, size, sha256) of the database and every file the manifest lists."""
    try:
        listed = [manifest["database"], *manifest.get("files", [])]
        return [(str(e["path"]), int(e["size"]), str(e["sha256"])) for e in listed]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ArchiveError(f"The archive's manifest is incomplete ({type(e).__name__}: {e}).") from e


def _refuse(problems: list[str]) -> None:
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ArchiveError(f"The archive failed its integrity check, nothing was restored: {shown}.")


def verify(hashes: dict[str, tuple[int, str]], manifest: dict) -> None:
    """Every entry of the manifest (the database and each file) matches what was extracted, and nothing
    was extracted that the manifest does not list."""
    listed = _listed(manifest)
    problems = []
    for path, size, sha in listed:
        got = hashes.get(path)
        if got is None:
            problems.append(f"{path}: missing")
        elif got != (size, sha):
            problems.append(f"{path}: size or sha256 differs from the manifest")
    extra = set(hashes) - {path for path, _, _ in listed} - {MANIFEST}
    problems += [f"{name}: not in the manifest" for name in sorted(extra)]
    _refuse(problems)
