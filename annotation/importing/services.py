"""The in-memory import write path: parsed records in, items and responses out, all-or-nothing.

For records already in memory (the demo, interchange imports, tests). Files (page, API, the
`import_items` command) go through `annotation.importing.bulk.import_file`, which streams them and
stores the same rows (tests/annotation/test_bulk_import.py checks both give the same rows)."""

from dataclasses import dataclass, field

from django.db import connection, transaction

from annotation.core import audit
from annotation.core.permissions import require
from annotation.importing.parse import ItemRecord
from annotation.models import Item, Project, Response
from annotation.queue import lifecycle


@dataclass
class ImportResult:
    created: int = 0
    duplicates: int = 0
    item_ids: list[int] = field(default_factory=list)

    def as_dict(self):
        return {"created": self.created, "duplicates": self.duplicates}


@transaction.atomic
def import_items(*, project: Project, actor, records: list[ItemRecord], source: str = "") -> ImportResult:
    """Write parsed records (see annotation.importing.parse) in one transaction; skip exact duplicates.

    Duplicates are by content hash, within the batch and against the project's items.
    """
    source = (source or "")[:200]  # a file name; the column holds 200 characters
    require(actor, "import_items", project)
    hashes = [r.content_hash for r in records]
    existing = set()
    for start in range(0, len(hashes), 5000):
        chunk = hashes[start : start + 5000]
        existing.update(
            Item.objects.filter(project=project, content_hash__in=chunk).values_list(
                "content_hash", flat=True
            )
        )
    fresh, seen = [], set(existing)
    for record in records:
        if record.content_hash in seen:
            continue
        seen.add(record.content_hash)
        fresh.append(record)
    items = lifecycle.create_items(
        project,
        [
            dict(
                kind=r.kind,
                messages=r.messages,
                external_id=r.external_id,
                content_hash=r.content_hash,
                metadata=r.metadata,
                priority=r.priority,
                source=source,
            )
            for r in fresh
        ],
    )
    if not connection.features.can_return_rows_from_bulk_insert:  # pragma: no cover - all our backends can
        by_hash = dict(
            Item.objects.filter(
                project=project, content_hash__in=[r.content_hash for r in fresh]
            ).values_list("content_hash", "id")
        )
        for item in items:
            item.pk = by_hash[item.content_hash]
    Response.objects.bulk_create(
        [
            Response(
                item=item,
                position=pos,
                text=resp["text"],
                model_name=resp.get("model", ""),
                model_version=resp.get("model_version", ""),
                generation_params=resp.get("generation_params") or {},
            )
            for item, record in zip(items, fresh, strict=True)
            for pos, resp in enumerate(record.responses)
        ],
        batch_size=1000,
    )
    result = ImportResult(
        created=len(items), duplicates=len(records) - len(fresh), item_ids=[i.pk for i in items]
    )
    audit.record(
        actor=actor,
        project=project,
        verb="items.imported",
        object_type="project",
        source=source,
        **result.as_dict(),
    )
    return result
