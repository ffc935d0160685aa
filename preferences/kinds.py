"""The comparison kind: 2..N responses to one prompt, judged blind in a per-assignment random order.

Registered with annotation in PreferencesConfig.ready(). The answer is the judgment's payload as
`preferences.payload.normalise` stores it (response ids, never slots); a final answer is
{"outcome", "ranking", "winner"} (+ "text" for an edited gold answer). Labels are independent of
the display order: "response N" (the winner's 1-based canonical position), "tie" or "both_bad".
"""

from django.db.models import Exists, OuterRef

from annotation.core.errors import InvalidInput
from annotation.core.numbers import whole_number
from annotation.kinds.base import Kind
from annotation.kinds.task import order_shown
from annotation.models import Response

from . import label_sql
from .payload import PayloadError, normalise, to_display, whole_strength
from .services import keep_improved_text

TIE, BOTH_BAD = "tie", "both_bad"


def canonical_responses(item) -> list[int]:
    """Ids of the responses annotators compare, in canonical (import) order."""
    return list(item.responses.filter(shown=True).order_by("position").values_list("id", flat=True))


def comparison_label(payload: dict, canonical: list[int]) -> str | None:
    """A comparison answer's overall label, independent of display order: "response N" (1-based
    canonical position of the winner), "tie" or "both_bad"; None when the payload has no ranking."""
    payload = payload or {}
    outcome = payload.get("outcome")
    if outcome in (TIE, BOTH_BAD):
        return outcome
    ranking = payload.get("ranking") or []
    if not ranking or not ranking[0]:
        return None
    top = ranking[0]
    if len(top) > 1:
        return TIE
    winner = top[0]
    return f"response {canonical.index(winner) + 1}" if winner in canonical else f"response id {winner}"


def signed_strength(payload: dict, canonical: list[int]) -> int | None:
    """Pairwise strength from the first canonical response's side (+1..+3 it wins, -1..-3 the second
    does, 0 tie / both bad); None for N-way comparisons or when there is no answer."""
    if len(canonical) != 2:
        return None
    label = comparison_label(payload, canonical)
    if label is None:
        return None
    if label in (TIE, BOTH_BAD):
        return 0
    strength = max(1, whole_strength((payload or {}).get("strength")))
    return strength if label == "response 1" else -strength


def _top(payload):
    ranking = payload.get("ranking") or []
    if payload.get("outcome") in (TIE, BOTH_BAD) or not ranking or len(ranking[0]) != 1:
        return None
    return ranking[0][0]


