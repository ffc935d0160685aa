"""What changed between two snapshots of a project. No Django; two iterables of snapshot rows in.

Rows are matched by identity, not position:
  SFT         ("item", item_id)
  preference  ("pair", item_id, criterion, the two response ids as a sorted pair), so a pair whose
              winner flipped is the same row, changed
  replay      ("replay", file, line)
  raw         ("judgment", judgment_id); anything else by the hash of its data.
A matched row is changed when its data or its split differs, or when its provenance names other
judgments, adjudications or rubric versions. Each changed row is classified by what its provenance
says moved (one row can count under several sources):
  new_judgments    judgment ids appeared (or left: superseded)
  adjudications    adjudication ids differ (a lead's final word)
  lead_edits       a lead's edit: SFT gold answer from a resolution, a pair's chosen text edited,
                   a pair approved/decided again
  rubric_version   the rubric versions differ
  consensus        the pair's winner, confidence or margin changed with no new judgment
  other            none of those (redaction, text cleanup, split moved)
Memory: one small fingerprint per row of the first snapshot, never the rows themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

SOURCES = ("new_judgments", "adjudications", "lead_edits", "rubric_version", "consensus", "other")


def row_key(row: dict) -> tuple:
    p = row.get("provenance") or {}
    data = row.get("data") or {}
    if p.get("source") == "replay":
        return ("replay", p.get("file"), p.get("line"))
    if p.get("source") == "judgment" and p.get("judgment_ids"):  # a raw-judgments row
        return ("judgment", int(p["judgment_ids"][0]))
    if p.get("item_id") is not None and "chosen" in data:
        responses = tuple(sorted(int(r) for r in p.get("response_ids") or []))
        return ("pair", p["item_id"], p.get("criterion") or "", responses)
    if p.get("item_id") is not None:
        return ("item", p["item_id"])
    return ("data", _hash(data))


def _hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _versions(p: dict) -> tuple:
    versions = p.get("rubric_versions")
    if versions is None and p.get("rubric_version") is not None:
        versions = [p["rubric_version"]]
    return tuple(sorted(versions or []))


def _lead(p: dict) -> tuple:
    gold_from = p.get("gold_from")
    return (
        gold_from if gold_from not in (None, "response", "edit", "none") else None,
        bool(p.get("chosen_edited")),
        p.get("decided_at"),
        p.get("pair_status"),
    )


def fingerprint(row: dict) -> dict:
    p = row.get("provenance") or {}
    data = row.get("data") or {}
    return {
        "split": row.get("split"),
        "data": _hash(data),
        "winner": data.get("chosen") and _hash(data.get("chosen")),
        "judgments": frozenset(p.get("judgment_ids") or []),
        "adjudications": frozenset(p.get("adjudication_ids") or []),
        "lead": _lead(p),
        "rubric_versions": _versions(p),
        "consensus": (p.get("confidence"), p.get("margin"), p.get("consensus_rule")),
    }


def classify(old: dict, new: dict) -> list[str]:
    """The sources of change between two fingerprints of one row ([] when unchanged)."""
    sources = []
    if old["judgments"] != new["judgments"]:
        sources.append("new_judgments")
    if old["adjudications"] != new["adjudications"]:
        sources.append("adjudications")
    if old["lead"] != new["lead"]:
        sources.append("lead_edits")
    if old["rubric_versions"] != new["rubric_versions"]:
        sources.append("rubric_version")
    if not sources and (old["consensus"] != new["consensus"] or old["winner"] != new["winner"]):
        sources.append("consensus")
    if not sources and (old["data"] != new["data"] or old["split"] != new["split"]):
        sources.append("other")
    return sources


@dataclass
class SnapshotDiff:
    added: list[tuple] = field(default_factory=list)
    removed: list[tuple] = field(default_factory=list)
    changed: list[tuple[tuple, list[str]]] = field(default_factory=list)  # (key, sources)
    unchanged: int = 0

    @property
    def by_source(self) -> dict[str, int]:
        counts = Counter(s for _, sources in self.changed for s in sources)
        return {s: counts[s] for s in SOURCES if counts[s]}

    def summary(self) -> dict:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "changed_by_source": self.by_source,
        }


def diff_snapshots(old_rows: Iterable[dict], new_rows: Iterable[dict]) -> SnapshotDiff:
    """Rows added, removed and changed (with their sources) going from `old_rows` to `new_rows`."""
    before: dict[tuple, dict] = {}
    for row in old_rows:
        before[row_key(row)] = fingerprint(row)
    result = SnapshotDiff()
    seen = set()
    for row in new_rows:
        key = row_key(row)
        if key in seen:
            continue
        seen.add(key)
        old = before.get(key)
        if old is None:
            result.added.append(key)
            continue
        sources = classify(old, fingerprint(row))
        if sources:
            result.changed.append((key, sources))
        else:
            result.unchanged += 1
    result.removed = [k for k in before if k not in seen]
    return result
