"""The agreement sums in the database: build items' states, keep `AgreementTally` up to date.

`refresh(project, since=..., progress=...)` brings the project's sums up to date and returns them with
the mode it used: "incremental" subtracts the stored contribution of every item changed since `since`
(annotation.core.changes) and adds its new one, in one transaction; "full" rebuilds every item's state
in batches of `BATCH` items (a few queries each, memory flat) and writes the sums at the end. A full
rebuild runs when asked (`since=None`) and whenever the stored sums are not known complete (the
`["ok"]` row: a full rebuild deletes it first and writes it last). `reliability_fit(project)` fits
Dawid-Skene per kind from the stored votes (the one figure that is not a sum; annotation.quality.refit
says when). Where a full rebuild's time goes (benchmarks/README.md, profile_agreement.py): reading
the judgments (JSON read as text: scores decoded once per distinct text, payloads only when a hook
reads them; the ISO week computed by PostgreSQL), the kinds' hooks per judgment, each item's part of
the sums (`tally.contributions`, scope parts memoised across items), and writing the states and votes
(COPY straight into the emptied tables). On PostgreSQL a full rebuild first hands the items of the
kinds that give their labels as SQL to annotation.quality.tally_sql (labels, sums, states and votes
set-based, no per-judgment Python, the items split over two connections at once) and runs the
batches above only for the items it leaves (gold items, other kinds, answers the SQL cannot label
exactly); `fresh_sums` stays the Python path. It empties the old states and votes with TRUNCATE
when no other project has rows in their tables (`_truncate_if_alone`), else each share deletes its
items' own; the fresh sums are COPYed in. The Dawid-Skene fit reads the votes grouped by label, as
arrays (`_votes_by_label`).
"""

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Func, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from annotation.core import bulk, changes
from annotation.core.reliability import SparseLabels, dawid_skene, reliability_weights
from annotation.kinds import registry
from annotation.kinds.base import Kind
from annotation.models import (
    AgreementItemState,
    AgreementTally,
    AgreementVote,
    Item,
    Judgment,
    Project,
    RubricVersion,
)
from annotation.quality import tally_sql
from annotation.quality.figures import iso_week, score_value
from annotation.quality.tally import add, contributions, key_text, nonzero, votes

BATCH = 5000
OK = ("ok",)
EXTERNAL = ("external",)  # 1: the sums count external judgments (Project.count_external_judgments)
STARTED = ("started",)  # when the run that last brought the sums up to date started (µs since the epoch)
_FIELDS = ("id", "item_id", "annotator_id", "rubric_version_id", "decision", "edited_text", "scores",
           "payload", "created_at")  # fmt: skip


def _versions(project) -> dict:
    """rubric version id -> (number, {criterion key: type})."""
    return {
        pk: (number, {c["key"]: c["type"] for c in criteria or []})
        for pk, number, criteria in RubricVersion.objects.filter(rubric__project=project).values_list(
            "id", "number", "criteria"
        )
    }


class _Judgment:
    """A current judgment as the kinds' hooks read it: id, item_id, annotator_id, rubric_version_id,
    decision, edited_text, scores, payload (decoded when first read: the SFT hooks never read it), and
    the ISO week of created_at (what the sums need of the time)."""

    __slots__ = ("id", "item_id", "annotator_id", "rubric_version_id", "decision", "edited_text", "scores",
                 "_payload", "week")  # fmt: skip

    @property
    def payload(self):
        if isinstance(self._payload, str):
            self._payload = json.loads(self._payload)
        return self._payload


def _week_sql():
    """SQL for created_at's ISO week (figures.iso_week: the UTC calendar), PostgreSQL only."""
    return Func(F("created_at"), template="""to_char(%(expressions)s AT TIME ZONE 'UTC', 'IYYY-"W"IW')""",
                output_field=TextField())  # fmt: skip


