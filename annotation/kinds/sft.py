"""The SFT review kind: one candidate response, accepted, edited into a gold answer, or rejected.

The answer is the judgment's `decision` (and `edited_text` for an edit); rubric scores are required.
A final answer is {"decision", "text" (an edit's gold text, else ""), "scores"?}.
The judgment's `payload` may hold only the keys of `PAYLOAD` (else a 400 naming `payload.<key>`):
`issues`, up to 16 short problem tags ("hallucination", "tone"), and `reason`, a short note on why.
"""

from annotation.core.errors import InvalidInput
from annotation.core.rubrics import RubricError, validate_scores
from annotation.kinds.base import Kind
from annotation.models import Decision

MAX_ISSUES, MAX_ISSUE, MAX_REASON = 16, 64, 2000
PAYLOAD = ("issues", "reason")


def validate_sft_payload(payload) -> dict:
    """An SFT judgment's payload: known keys only, each of its type and within its size cap."""
    if not isinstance(payload, dict):
        raise InvalidInput(errors={"payload": ["Must be an object."]})
    errors = {}
    for key in payload:
        if key not in PAYLOAD:
            errors[f"payload.{key}"] = [f"Unknown field; an SFT payload may hold: {', '.join(PAYLOAD)}."]
    issues = payload.get("issues", [])
    if not isinstance(issues, list) or len(issues) > MAX_ISSUES:
        errors["payload.issues"] = [f"Must be a list of at most {MAX_ISSUES} strings."]
    elif not all(isinstance(i, str) and 0 < len(i.strip()) <= MAX_ISSUE for i in issues):
        errors["payload.issues"] = [
            f"Each issue must be a non-empty string of at most {MAX_ISSUE} characters."
        ]
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        errors["payload.reason"] = [f"Must be a string of at most {MAX_REASON} characters."]
    if errors:
        raise InvalidInput(errors=errors)
    out = {}
    if issues:
        out["issues"] = [i.strip() for i in issues]
    if reason.strip():
        out["reason"] = reason.strip()
    return out


def validate_sft_answer(*, decision, edited_text, original_text) -> tuple[str, str]:
    decision = (decision or "").strip()
    if decision not in Decision.values:
        raise InvalidInput(errors={"decision": [f"Must be one of: {', '.join(Decision.values)}."]})
    edited_text = (edited_text or "").replace("\r\n", "\n")
    if decision == Decision.EDIT:
        if not edited_text.strip():
            raise InvalidInput(errors={"edited_text": ["An edit needs the corrected answer."]})
        if edited_text.strip() == (original_text or "").strip():
            raise InvalidInput(
                errors={"edited_text": ["The edit is identical to the response; accept it instead."]}
            )
    else:
        edited_text = ""
    return decision, edited_text


class SftKind(Kind):
    name = "sft"
    label = "SFT review"
    noun = "item"
    responses = "one"
    scores_required = True
    final_template = "annotation/_final_sft.html"
    gold_template = "annotation/_gold_sft.html"

    def task_extras(self, task):
        """The candidate response (with its model name: SFT review is not blind to the model)."""
        ids = [r["id"] for r in task["responses"]]
        return {"response": task["item"].responses.filter(pk__in=ids).order_by("position").first()}

    def validate(self, *, item, assignment, project, rubric_version, answer):
        original = ""
        if (answer.get("decision") or "").strip() == Decision.EDIT:  # only an edit compares with the response
            original = item.responses.order_by("position").values_list("text", flat=True).first() or ""
        decision, edited_text = validate_sft_answer(
            decision=answer.get("decision"), edited_text=answer.get("edited_text"), original_text=original
        )
        payload = validate_sft_payload(answer.get("payload") or {})
        return {**answer, "decision": decision, "edited_text": edited_text, "payload": payload}

    def label_of(self, judgment, context):
        return judgment.decision or None

    def gold_label(self, gold_answer, context):
        return (gold_answer or {}).get("decision")

    def agreement_sql(self):
        """label_of as SQL: the decision, NULL when blank; no strength, ranking or criterion labels."""
        return {"label": "NULLIF({d}, '')", "strength": "NULL::integer", "criterion": None, "ok": "true",
                "context": None}  # fmt: skip

    def resolution(self, item, judgments, *, scores):
        edits = [j for j in judgments if j.decision == Decision.EDIT and j.edited_text]
        return {
            "decision": judgments[-1].decision,
            "text": edits[-1].edited_text if edits else "",
            "scores": scores,
        }

    def validate_final(self, item, answer, *, require_text=False):
        decision = str(answer.get("decision") or "").strip()
        if require_text:
            decision = Decision.EDIT
        if decision not in Decision.values:
            raise InvalidInput(errors={"decision": [f"Must be one of: {', '.join(Decision.values)}."]})
        text = str(answer.get("text") or answer.get("edited_text") or "").replace("\r\n", "\n").strip()
        if decision == Decision.EDIT and not text:
            raise InvalidInput(errors={"text": ["An edit needs the gold answer text."]})
        out = {"decision": decision, "text": text if decision == Decision.EDIT else ""}
        scores = answer.get("scores") or {}
        if scores:
            version = item.project.current_rubric_version()
            try:
                out["scores"] = validate_scores(
                    version.criteria if version else [], scores, require_all=False
                )
            except RubricError as exc:
                raise InvalidInput(errors=exc.errors)
        return out

    def final_from_judgment(self, item, judgment):
        out = {
            "decision": judgment.decision,
            "text": judgment.edited_text if judgment.decision == Decision.EDIT else "",
        }
        if judgment.scores:
            out["scores"] = judgment.scores
        return out

    def final_from_form(self, post, item):
        return {"decision": post.get("final_decision", ""), "text": post.get("final_text", "")}

    def gold_from_form(self, post, item):
        return {"decision": post.get("decision", ""), "text": post.get("text", "")}


SFT = SftKind()
