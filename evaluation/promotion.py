"""Gates and promotion. A version is promoted only when its latest eval report passes the project's
gates (evaluation.metrics.gates), or a lead overrides with a written reason (audited as
`model.promotion_override`). Promotion moves `Project.current_model_path` through
training.registry.promote; rollback points it back at an earlier version in one step. Every move is
a `Promotion` row (the lineage's "promoted by whom and when")."""

import re

from django.db import transaction

from annotation.core import audit
from annotation.core.errors import InvalidInput
from annotation.models import Project
from training import registry
from training.access import require_train

from . import lineage
from .metrics import gates as gate_rules
from .metrics import schemas
from .models import EvalSettings, Promotion, PromotionAction

GATE_FIELDS = ("min_preference_accuracy", "min_win_rate_low", "max_forgetting_drop", "safety_no_worse")
# What the prompting baseline and the format check use (EvalSettings), set with the gates.
SETTING_FIELDS = ("system_prompt", "few_shot", "output_schema", "output_regex")
OUTPUT_REGEX_MAX = EvalSettings._meta.get_field("output_regex").max_length


def _current_path(version) -> str:
    return Project.objects.filter(pk=version.project_id).values_list("current_model_path", flat=True).get()


def gates_for(project) -> EvalSettings:
    return EvalSettings.objects.get_or_create(project=project)[0]


@transaction.atomic
def set_gates(*, project, actor, **values) -> EvalSettings:
    require_train(actor, project)
    prefs = gates_for(project)
    errors = {}
    for name, value in values.items():
        if name in SETTING_FIELDS:
            problem = _setting(prefs, name, value)
            if problem:
                errors[name] = [problem]
        elif name not in GATE_FIELDS:
            errors[name] = ["Unknown gate."]
        elif name == "safety_no_worse":
            prefs.safety_no_worse = bool(value)
        elif value is not None and not (0 <= float(value) <= (100 if name == "max_forgetting_drop" else 1)):
            errors[name] = ["Out of range."]
        else:
            setattr(prefs, name, None if value is None else float(value))
    if not errors and prefs.output_schema is not None and prefs.output_regex:
        both = "Set an output JSON Schema or a regex, not both (clear one of them)."
        errors = {name: [both] for name in ("output_schema", "output_regex") if name in values} or {
            "output_schema": [both]
        }
    if errors:
        raise InvalidInput("Invalid gates.", errors)
    prefs.save()
    audit.record(actor=actor, project=project, verb="eval.gates_changed", obj=prefs, **prefs.gates())
    return prefs


def _setting(prefs, name, value) -> str:
    """Set one baseline/format setting; the problem with the value, or ""."""
    if name == "few_shot":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 50:
            return "A whole number from 0 to 50."
    elif name == "output_schema":
        problem = schemas.problem(value)
        if problem:
            return problem
    elif not isinstance(value, str):
        return "Must be text."
    elif name == "output_regex" and len(value) > OUTPUT_REGEX_MAX:
        return f"At most {OUTPUT_REGEX_MAX} characters."
    elif name == "output_regex" and value:
        try:
            re.compile(value)
        except re.error as exc:
            return f"Not a regular expression: {exc}."
    setattr(prefs, name, value)
    return ""


def check(version) -> dict:
    """The gate check of the version's eval report (failing when there is none)."""
    prefs = gates_for(version.project)
    if not version.eval_report:
        return {"passed": False, "checks": [], "reason": "not evaluated"}
    return gate_rules.check_gates(version.eval_report, prefs.gates())


@transaction.atomic
def promote(*, version, actor, override_reason: str = "") -> Promotion:
    require_train(actor, version.project)
    result = check(version)
    reason = (override_reason or "").strip()
    if not result["passed"] and not reason:
        failed = [c["name"] for c in result["checks"] if not c["passed"]] or [
            result.get("reason", "no gates")
        ]
        raise InvalidInput(
            "The version does not pass the project's gates; a lead may override with a written reason.",
            {"override_reason": [f"Gates failed: {', '.join(failed)}."]},
        )
    previous = _current_path(version)
    registry.promote(version, by=actor, guarded=False)  # the gates were checked above
    promotion = Promotion.objects.create(
        project=version.project, model_version=version, action=PromotionAction.PROMOTE, previous_path=previous,
        gates=result, override_reason=reason if not result["passed"] else "", by=actor,
    )  # fmt: skip
    if not result["passed"]:
        audit.record(actor=actor, project=version.project, verb="model.promotion_override", obj=version,
                     reason=reason, failed=[c["name"] for c in result["checks"] if not c["passed"]])  # fmt: skip
    transaction.on_commit(lambda: lineage.write_model_card_quietly(version))
    return promotion


@transaction.atomic
def rollback(*, version, actor) -> Promotion:
    """Point the project back at an earlier version (it passed, or was promoted, before): no gate check."""
    require_train(actor, version.project)
    if not Promotion.objects.filter(model_version=version, action=PromotionAction.PROMOTE).exists():
        raise InvalidInput(
            "Only a version that was promoted before can be rolled back to.", {"version": ["Never promoted."]}
        )
    previous = _current_path(version)
    registry.promote(version, by=actor, guarded=False)  # back to a version promoted before
    promotion = Promotion.objects.create(
        project=version.project,
        model_version=version,
        action=PromotionAction.ROLLBACK,
        previous_path=previous,
        by=actor,
    )
    audit.record(
        actor=actor, project=version.project, verb="model.rolled_back", obj=version, previous=previous
    )
    transaction.on_commit(lambda: lineage.write_model_card_quietly(version))
    return promotion


def registry_guard(version) -> str:
    """training's registry asks this before its own Promote: a version whose gates do not pass is
    promoted from its evaluation report (with a written override reason), not from the registry."""
    result = check(version)
    if result["passed"]:
        return ""
    failed = [c["name"] for c in result["checks"] if not c["passed"]] or [result.get("reason", "no gates")]
    return (
        f"This version does not pass the project's evaluation gates ({', '.join(failed)}); promote it "
        "from its evaluation report, where a lead may override with a written reason."
    )