class ComparisonKind(Kind):
    name = "comparison"
    label = "Comparison"
    noun = "comparison"
    responses = "many"
    scores_required = False  # on comparisons the rubric's criteria are preferences
    rationale_applies = True
    criterion_label_type = "preference"
    final_template = "preferences/_final_answer.html"
    gold_template = "preferences/_gold_answer.html"

    def candidates(self, queryset, user):
        # Nobody judges a comparison that contains a response they wrote.
        return queryset.filter(~Exists(Response.objects.filter(item=OuterRef("pk"), author=user)))

    def task_extras(self, task):
        n = len(task["responses"])
        return {"n": n, "pairwise": n == 2}

    def validate(self, *, item, assignment, project, rubric_version, answer):
        """Display slots -> response ids (the order this annotator saw)."""
        keys = tuple(c["key"] for c in rubric_version.criteria) if rubric_version else ()
        try:
            payload = normalise(answer.get("payload") or {}, order_shown(assignment), criteria_keys=keys)
        except PayloadError as exc:
            raise InvalidInput(errors=exc.errors)
        return {**answer, "payload": payload}

    def answer_values(self, judgment):
        """The stored payload back in the slots this annotator saw."""
        values = super().answer_values(judgment)
        return {**values, "payload": to_display(judgment.payload, order_shown(judgment.assignment))}

    def after_submit(self, judgment):
        """Keep an annotator's improved text as a new response (never shown in the comparison)."""
        keep_improved_text(judgment)

    # --- agreement ---------------------------------------------------------------------------

    def context(self, item):
        return canonical_responses(item)

    def contexts(self, items) -> dict:
        """Canonical response ids of many comparisons in one query."""
        out = {item.pk: [] for item in items}
        rows = Response.objects.filter(item_id__in=list(out), shown=True).order_by("item_id", "position")
        for item_id, response_id in rows.values_list("item_id", "id"):
            out[item_id].append(response_id)
        return out

    def label_of(self, judgment, context):
        return comparison_label(judgment.payload, context or [])

    def gold_label(self, gold_answer, context):
        return comparison_label(gold_answer, context or [])

    def strength(self, judgment, context):
        return signed_strength(judgment.payload, context or [])

    def ranking(self, judgment, context):
        payload = judgment.payload or {}
        if len(context or []) > 2 and payload.get("ranking") and payload.get("outcome") != BOTH_BAD:
            return payload["ranking"]
        return None

    def agreement_sql(self):
        return label_sql.agreement_sql()

    def criterion_labels(self, judgment, context):
        out = {}
        for key, answer in ((judgment.payload or {}).get("criteria") or {}).items():
            label = comparison_label(answer, context or []) if isinstance(answer, dict) else None
            if label is not None:
                out[key] = label
        return out

    # --- final answers -----------------------------------------------------------------------

    def resolution(self, item, judgments, *, scores):
        payload = judgments[-1].payload or {}
        return {
            "outcome": payload.get("outcome"),
            "ranking": payload.get("ranking"),
            "winner": payload.get("winner") if payload.get("outcome") == "win" else _top(payload),
        }

    def validate_final(self, item, answer, *, require_text=False):
        out = self._final(item, answer)
        if require_text:
            text = str(answer.get("text") or "").replace("\r\n", "\n").strip()
            if not text or out.get("winner") is None:
                raise InvalidInput(errors={"text": ["An edited gold answer needs a winner and its text."]})
            out["text"] = text
        return out

    def _final(self, item, answer):
        """{"winner": response id} | {"ranking": [[ids], ...]} | {"outcome": "tie" | "both_bad"}."""
        canonical = canonical_responses(item)
        outcome = str(answer.get("outcome") or "").strip()
        if outcome in (TIE, BOTH_BAD):
            return {"outcome": outcome, "ranking": [sorted(canonical)], "winner": None}
        if answer.get("ranking"):
            try:
                groups = [sorted(int(x) for x in g) for g in answer["ranking"]]
            except (TypeError, ValueError):
                raise InvalidInput(errors={"ranking": ["Give groups of response ids, best first."]})
            if sorted(x for g in groups for x in g) != sorted(canonical):
                raise InvalidInput(errors={"ranking": ["Rank every shown response exactly once."]})
            winner = groups[0][0] if len(groups[0]) == 1 else None
            return {"outcome": "ranked" if len(groups) > 1 else TIE, "ranking": groups, "winner": winner}
        try:
            winner = int(answer.get("winner"))
        except (TypeError, ValueError):
            raise InvalidInput(errors={"winner": ["Give the winning response id, a ranking or an outcome."]})
        if winner not in canonical:
            raise InvalidInput(errors={"winner": ["Not one of this comparison's responses."]})
        others = [r for r in canonical if r != winner]
        return {"outcome": "win", "ranking": [[winner], others], "winner": winner}

    def final_from_judgment(self, item, judgment):
        payload = judgment.payload or {}
        ranking = payload.get("ranking") or []
        winner = (
            ranking[0][0] if ranking and len(ranking[0]) == 1 and payload.get("outcome") != BOTH_BAD else None
        )
        return {"outcome": payload.get("outcome"), "ranking": ranking, "winner": winner}

    def final_from_form(self, post, item):
        final = {}
        if post.get("final_outcome") in (TIE, BOTH_BAD):
            final["outcome"] = post["final_outcome"]
        else:
            final["winner"] = post.get("final_winner")
        if post.get("final_text"):
            final["text"] = post["final_text"]
        return final

    def gold_from_form(self, post, item):
        winner = post.get("winner", "")
        number = whole_number(winner)
        return {"winner": number} if number is not None else {"outcome": winner}


COMPARISON = ComparisonKind()
