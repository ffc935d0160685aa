"""The agreement recompute's running sums (`annotation.quality.tally`): re-exported by
`annotation.models` like the other feature tables.

`AgreementItemState` keeps each judged item's labelled current judgments as the last recompute saw
them (what the item contributed); `AgreementTally` keeps the project's integer sums over the items
(coincidences per scope and judgment count, contingency counts per annotator pair, ...). An
incremental recompute subtracts a changed item's old contribution, adds its new one and rewrites its
state; the report's figures are computed from the sums alone. The row with key `["ok"]` marks a
complete set: a full rebuild removes it first and writes it last; `["started"]` and `["external"]`
say when the last run started and under which counting of external judgments. `AgreementVote` keeps
the non-gold items' current answers in a narrow table for the Dawid-Skene fit.

All three are caches of the judgments, rebuilt by a full recompute, and are kept cheap to write (a
full rebuild at 1M judgments writes ~330k states, ~1M votes and ~90k sums): on PostgreSQL they are
UNLOGGED (migration 0027: no WAL), have no foreign key constraint to the project (its check ran per
inserted row; Django's cascade still deletes a project's rows) and one index each. After a crash
PostgreSQL empties every unlogged table: all three together, so the `["ok"]` row goes with the
states and the next recompute is a full one (tests/annotation/test_agreement_full_parallel.py).
pg_dump keeps their rows (backups), a streaming replica does not have them.
"""

from django.db import models


class AgreementItemState(models.Model):
    """One index, the primary key (project, item): what the incremental run reads and upserts by."""

    pk = models.CompositePrimaryKey("project", "item_id")
    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    item_id = models.BigIntegerField()  # no foreign key: a deleted item's sums stay known
    kind = models.CharField(max_length=16)
    data = models.JSONField(default=dict)  # annotation.quality.tally.item_state's layout

    def __str__(self):
        return f"Agreement state of item {self.item_id}"


class AgreementVote(models.Model):
    """One annotator's current answer on a non-gold item (str of the kind's label), as the last
    recompute saw it: what the Dawid-Skene fit reads, without expanding every state's JSON. One index,
    the primary key (project, item, annotator): a full rebuild inserts a million of these, and each
    index more cost it about a second."""

    pk = models.CompositePrimaryKey("project", "item_id", "annotator_id")
    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=16)
    item_id = models.BigIntegerField()
    annotator_id = models.BigIntegerField()
    label = models.TextField()

    def __str__(self):
        return f"{self.annotator_id} on {self.item_id}: {self.label}"


class AgreementTally(models.Model):
    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    key = models.TextField()  # a JSON list (annotation.quality.tally)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "key"], name="one_tally_per_key")]

    def __str__(self):
        return f"{self.key} = {self.value}"


class ItemSearchText(models.Model):
    """The Items page's search texts of one item, on PostgreSQL (annotation.quality.search_index):
    `prompt` is the item's conversation text as the search compares it (the `content` values,
    `jsonb_path_query_array(messages, '$[*].content')::text`), `responses` every response's text joined
    with `SEPARATOR`. Written in bulk after an import commits and by beat for items made any other
    way; the trigram GIN indexes over UPPER(prompt) and UPPER(responses) are created by migration
    0026_item_search_side_table (PostgreSQL only), not declared here. No foreign key: a row is written
    once per item (items' texts do not change) and a deleted item's row matches nothing (the search
    joins on the item) until the catch-up removes it."""

    item_id = models.BigIntegerField(primary_key=True)
    prompt = models.TextField()
    responses = models.TextField()

    def __str__(self):
        return f"search text of item {self.item_id}"


class ItemSearchPending(models.Model):
    """An item whose `ItemSearchText` row is not written yet (PostgreSQL): a statement trigger on
    annotation_item (migration 0026_item_search_side_table) adds every inserted item here, in the
    inserting transaction, whatever code inserts it; `search_index.fill` moves the rows to the side
    table and deletes them here in one statement. The search matches these items directly."""

    item_id = models.BigIntegerField(primary_key=True)

    def __str__(self):
        return f"item {self.item_id} waits for its search text"
