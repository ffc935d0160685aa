"""Interchange imports, the write path: a parsed Label Studio export or TRL preference dataset
(`annotation.importing.interchange.InterchangeResult`) becomes items with responses (through
`services.import_items`, duplicates skipped) plus, when asked, the other team's judgments.

Storage of an external judgment: a `Judgment` with `external=True` and its `source`, made by a
placeholder user standing for the imported pseudonym (inactive, no password, never a member, so it
never logs in or asks for work), through an `Assignment` in state EXTERNAL, which holds no slot: the
item's counters and state are untouched (the lifecycle's rule counts only leased and submitted
assignments), the item stays in our queue for our annotators, and consensus and curated pairs see
the judgment. Agreement figures leave external judgments out unless the project's
`count_external_judgments` is on (`annotation.quality.facts`). All or nothing: any error writes
nothing. A re-import of the same file adds nothing (duplicate items are matched by content hash, one
judgment per placeholder and item).
"""

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotation.core import audit
from annotation.core.errors import InvalidInput
from annotation.core.permissions import require
from annotation.importing import services
from annotation.importing.label_studio import parse_label_studio
from annotation.importing.parse import ImportFailed, ImportIssue
from annotation.importing.trl_preference import parse_trl_preference
from annotation.kinds import registry
from annotation.kinds.slots import slot_letter
from annotation.models import Assignment, AssignmentState, Item, Judgment
from annotation.queue import lifecycle

FORMATS = {"label-studio": "Label Studio JSON export", "trl": "TRL preference dataset (JSONL or Parquet)"}


def parse_external(raw: bytes, *, name: str, fmt: str, with_judgments: bool, source: str = ""):
    """An uploaded file (bytes) -> InterchangeResult. `fmt`: "label-studio" or "trl" (a .jsonl or
    .parquet file; a save_to_disk folder goes through `parse_path`, the management command's)."""
    if fmt == "label-studio":
        return parse_label_studio(raw)
    if fmt != "trl":
        raise ImportFailed([ImportIssue(0, "format", f"Choose one of {', '.join(FORMATS)}.")])
    suffix = Path(name or "").suffix.lower()
    if suffix not in (".jsonl", ".json", ".ndjson", ".parquet"):
        suffix = ".parquet" if raw[:4] == b"PAR1" else ".jsonl"
    with tempfile.TemporaryDirectory(prefix="import-") as tmp:
        path = Path(tmp) / f"{Path(name or 'upload').stem or 'upload'}{suffix}"
        path.write_bytes(raw)
        return parse_trl_preference(
            path, as_judgments=with_judgments, source=source or f"trl:{name or 'upload'}"
        )


def parse_path(path, *, fmt: str, with_judgments: bool, source: str = ""):
    """A file or (TRL) save_to_disk folder on this server -> InterchangeResult."""
    path = Path(path)
    if fmt == "trl":
        return parse_trl_preference(path, as_judgments=with_judgments, source=source)
    return parse_external(path.read_bytes(), name=path.name, fmt=fmt, with_judgments=with_judgments)


@dataclass
class ExternalImportResult:
    created: int = 0
    duplicates: int = 0
    judgments: int = 0

    def as_dict(self):
        return {"created": self.created, "duplicates": self.duplicates, "judgments": self.judgments}


def placeholder_user(project, pseudonym: str):
    """The inactive user standing for an imported annotator pseudonym in `project`."""
    digest = hashlib.sha256(f"{project.pk}:{pseudonym}".encode()).hexdigest()[:16]
    user, created = get_user_model().objects.get_or_create(
        username=f"external-{project.pk}-{digest}", defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _answer(judgment, n_responses: int) -> dict:
    """The imported judgment as a submit's answer, in the item kind's own terms."""
    if judgment.ranking:
        groups = ["=".join(slot_letter(i) for i in group) for group in judgment.ranking]
        # other tools record no strength: a pairwise win counts as the weakest claim (1, "slightly")
        return {
            "payload": {"ranking": ">".join(groups), "strength": 1},
            "scores": judgment.scores,
            "comment": judgment.comment,
        }
    return {
        "decision": judgment.decision,
        "edited_text": judgment.edited_text,
        "scores": judgment.scores,
        "comment": judgment.comment,
        "payload": {},
    }


def _store(project, item, judgment, where: str) -> bool:
    """Write one external judgment; False when that pseudonym already judged the item."""
    kind = registry.get(item.kind)
    user = placeholder_user(project, judgment.annotator)
    shown = list(item.responses.filter(shown=True).order_by("position").values_list("id", flat=True))
    assignment, created = Assignment.objects.get_or_create(
        item=item, annotator=user,
        defaults={"project": project, "state": AssignmentState.EXTERNAL, "leased_until": timezone.now(),
                  "display_order": shown, "reason": "external", "submitted_at": timezone.now()},
    )  # fmt: skip
    if not created:
        return False
    try:
        answer = kind.validate(
            item=item, assignment=assignment, project=project, rubric_version=None,
            answer=_answer(judgment, len(shown)),
        )  # fmt: skip
    except InvalidInput as exc:
        messages = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.errors.items()) or exc.message
        raise InvalidInput(f"{where}: {messages}", errors={"file": [f"{where}: {messages}"]}) from None
    Judgment.objects.create(
        assignment=assignment, item=item, annotator=user, rubric_version=None,
        decision=answer.get("decision", ""), edited_text=answer.get("edited_text", ""),
        scores=answer.get("scores") or {}, comment=answer.get("comment", "")[:5000],
        payload=answer.get("payload") or {}, duration_seconds=judgment.duration_seconds,
        external=True, source=judgment.source[:200],
    )  # fmt: skip
    lifecycle.touch(item, project.pk)
    return True


@transaction.atomic
def import_interchange(
    *, project, actor, parsed, source: str, with_judgments: bool = True
) -> ExternalImportResult:
    """Write a parsed interchange file: items (duplicates skipped) and, with `with_judgments`, the
    external judgments. Raises ImportFailed (line-numbered issues) when the parse failed, InvalidInput
    naming the record when a judgment does not fit its item; nothing is written then."""
    require(actor, "import_items", project)
    if parsed.errors:
        raise ImportFailed(parsed.errors)
    imported = services.import_items(project=project, actor=actor, records=parsed.records, source=source)
    result = ExternalImportResult(created=imported.created, duplicates=imported.duplicates)
    if with_judgments:
        hashes = [r.content_hash for r in parsed.records]
        items = {i.content_hash: i for i in Item.objects.filter(project=project, content_hash__in=hashes)}
        for number, (record, judgments) in enumerate(zip(parsed.records, parsed.judgments, strict=True), 1):
            item = items[record.content_hash]
            for judgment in judgments:
                result.judgments += _store(project, item, judgment, f"record {number}")
    audit.record(
        actor=actor, project=project, verb="judgments.imported", object_type="project", source=source[:200],
        **result.as_dict(),
    )  # fmt: skip
    return result