def _judgments(project, item_ids=None, id_range=None):
    """item id -> its current judgments (id order) as `_Judgment`s; one query, without model instances
    (a million of them cost minutes), JSON as text (decoded once per distinct scores text, payloads
    when read). The items: `item_ids`, or the project's items with ids in `id_range` (first, last)."""
    if item_ids is not None and not item_ids:
        return {}
    if item_ids is not None:
        rows = Judgment.objects.filter(item_id__in=item_ids, is_current=True)
    else:
        rows = Judgment.objects.filter(
            item__project=project, item_id__gte=id_range[0], item_id__lte=id_range[1], is_current=True
        )
    if not project.count_external_judgments:  # other teams' work is not our annotators' agreement
        rows = rows.filter(external=False)
    postgres = connection.vendor == "postgresql"
    rows = rows.annotate(scores_t=Cast("scores", TextField()), payload_t=Cast("payload", TextField()))
    if postgres:
        rows = rows.annotate(week=_week_sql())
    fields = [*_FIELDS[:6], "scores_t", "payload_t", "week" if postgres else "created_at"]
    sql, params = rows.order_by("id").values_list(*fields).query.sql_with_params()
    by_item = defaultdict(list)
    scores_of = {}  # scores text -> dict: a few distinct answers among a million judgments
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for jid, item_id, a, version, decision, text, scores, payload, when in cur.fetchall():
            j = _Judgment()
            j.id, j.item_id, j.annotator_id, j.rubric_version_id = jid, item_id, a, version
            j.decision, j.edited_text, j._payload = decision, text, payload
            j.scores = scores_of.get(scores)
            if j.scores is None:
                j.scores = scores_of[scores] = (json.loads(scores) if scores is not None else None) or {}
            if not postgres:
                when = iso_week(when if isinstance(when, datetime) else datetime.fromisoformat(when))
            j.week = when
            by_item[item_id].append(j)
    return by_item


_NO_VERSION = (0, {})


def _scores_cells(types, scores, memo):
    """The state's [[criterion key, type, score value], ...] of a judgment's scores (memoised by the
    identity of the version's types and of the scores, both alive while `memo` is: shared, read only)."""
    key = (id(types), id(scores))
    found = memo.get(key)
    if found is None:
        found = memo[key] = [
            [name, types[name], score_value(types[name], v)]
            for name, v in scores.items()
            if name in types and v is not None
        ]
    return found


def _hooks(kind) -> tuple:
    """The kind's strength, ranking and criterion_labels hooks; None for those it keeps from `Kind`
    (which answer None, None and {} for every judgment: a million calls saved)."""
    return tuple(
        getattr(kind, name) if getattr(type(kind), name) is not getattr(Kind, name) else None
        for name in ("strength", "ranking", "criterion_labels")
    )


def _state(item, kind, context, judgments, versions, memo) -> dict:
    strength, ranking, criterion_labels = memo.get(kind) or memo.setdefault(kind, _hooks(kind))
    cells = []
    for j in judgments:
        number, types = versions.get(j.rubric_version_id, _NO_VERSION)
        scores = j.scores  # one object per distinct scores text (`_judgments`), alive meanwhile
        cells.append([
            j.annotator_id, number, kind.label_of(j, context),
            strength(j, context) if strength else None,
            (ranking(j, context) or None) if ranking else None,
            criterion_labels(j, context) if criterion_labels else {},
            _scores_cells(types, scores, memo), j.week, scores if item.is_gold else {},
        ])  # fmt: skip
    state = {"k": item.kind, "g": item.is_gold, "j": cells}
    if item.is_gold and item.gold_answer is not None:
        state["ga"] = [kind.gold_label(item.gold_answer, context)]
        state["gs"] = item.gold_answer.get("scores") or {}
    return state


