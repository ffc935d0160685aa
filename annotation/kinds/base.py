"""The item-kind contract: what annotation asks of a kind of item, and nothing else.

A kind is a `Kind` subclass registered (`annotation.kinds.registry.register`) in its app's
`AppConfig.ready()`: SFT review in `annotation.kinds.sft`, comparisons in `preferences.kinds`. The
queue, the task pages and API, routing, adjudication and the agreement report call these hooks and
never test an item's kind themselves, so a new kind needs no change there.

Answers travel as plain dicts. An annotator's answer has the keys of a judgment: `decision`,
`edited_text` and `payload` (the kind-specific part). A final answer (gold, routing's resolution, a
lead's adjudication) is the dict stored in `Item.gold_answer` / `Item.resolution` /
`Adjudication.final`. A label is any hashable value two judgments agree on when equal.

The hooks that read judgments get `context`: what `context(item)` returned for the judgment's item,
computed once per item (e.g. a comparison's response ids in canonical order).
"""

from annotation.core.errors import InvalidInput


class Kind:
    """Base of every kind; the defaults suit a kind whose whole answer is the judgment's payload."""

    name: str = ""  # the stored Item.kind value
    label: str = ""  # shown to people: "SFT review"
    noun: str = "item"  # in notices and 404s: "Saved item #3."
    # Import: "one" response per row (`response`), or "many" (a `responses` list of two or more).
    responses: str = "one"
    scores_required: bool = False  # every rubric criterion must be scored on submit
    rationale_applies: bool = False  # the project's "require a rationale" setting applies
    criterion_label_type: str = "criterion"  # the report's `type` of criterion_labels() rows
    final_template: str = "annotation/_final_payload.html"  # adjudication page: the lead's own answer
    gold_template: str = "annotation/_gold_payload.html"  # items page: the gold answer form

    # --- the queue and the annotator's task --------------------------------------------------

    def candidates(self, queryset, user):
        """Narrow the open items `user` may be offered (e.g. never an item with their own text)."""
        return queryset

    def task_extras(self, task: dict) -> dict:
        """Keys the kind adds to the annotator's task (annotation.kinds.task.build_task)."""
        return {}

    # --- submit ------------------------------------------------------------------------------

    def validate(self, *, item, assignment, project, rubric_version, answer: dict) -> dict:
        """The annotator's answer normalised (same keys); raise InvalidInput with field errors."""
        if not isinstance(answer.get("payload"), dict):
            raise InvalidInput(errors={"payload": ["Must be an object."]})
        return answer

    def after_submit(self, judgment) -> None:
        """Runs inside the submit transaction once the judgment is stored."""

    def answer_values(self, judgment) -> dict:
        """A stored judgment as the task form's values (the page's "back" shows them to change)."""
        fields = ("decision", "edited_text", "scores", "flags", "comment", "payload", "rubric_version_id")
        return {name: getattr(judgment, name) for name in fields}

    # --- what counts as agreement ------------------------------------------------------------

    def context(self, item):
        """What the label hooks need to know about `item` (None: nothing)."""
        return None

    def contexts(self, items) -> dict:
        """context() of many items at once, {item id: context}. The quality report gathers every
        item's context with one call per kind: override it to read them in one query."""
        return {item.pk: self.context(item) for item in items}

    def label_of(self, judgment, context):
        """The judgment's overall answer as a nominal label, independent of display order; None
        when it gives none. Routing's majority, agreement figures and gold accuracy compare these."""
        return (judgment.payload or {}).get("label")

    def gold_label(self, gold_answer: dict, context):
        """The label of a gold answer (`Item.gold_answer`), comparable with label_of()."""
        return (gold_answer or {}).get("label")

    def strength(self, judgment, context) -> int | None:
        """An ordinal, signed strength of the answer (agreement report: ordinal alpha); None: none."""
        return None

    def ranking(self, judgment, context) -> list[list[int]] | None:
        """A full ranking of three or more responses, best first (report: Kendall's tau); None."""
        return None

    def criterion_labels(self, judgment, context) -> dict:
        """Per-criterion answers in the payload beyond rubric scores: {criterion key: label}."""
        return {}

    def agreement_sql(self) -> dict | None:
        """The label hooks as PostgreSQL expressions, for the agreement report's set-based full rebuild
        (annotation.quality.tally_sql); None: this kind's items go through the Python hooks. Keys:
        "label" (the text label_of gives, or NULL), "strength" (integer or NULL; may read `{l}`, the
        label), "criterion" (the label of one criterion answer `{p}`, or NULL: criterion_labels
        gives none), "ok" (true where these give exactly what the hooks give, ranking None included:
        an item with any other judgment falls back to the hooks), each over `{p}` (the judgment's
        payload, jsonb), `{d}` (its decision) and `{c}` (the context, bigint[]); "context": a SELECT
        of (item_id, context) for the items in `{items}`, or None."""
        return None

    # --- routing and adjudication: what a final answer means ---------------------------------

    def resolution(self, item, judgments: list, *, scores: dict) -> dict:
        """The final answer of an item approved by agreement, from its majority judgments (the
        latest breaks ties); `scores` is the majority rubric score per criterion."""
        return self.final_from_judgment(item, judgments[-1])

    def validate_final(self, item, answer: dict, *, require_text: bool = False) -> dict:
        """A lead's answer (gold, override; edit_gold with `require_text`), normalised."""
        label = answer.get("label")
        if label in (None, ""):
            raise InvalidInput(errors={"label": ["Give the answer."]})
        out = {"label": label}
        if require_text:
            text = str(answer.get("text") or "").replace("\r\n", "\n").strip()
            if not text:
                raise InvalidInput(errors={"text": ["An edited gold answer needs its text."]})
            out["text"] = text
        return out

    def final_from_judgment(self, item, judgment) -> dict:
        """The final answer when a lead picks `judgment`."""
        return {"label": self.label_of(judgment, self.context(item))}

    def final_from_form(self, post, item) -> dict:
        """The lead's answer from the adjudication page's form (final_template's fields)."""
        return {"label": post.get("final_label", ""), "text": post.get("final_text", "")}

    def gold_from_form(self, post, item) -> dict:
        """The gold answer from the items page's form (gold_template's fields)."""
        return {"label": post.get("label", "")}
