"""The dataset card: README.md with the Hugging Face Hub's YAML header, then a body that says where the
rows came from and how to load them. No Django; input is a plain dict of snapshot metadata.

`dataset_card(meta)` keys (all optional except `layout`, `format` and `splits`):
  name, description, project, snapshot_id, snapshot_hash, kind ("sft" | "dpo"), layout, format
  ("jsonl" | "parquet" | "csv" | "hf"), splits {"train": n, "validation": n}, files {split: filename},
  filters {...}, rubric_versions [..], agreement {name: value}, consensus_rule, license (an SPDX id
  such as "cc-by-4.0"; "other" when unset), provenance (bool), created_at, repo_id (for the snippet).
"""

from __future__ import annotations

import json

from .layouts import LAYOUTS

SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
)
FILE_SUFFIX = {"jsonl": "jsonl", "parquet": "parquet", "csv": "csv"}
LOADER = {"jsonl": "json", "parquet": "parquet", "csv": "csv"}


def size_category(n: int) -> str:
    for limit, name in SIZE_CATEGORIES:
        if n < limit:
            return name
    return "n>100M"


def _q(value) -> str:
    """A YAML scalar: JSON strings and numbers are valid YAML flow scalars."""
    return json.dumps(value, ensure_ascii=False)


def data_files(meta: dict) -> dict[str, str]:
    """{split: path pattern} as the Hub reads them for this export."""
    fmt = meta["format"]
    if meta.get("files"):
        return dict(meta["files"])
    if fmt == "hf":  # what DatasetDict.push_to_hub writes
        return {s: f"data/{s}-*" for s in meta["splits"]}
    return {s: f"{s}.{FILE_SUFFIX[fmt]}" for s in meta["splits"]}


def yaml_header(meta: dict) -> str:
    layout = LAYOUTS[meta["layout"]]
    total = sum(meta["splits"].values())
    kind = meta.get("kind") or ("dpo" if "dpo" in layout.kinds and "sft" not in layout.kinds else "sft")
    tags = ["tuneloop", meta["layout"], kind]
    if layout.trainer.endswith("Trainer"):
        tags += ["trl", layout.trainer.removesuffix("Trainer").lower()]
    lines = [
        "---",
        f"license: {_q(meta.get('license') or 'other')}",
        "task_categories:",
        "- text-generation",
        "size_categories:",
        f"- {_q(size_category(total))}",
        "tags:",
        *[f"- {_q(t)}" for t in dict.fromkeys(tags)],
        "configs:",
        "- config_name: default",
        "  data_files:",
    ]
    for split, path in data_files(meta).items():
        lines += [f"  - split: {_q(split)}", f"    path: {_q(path)}"]
    lines.append("---")
    return "\n".join(lines) + "\n"


def load_snippet(meta: dict) -> str:
    fmt = meta["format"]
    files = data_files(meta)
    if meta.get("repo_id"):
        return f'from datasets import load_dataset\n\nds = load_dataset("{meta["repo_id"]}")'
    if fmt == "hf":
        return 'from datasets import load_from_disk\n\nds = load_from_disk("path/to/this/folder")'
    mapping = ", ".join(f'"{s}": "{p}"' for s, p in files.items())
    return (
        f'from datasets import load_dataset\n\nds = load_dataset("{LOADER[fmt]}", data_files={{{mapping}}})'
    )


def _train_snippet(meta: dict) -> str:
    trainer = LAYOUTS[meta["layout"]].trainer
    if meta["layout"] == "raw-judgments":
        return "Raw judgments are for analysis (agreement, annotator studies); no trainer reads them."
    if not trainer.endswith("Trainer"):
        return f"Upload the `.jsonl` file as a training file for {trainer}."
    config = trainer.replace("Trainer", "Config")
    return (
        "```python\n"
        f"from trl import {config}, {trainer}\n\n"
        f'trainer = {trainer}(model="<model id>", args={config}(output_dir="out"), '
        'train_dataset=ds["train"], processing_class=tokenizer)\n'
        "trainer.train()\n```"
    )


def _table(mapping: dict) -> list[str]:
    if not mapping:
        return ["(none)"]
    return ["| | |", "|---|---|", *[f"| {k} | {_cell(v)} |" for k, v in mapping.items()]]


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")


def dataset_card(meta: dict) -> str:
    """README.md text: YAML header, then counts, splits, filters, rubric versions, agreement,
    consensus rule, snapshot hash, license, provenance columns, how to load and train."""
    splits = meta["splits"]
    total = sum(splits.values())
    layout = LAYOUTS[meta["layout"]]
    name = meta.get("name") or f"Tuneloop snapshot {meta.get('snapshot_id', '')}".strip()
    body = [
        f"# {name}",
        "",
        meta.get("description")
        or f"Exported from Tuneloop in the `{meta['layout']}` layout ({layout.trainer}).",
        "",
        "## Contents",
        "",
        f"- Rows: {total:,} ({', '.join(f'{s}: {n:,}' for s, n in splits.items())})",
        f"- Layout: `{meta['layout']}` ({'conversational' if layout.conversational else 'plain text'}), "
        f"format: `{meta['format']}`",
        f"- Snapshot: #{meta.get('snapshot_id', '?')}, content hash `{meta.get('snapshot_hash', '')}`",
        f"- Project: {meta.get('project', '')}",
        f"- Created: {meta.get('created_at', '')}",
        f"- License: {meta.get('license') or 'other (not set by the project)'}",
        f"- Consensus rule: {meta.get('consensus_rule') or 'n/a'}",
        f"- Rubric versions: {', '.join(str(v) for v in meta.get('rubric_versions') or []) or 'n/a'}",
        "",
        "## Filters",
        "",
        *_table(meta.get("filters") or {}),
        "",
        "## Agreement",
        "",
        *_table(meta.get("agreement") or {}),
        "",
        "## Provenance",
        "",
        (
            "Each row carries `item_id`, `pair_id`, `judgment_ids`, `adjudication_ids`, `annotators` "
            "(stable per-project pseudonyms, never names), `rubric_versions`, `consensus_rule`, "
            "`confidence` and `lead_edited`."
            if meta.get("provenance")
            else "Provenance columns were not included in this export; the snapshot hash identifies the rows."
        ),
        "",
        "## Load",
        "",
        "```python",
        load_snippet(meta),
        "```",
        "",
        "## Train",
        "",
        _train_snippet(meta),
        "",
    ]
    return yaml_header(meta) + "\n" + "\n".join(body)