def item_states(project, items, versions, *, contiguous=False) -> dict:
    """item id -> state (annotation.quality.tally) for these Item rows; items without a current
    judgment get none. Queries: one per kind that reads a context, one for the judgments (`contiguous`:
    the items are every item of the project in their id range, read by the range)."""
    by_kind = defaultdict(list)
    for item in items:
        by_kind[item.kind].append(item)
    context = {}
    for name, members in by_kind.items():
        context.update(registry.get(name).contexts(members))
    if contiguous and items:
        judgments = _judgments(project, id_range=(items[0].pk, items[-1].pk))
    else:
        judgments = _judgments(project, [i.pk for i in items])
    memo = {}
    return {
        item.pk: _state(item, registry.get(item.kind), context[item.pk], judgments[item.pk], versions, memo)
        for item in items
        if judgments.get(item.pk)
    }


def _items(project):
    return Item.objects.filter(project=project).only("id", "kind", "is_gold", "gold_answer", "project_id")


def _write_states(project, states: dict, gone=(), *, fresh=False):
    """Store the items' states and votes (`fresh`: none stored yet, so they are copied in, not
    upserted); forget the `gone` items'."""
    rows = ((project.pk, pk, state["k"], state) for pk, state in states.items())
    columns = ["project_id", "item_id", "kind", "data"]
    if fresh:
        bulk.insert(AgreementItemState, columns, rows, json=["data"])
    else:
        bulk.upsert(AgreementItemState, columns, rows, conflict=["project_id", "item_id"], update=["kind", "data"],
                    json=["data"])  # fmt: skip
        AgreementVote.objects.filter(project=project, item_id__in=[*states, *gone]).delete()
    rows = (
        (project.pk, state["k"], pk, a, label)
        for pk, state in states.items()
        for a, label in votes(state).items()
    )
    columns = ["project_id", "kind", "item_id", "annotator_id", "label"]
    if fresh:
        bulk.insert(AgreementVote, columns, rows)
    else:
        bulk.upsert(
            AgreementVote, columns, rows, conflict=["project_id", "item_id", "annotator_id"], update=["label"]
        )
    if gone:
        AgreementItemState.objects.filter(project=project, item_id__in=list(gone)).delete()


def _write_sums(project, sums: dict, keys=None):
    """Store `sums` (only `keys` of them, when given: the others are unchanged)."""
    keys = list(sums) if keys is None else list(keys)
    rows = ((project.pk, key_text(k), sums[k]) for k in keys if k in sums)
    bulk.upsert(AgreementTally, ["project_id", "key", "value"], rows, conflict=["project_id", "key"],
                update=["value"])  # fmt: skip
    dropped = [key_text(k) for k in keys if k not in sums]
    for start in range(0, len(dropped), BATCH):
        AgreementTally.objects.filter(project=project, key__in=dropped[start : start + BATCH]).delete()


def stored_sums(project) -> dict:
    rows = list(AgreementTally.objects.filter(project=project).values_list("key", "value"))
    keys = json.loads("[" + ",".join(k for k, _ in rows) + "]")  # one parse, not one per key (key_of)
    out = {}
    for key, (_text, value) in zip(keys, rows, strict=True):  # key_of's tuples: a scope is the first item
        out[(tuple(key[0]), *key[1:]) if type(key[0]) is list else tuple(key)] = value
    return out


def hold(project):
    """Lock the project's sums for the open transaction: no incremental run or full rebuild writes
    sums or votes until it ends (the refit reads both, then stores its report, as of one moment)."""
    _lock(project)


def _lock(project):
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()


def _batches(project, ids=None):
    """(items, their states) in batches of `BATCH` items: every item of the project, or `ids`'."""
    versions, last = _versions(project), 0
    if ids is not None:
        for start in range(0, len(ids), BATCH):
            items = list(_items(project).filter(id__in=ids[start : start + BATCH]).order_by("id"))
            yield items, item_states(project, items, versions)
        return
    while True:
        items = list(_items(project).filter(id__gt=last).order_by("id")[:BATCH])
        if not items:
            return
        yield items, item_states(project, items, versions, contiguous=True)
        last = items[-1].pk


