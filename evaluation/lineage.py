"""A version's lineage, read from the tables that recorded it: judgments (count) -> rubric versions
-> consensus rule and its parameters -> snapshot (hash) -> run (config, environment) -> adapter
(sha256) -> eval report -> promotions (by whom, when); and the model card written into the adapter
folder from it (README.md with the Hub's YAML header).

The card is written when a version is registered (training.registry_links.REGISTERED), when an eval
run finishes, and after each promotion or rollback, so it always shows the latest of these."""

import json
import logging
from pathlib import Path

from django.urls import reverse

from preferences.models import Consensus
from training.models import ExportJob, SnapshotRow

from .models import EvalRun, Promotion

log = logging.getLogger(__name__)
CARD_NAME = "README.md"


def _snapshot_part(snapshot) -> dict:
    judgments, rubric_versions, rules, items = set(), set(), set(), set()
    for provenance in SnapshotRow.objects.filter(snapshot=snapshot).values_list("provenance", flat=True):
        p = provenance if isinstance(provenance, dict) else {}
        judgments.update(p.get("judgment_ids") or [])
        rubric_versions.update(v for v in p.get("rubric_versions") or [] if v is not None)
        if p.get("consensus_rule"):
            rules.add(p["consensus_rule"])
        if p.get("item_id") is not None and p.get("source") == "preferences":
            items.add(p["item_id"])
    params = []
    seen = set()
    for rule, value in (
        Consensus.objects.filter(item_id__in=items, rule__in=rules).values_list("rule", "params").distinct()
    ):
        key = (rule, json.dumps(value, sort_keys=True))
        if key not in seen:
            seen.add(key)
            params.append({"rule": rule, "params": value})
    return {
        "judgments": len(judgments),
        "rubric_versions": sorted(rubric_versions),
        "consensus_rules": sorted(rules),
        "consensus_params": params,
        "snapshot": {
            "id": snapshot.pk,
            "name": snapshot.name,
            "kind": snapshot.kind,
            "content_hash": snapshot.content_hash,
            "train": snapshot.train_count,
            "validation": snapshot.val_count,
            "filters": snapshot.filters,
        },  # fmt: skip
        "hub_datasets": sorted(
            set(
                ExportJob.objects.filter(snapshot=snapshot)
                .exclude(hub_repo="")
                .values_list("hub_repo", flat=True)
            )
        ),
    }


def lineage(version) -> dict:
    """Every step that made the version, oldest first; a missing step is None."""
    snapshot = _snapshot_part(version.snapshot) if version.snapshot_id else None
    run = version.run
    latest = (
        EvalRun.objects.filter(model_version=version, state="completed")
        .order_by("-finished_at", "-id")
        .first()
    )
    report = version.eval_report or {}
    model = report.get("model") or {}
    return {
        "version": {"id": version.pk, "name": version.name, "method": version.method},
        "judgments": snapshot["judgments"] if snapshot else None,
        "rubric_versions": snapshot["rubric_versions"] if snapshot else [],
        "consensus": {"rules": snapshot["consensus_rules"], "params": snapshot["consensus_params"]}
        if snapshot
        else None,
        "snapshot": snapshot["snapshot"] if snapshot else None,
        "hub_datasets": snapshot["hub_datasets"] if snapshot else [],
        "run": {
            "id": run.pk,
            "config": run.config,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        }
        if run
        else None,  # fmt: skip
        "environment": {"libraries": version.library_versions, "device": version.device},
        "adapter": {
            "base_model": version.base_model,
            "sha256": version.adapter_sha256,
            "path": version.adapter_path,
        },
        "eval": {
            "run": latest.pk if latest else report.get("run"),
            "eval_set": (report.get("eval_set") or {}).get("name"),
            "preference_accuracy": (model.get("preference") or {}).get("rate"),
            "forgetting_change_points": ((report.get("comparison") or {}).get("forgetting") or {}).get(
                "change_points"
            ),
            "win_rate": (report.get("human") or {}).get("win_rate"),
            "leak_flagged": bool((report.get("leakage") or {}).get("flagged")),
        }
        if report
        else None,
        "promotions": [
            {
                "action": p.action,
                "label": p.get_action_display(),
                "by": p.by.username if p.by else None,
                "at": p.at,
                "override_reason": p.override_reason,
            }
            for p in Promotion.objects.filter(model_version=version).select_related("by").order_by("id")
        ],  # fmt: skip
    }


