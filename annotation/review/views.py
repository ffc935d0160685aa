"""The SFT review page (the annotator's task page for SFT items)."""

from annotation.core.rubrics import panel_criteria
from annotation.kinds.sft import SFT
from annotation.kinds.task import build_task
from annotation.models import FLAG_CHOICES
from annotation.projects import selectors as project_selectors
from annotation.queue.task_flow import TaskFlow
from annotation.review.forms import sft_submission

FLAG_KEYS = {"pii": "p", "unsafe": "u", "factual_error": "f", "off_topic": "o"}


DECISIONS = [("accept", "Accept", "a"), ("edit", "Edit", "e"), ("reject", "Reject", "r")]


class SftReview(TaskFlow):
    kind = SFT
    page_url = "annotation:review"
    full_template = "annotation/review.html"
    partial_template = "annotation/_sft_task.html"

    def parse(self, post):
        return sft_submission(post)

    def saved_notice(self, judgment):
        return f"Saved item #{judgment.item_id}: {judgment.get_decision_display().lower()}."

    def context(self, request, project, assignment, *, values, errors):
        context = {
            "flag_choices": [
                {"key": k, "label": v, "shortcut": FLAG_KEYS[k], "checked": k in values.get("flags", [])}
                for k, v in FLAG_CHOICES.items()
            ],
            "decisions": [
                {"value": v, "label": label, "shortcut": key, "checked": values.get("decision") == v}
                for v, label, key in DECISIONS
            ],
        }
        if assignment is None:
            return context
        task = build_task(assignment)
        version = task["rubric_version"]
        if values.get("rubric_version_id"):
            version = (
                project_selectors.rubric_versions(project).filter(pk=values["rubric_version_id"]).first()
                or version
            )
        response_text = task["response"].text if task["response"] else ""
        known = {"decision", "edited_text", "flags", "comment", "rubric_version", "duration_seconds"}
        criteria = version.criteria if version else []
        context.update(
            task=task,
            rubric_version=version,
            criteria=panel_criteria(criteria, values.get("scores", {}), errors),
            edited_text=values.get("edited_text") or response_text,
            other_errors={k: v for k, v in errors.items() if k not in known and not k.startswith("scores.")},
        )
        return context


review, submit, skip = SftReview().views()
