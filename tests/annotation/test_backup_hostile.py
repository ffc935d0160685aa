"""Hostile backup archives (annotation.core.archive.unpack): links, absolute paths, `..`, duplicate
names, members the manifest does not list or lists with another size, a member claiming terabytes, more
bytes than the disk has free, an oversized, deeply nested or malformed manifest. Each is an
ArchiveError (a clean CommandError from `manage.py restore`), and none writes a byte before the
headers and the manifest have been checked."""

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from annotation.core import archive

DB = b"SQLite format 3\x00 pretend"


def entry(path, data):
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def manifest_for(listed, **extra):
    body = {"format": archive.FORMAT, "database": {**entry("db.sqlite3", DB), "engine": "sqlite"}}
    body["files"] = [entry(name, data) for name, data in listed]
    return json.dumps({**body, **extra}).encode()


def build(path, members, manifest=None):
    """A tar.gz with `members` ((TarInfo, bytes or None), in order) then the manifest (bytes)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        if manifest is not None:
            info = tarfile.TarInfo(archive.MANIFEST)
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
    return path


def plain(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def refused(tmp_path, path, match):
    into = tmp_path / "into"
    with pytest.raises(archive.ArchiveError, match=match):
        archive.unpack(path, into)
    written = [p for p in into.rglob("*") if p.is_file()] if into.exists() else []
    return written


def test_a_good_archive_unpacks(tmp_path):
    good = build(tmp_path / "good.tar.gz", [plain("db.sqlite3", DB), plain("files/a/b.bin", b"abc")],
                 manifest_for([("files/a/b.bin", b"abc")]))  # fmt: skip
    unpacked = archive.unpack(good, tmp_path / "into")
    assert unpacked.database.read_bytes() == DB and (unpacked.files / "a" / "b.bin").read_bytes() == b"abc"


@pytest.mark.parametrize(
    "member,match",
    [
        (special("files/link", tarfile.SYMTYPE, "/etc/passwd"), "not a plain file"),
        (special("files/hard", tarfile.LNKTYPE, "db.sqlite3"), "not a plain file"),
        (special("files/fifo", tarfile.FIFOTYPE), "not a plain file"),
        (special("files/dev", tarfile.CHRTYPE), "not a plain file"),
        (plain("/etc/cron.d/evil", b"x"), "unsafe path"),
        (plain("files/../../outside", b"x"), "unsafe path"),
        (plain("..", b"x"), "unsafe path"),
    ],
)
def test_links_devices_and_escaping_paths_are_refused_before_writing(tmp_path, member, match):
    path = build(tmp_path / "evil.tar.gz", [plain("db.sqlite3", DB), member], manifest_for([]))
    assert refused(tmp_path, path, match) == []
    assert not (tmp_path / "outside").exists()


def test_unlisted_resized_or_duplicate_members_write_nothing(tmp_path):
    unlisted = build(
        tmp_path / "u.tar.gz", [plain("db.sqlite3", DB), plain("files/x", b"abc")], manifest_for([])
    )
    assert refused(tmp_path, unlisted, "files/x: not in the manifest") == []
    resized = build(tmp_path / "r.tar.gz", [plain("db.sqlite3", DB), plain("files/x", b"abcdef")],
                    manifest_for([("files/x", b"abc")]))  # fmt: skip
    assert refused(tmp_path, resized, "files/x: size differs") == []
    twice = build(tmp_path / "t.tar.gz", [plain("db.sqlite3", DB), plain("files/x", b"abc"),
                  plain("files/./x", b"abc")], manifest_for([("files/x", b"abc")]))  # fmt: skip
    assert refused(tmp_path, twice, "twice") == []


def test_a_member_claiming_terabytes_writes_nothing(tmp_path):
    """The header says 2 TB; the data is not there. Nothing is written, no disk is filled."""
    info = tarfile.TarInfo("files/bomb")
    info.size = 2 * 10**12
    db, _ = plain("db.sqlite3", DB)
    padded = DB + b"\0" * (-len(DB) % tarfile.BLOCKSIZE)
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(gzip.compress(db.tobuf() + padded + info.tobuf() + b"\0" * 4096))
    assert refused(tmp_path, path, "not a readable backup archive|not in the manifest") == []


def test_more_bytes_than_the_disk_has_free_writes_nothing(tmp_path, monkeypatch):
    data = b"z" * 100_000
    path = build(tmp_path / "big.tar.gz", [plain("db.sqlite3", DB), plain("files/big", data)],
                 manifest_for([("files/big", data)]))  # fmt: skip
    monkeypatch.setattr(archive, "free_bytes", lambda folder: 50_000)
    assert refused(tmp_path, path, "needs 10.* bytes of scratch space") == []


def test_the_listed_size_is_what_is_written(tmp_path):
    """A manifest that lists a member at its header's size: extraction stops at that size."""
    path = build(tmp_path / "ok.tar.gz", [plain("db.sqlite3", DB)], manifest_for([]))
    assert archive.unpack(path, tmp_path / "into").database.stat().st_size == len(DB)


@pytest.mark.parametrize(
    "manifest,match",
    [
        (b"[" * 5000 + b"]" * 5000, "not valid JSON.*nested deeper"),
        (b"[]", "not a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"format": "tuneloop-backup/1", "database": "db.sqlite3"}', "malformed \\(database"),
        (manifest_for([], migrations={"annotation": 5}), "malformed \\(migrations"),
        (manifest_for([], migrations=["0001"]), "malformed \\(migrations"),
        (manifest_for([], data_dir=7), "malformed \\(data_dir"),
        (manifest_for([], files={"a": 1}), "malformed \\(files"),
        (json.dumps({"format": "other/9"}).encode(), "Unknown backup format"),
    ],
)
def test_hostile_manifests_are_archive_errors(tmp_path, manifest, match):
    path = build(tmp_path / "m.tar.gz", [plain("db.sqlite3", DB)], manifest)
    assert refused(tmp_path, path, match) == []


def test_an_oversized_manifest_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_MANIFEST_BYTES", 100)
    path = build(tmp_path / "m.tar.gz", [plain("db.sqlite3", DB)], manifest_for([], padding="x" * 200))
    assert refused(tmp_path, path, "claims .* bytes \\(at most 100\\)") == []
