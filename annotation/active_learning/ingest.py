"""Ingest write path: validated sample records in, ProductionSample rows out, all-or-nothing; and
the project ingest tokens a production service authenticates with."""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from annotation.active_learning.models import ProductionSample, ProjectIngestToken
from annotation.active_learning.records import SampleRecord
from annotation.core import audit
from annotation.core.errors import InvalidInput
from annotation.core.permissions import require

MAX_BATCH = 1000  # samples per API call
TOKEN_PREFIX = "tlk_"


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0

    def as_dict(self):
        return {"created": self.created, "duplicates": self.duplicates}


def _prompt(messages: list[dict]) -> str:
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


def ingest(*, project, records: list[SampleRecord], actor=None, token=None, source: str = "") -> IngestResult:
    """Write records in one transaction; exact duplicates (content hash, within the batch and
    against the project's samples) are skipped and counted. A user needs `ingest_samples`; a
    project ingest token (already checked against the project by the caller) needs no user."""
    if token is None:
        require(actor, "ingest_samples", project)
    elif token.project_id != project.pk:
        raise InvalidInput("This ingest token belongs to another project.")
    with transaction.atomic():
        hashes = [r.content_hash for r in records]
        seen = set()
        for start in range(0, len(hashes), 2000):
            seen.update(
                ProductionSample.objects.filter(
                    project=project, content_hash__in=hashes[start : start + 2000]
                ).values_list("content_hash", flat=True)
            )
        fresh = []
        for r in records:
            if r.content_hash in seen:
                continue
            seen.add(r.content_hash)
            fresh.append(r)
        _insert(project, fresh, source=source[:200])
        rows = fresh
        result = IngestResult(created=len(rows), duplicates=len(records) - len(rows))
        audit.record(
            actor=actor,
            project=project,
            verb="samples.ingested",
            object_type="project",
            source=source[:200],
            token=token.prefix if token is not None else "",
            **result.as_dict(),
        )
    return result


COLUMNS = (
    "project_id", "messages", "prompt", "output", "model_version", "timestamp", "metadata", "thumbs",
    "retried", "edited_text", "external_id", "content_hash", "source", "created_at",
)  # fmt: skip


def _insert(project, fresh: list[SampleRecord], *, source: str) -> None:
    """Raw writes in the caller's transaction (an executemany INSERT on SQLite, COPY on PostgreSQL):
    the ORM's bulk_create compiles each batch of rows field by field, which was most of the ingest
    time (see benchmarks/active_learning.py)."""
    if not fresh:
        return
    ops = connection.ops
    now = ops.adapt_datetimefield_value(timezone.now())
    table = connection.ops.quote_name(ProductionSample._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    params = [
        (
            project.pk,
            json.dumps(r.messages, ensure_ascii=False),
            _prompt(r.messages),
            r.output,
            r.model_version,
            ops.adapt_datetimefield_value(r.timestamp) if r.timestamp else None,
            json.dumps(r.metadata, ensure_ascii=False),
            r.thumbs,
            r.retried,
            r.edited_text,
            r.external_id,
            r.content_hash,
            source,
            now,
        )
        for r in fresh
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: psycopg adapts the rows in C; executemany's statement per row, or one huge
            # multi-row VALUES statement (split into placeholders in Python), took most of the time
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
        else:
            for start in range(0, len(params), MAX_BATCH):
                cursor.executemany(sql, params[start : start + MAX_BATCH])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(*, project, actor, name: str) -> tuple[ProjectIngestToken, str]:
    """A new ingest token; the secret is returned once and only its SHA-256 is stored."""
    require(actor, "manage_ingest_tokens", project)
    name = (name or "").strip()[:200] or "production"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ProjectIngestToken.objects.create(
        project=project, name=name, prefix=secret[:12], token_hash=_digest(secret), created_by=actor
    )
    audit.record(actor=actor, project=project, verb="ingest_token.created", obj=token, name=name)
    return token, secret


def revoke_token(*, token: ProjectIngestToken, actor) -> None:
    require(actor, "manage_ingest_tokens", token.project)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor=actor, project=token.project, verb="ingest_token.revoked", obj=token)


def token_for(secret: str) -> ProjectIngestToken | None:
    """The live token with this secret, or None; notes its use (at most once a minute)."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    token = (
        ProjectIngestToken.objects.select_related("project")
        .filter(token_hash=_digest(secret), revoked_at__isnull=True)
        .first()
    )
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ProjectIngestToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