def fresh_sums(project) -> dict:
    """The sums a full rebuild would store, computed without writing anything (tests compare)."""
    acc, memo = Counter(), {}
    for _batch, states in _batches(project):
        for state in states.values():
            contributions(state, acc, memo)
    sums = nonzero(acc)
    sums[OK] = 1
    sums[EXTERNAL] = int(project.count_external_judgments)
    return sums


def _now_us() -> int:
    return int(timezone.now().timestamp() * 1_000_000)


def last_started(project):
    """When the run behind the stored sums started, less the lag (annotation.core.changes): the
    `since` of the next incremental run; None when the sums are incomplete or missing."""
    found = dict(
        AgreementTally.objects.filter(project=project, key__in=[key_text(OK), key_text(STARTED)]).values_list(
            "key", "value"
        )
    )
    if found.get(key_text(OK)) != 1 or key_text(STARTED) not in found:
        return None
    return changes.since(datetime.fromtimestamp(found[key_text(STARTED)] / 1_000_000, tz=UTC))


def _truncate_if_alone(project):
    """PostgreSQL: empty the states' and votes' tables with TRUNCATE when they hold no other project's
    rows (a database of one big project): no dead rows left behind for the next rebuild to insert
    among, nothing for a DELETE to scan. The tables are locked first (ACCESS EXCLUSIVE, to the end of
    the caller's transaction), so no other project's rows arrive between the check and the TRUNCATE.
    Other projects' rows: the full rebuild deletes this project's (tally_sql, or below)."""
    if connection.vendor != "postgresql":
        return
    tables = [AgreementItemState._meta.db_table, AgreementVote._meta.db_table]
    with connection.cursor() as cur:
        cur.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        others = " UNION ALL ".join(f"(SELECT 1 FROM {t} WHERE project_id <> %s LIMIT 1)" for t in tables)
        cur.execute(others, [project.pk] * len(tables))
        if cur.fetchone() is None:
            cur.execute(f"TRUNCATE {', '.join(tables)}")


def full(project, progress=None) -> dict:
    """Rebuild every item's state and the sums from scratch; the sums."""
    started = _now_us()
    with transaction.atomic():
        _lock(project)
        AgreementTally.objects.filter(project=project).delete()  # the ok row first: the rest is incomplete
        _truncate_if_alone(project)
    acc, memo, done = Counter(), {}, 0
    total = Item.objects.filter(project=project).count()
    # PostgreSQL: the SQL kinds' items at once (the old states and votes deleted there), the rest below
    found = tally_sql.full(project)
    if found is None:
        with transaction.atomic():
            AgreementItemState.objects.filter(project=project).delete()
            AgreementVote.objects.filter(project=project).delete()
    rest = None
    if found is not None:
        part, rest = found
        acc.update(part)
        done = total - len(rest)
        if progress is not None:
            progress(done, total)
    for items, states in _batches(project, rest):
        for state in states.values():
            contributions(state, acc, memo)
        with transaction.atomic():  # bulk.upsert's temporary table lives for one transaction
            _write_states(project, states, fresh=True)
        done += len(items)
        if progress is not None:
            progress(done, total)
    sums = nonzero(acc)
    sums[OK], sums[STARTED] = 1, started
    sums[EXTERNAL] = int(project.count_external_judgments)
    with transaction.atomic():
        _lock(project)
        AgreementTally.objects.filter(project=project).delete()  # none, unless a concurrent full run wrote
        rows = ((project.pk, key_text(k), v) for k, v in sums.items())
        bulk.insert(AgreementTally, ["project_id", "key", "value"], rows)
    return sums