def registry_links(version) -> list[tuple[str, str]]:
    """The model registry's links of a version (training.registry_links.LINKS)."""
    return [("Eval report", reverse("evaluation:report", args=[version.pk]))]


def _yaml(value) -> str:
    """A YAML scalar: JSON strings and numbers are valid YAML."""
    return json.dumps(value, ensure_ascii=False)


def model_card(version) -> str:
    """README.md for the adapter folder: the Hub's YAML header, then the lineage in prose and tables."""
    info = lineage(version)
    project = version.project
    snap = info["snapshot"]
    tags = ["tuneloop", "peft", "lora", "trl", version.method or "sft"]
    header = [
        "---",
        f"base_model: {_yaml(version.base_model)}",
        "library_name: peft",
        f"license: {_yaml(project.dataset_license or 'other')}",
        "tags:",
        *[f"- {_yaml(t)}" for t in tags],
    ]
    if info["hub_datasets"]:
        header += ["datasets:", *[f"- {_yaml(d)}" for d in info["hub_datasets"]]]
    header += [
        "tuneloop:",
        f"  version: {_yaml(version.name)}",
        f"  snapshot_sha256: {_yaml(snap['content_hash'] if snap else None)}",
        f"  adapter_sha256: {_yaml(version.adapter_sha256 or None)}",
        "---",
    ]
    lines = [
        f"# {version.name}",
        "",
        f"A {(version.method or 'sft').upper()} LoRA adapter for `{version.base_model}`, trained by Tuneloop "
        f"on human-reviewed data of the project “{project.name}”.",
        "",
        "## Lineage",
        "",
        f"- Judgments: {info['judgments'] if info['judgments'] is not None else 'unknown'}",
        f"- Rubric versions: {', '.join(str(v) for v in info['rubric_versions']) or 'none recorded'}",
    ]
    consensus = info["consensus"] or {"rules": [], "params": []}
    lines.append(f"- Consensus rule: {', '.join(consensus['rules']) or 'none'}")
    for p in consensus["params"]:
        lines.append(f"  - {p['rule']} parameters: `{json.dumps(p['params'], sort_keys=True)}`")
    if snap:
        lines.append(
            f"- Snapshot #{snap['id']} ({snap['kind']}, {snap['train']} train / {snap['validation']} validation "
            f"rows), content sha256 `{snap['content_hash']}`"
        )
    if info["run"]:
        lines.append(
            f"- Training run #{info['run']['id']}; config `{json.dumps(info['run']['config'], sort_keys=True)}`"
        )
    env = info["environment"]["libraries"] or {}
    if env:
        lines.append("- Environment: " + ", ".join(f"{k} {v}" for k, v in sorted(env.items())))
    lines.append(f"- Adapter sha256: `{version.adapter_sha256 or 'unknown'}`")
    ev = info["eval"]
    if ev:
        acc = ev["preference_accuracy"]
        lines.append(
            f"- Eval report (run #{ev['run']}, set “{ev['eval_set']}”): held-out preference accuracy "
            f"{'–' if acc is None else f'{acc:.3f}'}; forgetting change {ev['forgetting_change_points']} points"
            + ("; **eval prompts overlapped the training data (flagged)**" if ev["leak_flagged"] else "")
        )
    else:
        lines.append("- Not evaluated yet.")
    for p in info["promotions"]:
        lines.append(
            f"- {p['label']} by {p['by'] or 'unknown'} at {p['at']:%Y-%m-%d %H:%M} UTC"
            + (f" (override: {p['override_reason']})" if p["override_reason"] else "")
        )
    return "\n".join(header + [""] + lines) + "\n"


def write_model_card(version) -> Path | None:
    """Write the card into the adapter folder; None when the folder is not on this server."""
    folder = Path(version.adapter_path or "")
    if not version.adapter_path or not folder.is_dir():
        return None
    path = folder / CARD_NAME
    path.write_text(model_card(version), encoding="utf-8")
    return path


def write_model_card_quietly(version) -> None:
    """For hooks and on_commit callbacks: a card that cannot be written is logged, never raised."""
    try:
        write_model_card(version)
    except Exception:  # noqa: BLE001 - a card never fails the action it follows
        log.exception("could not write the model card of version %s", version.pk)
