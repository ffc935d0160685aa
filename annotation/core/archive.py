"""The backup archive (pure: no Django): one tar.gz holding `manifest.json`, the database dump and the
artifact store's files under `files/`, every member's sha256 in the manifest.

`write` streams each file into the archive once, hashing the bytes it puts in; the manifest goes last
(its hashes are those of the archived bytes). `unpack` extracts into a fresh folder, refusing links,
absolute paths and `..`, and checks every member against the manifest before the caller touches
anything. Used by `annotation.core.backup`.
"""

import hashlib
import io
import json
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

FORMAT = "tuneloop-backup/1"
MANIFEST = "manifest.json"
FILES = "files"
CHUNK = 1024 * 1024


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


def unpack(archive: Path, into: Path) -> Unpacked:
    """Extract `archive` into the empty folder `into` and verify it against its manifest: every file
    listed is there with its size and sha256, nothing else is. Raises ArchiveError otherwise."""
    hashes: dict[str, tuple[int, str]] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                rel = _safe_name(member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ArchiveError(
                        f"The archive holds something that is not a plain file: {member.name!r}."
                    )
                target = into.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                sha = hashlib.sha256()
                with open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        sha.update(chunk)
                        out.write(chunk)
                hashes[rel.as_posix()] = (member.size, sha.hexdigest())
    except ArchiveError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise ArchiveError(f"{archive} is not a readable backup archive ({type(e).__name__}: {e}).") from e
    if MANIFEST not in hashes:
        raise ArchiveError(f"{archive} has no {MANIFEST}: not a Tuneloop backup.")
    try:
        manifest = json.loads((into / MANIFEST).read_text())
    except ValueError as e:
        raise ArchiveError(f"{archive}: its {MANIFEST} is not valid JSON ({e}).") from e
    if manifest.get("format") != FORMAT:
        raise ArchiveError(
            f"{archive}: unknown backup format {manifest.get('format')!r} (expected {FORMAT})."
        )
    verify(hashes, manifest)
    return Unpacked(root=into, manifest=manifest)


def verify(hashes: dict[str, tuple[int, str]], manifest: dict) -> None:
    """Every entry of the manifest (the database and each file) matches what was extracted, and nothing
    was extracted that the manifest does not list."""
    try:
        listed = [manifest["database"], *manifest.get("files", [])]
        listed = [
            {"path": str(e["path"]), "size": int(e["size"]), "sha256": str(e["sha256"])} for e in listed
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ArchiveError(f"The archive's manifest is incomplete ({type(e).__name__}: {e}).") from e
    problems = []
    for entry in listed:
        got = hashes.get(entry["path"])
        if got is None:
            problems.append(f"{entry['path']}: missing")
        elif got != (entry["size"], entry["sha256"]):
            problems.append(f"{entry['path']}: size or sha256 differs from the manifest")
    extra = set(hashes) - {e["path"] for e in listed} - {MANIFEST}
    problems += [f"{name}: not in the manifest" for name in sorted(extra)]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ArchiveError(f"The archive failed its integrity check, nothing was restored: {shown}.")