def incremental(project, since) -> dict | None:
    """Redo the items changed at or after `since`; the sums (None: the stored ones are incomplete)."""
    with transaction.atomic():
        _lock(project)
        started = _now_us()
        sums = stored_sums(project)
        if sums.get(OK) != 1 or sums.get(EXTERNAL, 0) != int(project.count_external_judgments):
            return None  # incomplete, or counted under the other setting: rebuild
        items = list(_items(project).filter(id__in=changes.changed_items(project, since)))
        ids = [i.pk for i in items]
        old = dict(
            AgreementItemState.objects.filter(project=project, item_id__in=ids).values_list("item_id", "data")
        )
        new = item_states(project, items, _versions(project))
        delta = Counter()
        for pk in ids:
            if pk in old:
                delta.subtract(contributions(old[pk]))
            if pk in new:
                delta.update(contributions(new[pk]))
        touched = [k for k, v in delta.items() if v]
        add(sums, Counter({k: delta[k] for k in touched}))
        sums[STARTED] = started
        touched.append(STARTED)
        _write_sums(project, sums, touched)
        _write_states(project, new, gone=[pk for pk in old if pk not in new])
    return sums


def refresh(project, *, since=None, progress=None) -> tuple[dict, str]:
    """(the project's sums, "full" | "incremental")."""
    if since is not None:
        sums = incremental(project, since)
        if sums is not None:
            return sums, "incremental"
    return full(project, progress), "full"


def names(sums: dict) -> dict:
    ids = {k[2] for k in sums if k[0] in ("AJ", "OG")} | {k[1] for k in sums if k[0] in ("G", "RT")}
    return dict(get_user_model().objects.filter(id__in=ids).values_list("id", "username"))


def _votes_by_label(project, kind) -> list:
    """[(label, annotator ids, item ids)] of the kind's stored votes; PostgreSQL groups them (one row
    per label, arrays: no Python object per vote at a million votes)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                f"""SELECT label, array_agg(annotator_id), array_agg(item_id) FROM {AgreementVote._meta.db_table}
                WHERE project_id = %s AND kind = %s GROUP BY label""",
                [project.pk, kind],
            )
            return cur.fetchall()
    groups = defaultdict(lambda: ([], []))
    for a, u, label in AgreementVote.objects.filter(project=project, kind=kind).values_list(
        "annotator_id", "item_id", "label"
    ):
        groups[label][0].append(a)
        groups[label][1].append(u)
    return [(label, a, u) for label, (a, u) in groups.items()]


def reliability_fit(project):
    """f(kind, annotators, labels) -> {annotator: (accuracy, weight)}: Dawid-Skene on the kind's
    current decisions (non-gold items), from the stored votes, read in one query per kind."""

    def fit(kind, annotators, labels):
        groups = _votes_by_label(project, kind)
        a_index = {a: i for i, a in enumerate(annotators)}
        l_index = {label: i for i, label in enumerate(labels)}
        voter = np.concatenate(
            [np.asarray(a, dtype=np.int64) for _, a, _ in groups] or [np.empty(0, np.int64)]
        )
        item = np.concatenate(
            [np.asarray(u, dtype=np.int64) for _, _, u in groups] or [np.empty(0, np.int64)]
        )
        given = np.concatenate(
            [np.full(len(a), l_index[str(label)], dtype=np.intp) for label, a, _ in groups]
            or [np.empty(0, np.intp)]
        )
        ids = np.asarray(annotators, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        at = np.searchsorted(ids[order], voter).clip(0, max(len(ids) - 1, 0))
        if len(voter) and (not len(ids) or not np.array_equal(ids[order][at], voter)):
            raise KeyError("a vote by an annotator outside the report")  # as a lookup in a_index would
        who = order[at] if len(voter) else np.empty(0, np.intp)  # each vote's annotator's index
        units, unit = np.unique(item, return_inverse=True)
        by = np.lexsort((unit, who))
        rows = np.stack([who[by], unit.reshape(-1)[by], given[by]], axis=1)
        data = SparseLabels(rows[:, 0], rows[:, 1], rows[:, 2], len(annotators), len(units))
        result = dawid_skene(data, n_classes=len(labels), gold=np.full(len(units), -1, dtype=np.int64))
        weights = reliability_weights(result)
        return {a: (float(result.accuracy[i]), float(weights[i])) for a, i in a_index.items()}

    return fit
