"""A project's active-learning settings, edited by its leads (validated, audited): retrain the
quality model every N decisions, the priority's signal weights, the near-duplicate cosine, the
queue priority of selected items and what a selection becomes by default. Read them with
`scores.project_settings` (a project without a row gets the TUNELOOP_AL_* defaults)."""

import math

from django.db import transaction

from annotation.active_learning import scoring
from annotation.active_learning.models import ActiveLearningSettings, SelectionBatch
from annotation.active_learning.scores import project_settings
from annotation.core import audit
from annotation.core.errors import InvalidInput
from annotation.core.permissions import require

FIELDS = ("retrain_every", "weights", "duplicate_threshold", "item_priority", "default_output")
MAX_RETRAIN_EVERY = 100_000
MAX_WEIGHT = 100.0
PRIORITY_RANGE = (-1_000_000, 1_000_000)


def _number(value, kind):
    if isinstance(value, bool):
        raise ValueError
    number = kind(value)
    if kind is float and not math.isfinite(number):
        raise ValueError
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError
    return number


def clean(changes: dict) -> dict:
    """The valid changes, or InvalidInput with every field's error. Unknown fields are errors."""
    errors, out = {}, {}
    for name in set(changes) - set(FIELDS):
        errors[name] = [f"Unknown setting; known: {', '.join(FIELDS)}."]
    if "retrain_every" in changes:
        try:
            value = _number(changes["retrain_every"], int)
            if not 1 <= value <= MAX_RETRAIN_EVERY:
                raise ValueError
            out["retrain_every"] = value
        except (TypeError, ValueError):
            errors["retrain_every"] = [f"A whole number from 1 to {MAX_RETRAIN_EVERY}."]
    if "duplicate_threshold" in changes:
        try:
            value = _number(changes["duplicate_threshold"], float)
            if not 0.0 < value <= 1.0:
                raise ValueError
            out["duplicate_threshold"] = value
        except (TypeError, ValueError):
            errors["duplicate_threshold"] = ["A cosine above 0 and at most 1."]
    if "item_priority" in changes:
        raw = changes["item_priority"]
        try:
            value = None if raw in (None, "") else _number(raw, int)
            if value is not None and not PRIORITY_RANGE[0] <= value <= PRIORITY_RANGE[1]:
                raise ValueError
            out["item_priority"] = value
        except (TypeError, ValueError):
            errors["item_priority"] = [
                f"A whole number from {PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]}, or empty for the default."
            ]
    if "default_output" in changes:
        value = changes["default_output"] or ""
        if value not in ("", *SelectionBatch.Output.values):
            errors["default_output"] = [f"One of: {', '.join(SelectionBatch.Output.values)}."]
        else:
            out["default_output"] = value
    if "weights" in changes:
        weights, problems = changes["weights"], []
        if not isinstance(weights, dict):
            problems.append("An object of signal -> weight.")
        else:
            cleaned = {}
            for name, raw in weights.items():
                if name not in scoring.SIGNALS:
                    problems.append(f"Unknown signal {name!r}; known: {', '.join(scoring.SIGNALS)}.")
                    continue
                try:
                    value = _number(raw, float)
                    if not 0.0 <= value <= MAX_WEIGHT:
                        raise ValueError
                    cleaned[name] = value
                except (TypeError, ValueError):
                    problems.append(f"{name}: a number from 0 to {MAX_WEIGHT:g}.")
            out["weights"] = cleaned
        if problems:
            errors["weights"] = problems
    if errors:
        raise InvalidInput(errors=errors)
    return out


@transaction.atomic
def update(*, project, actor, changes: dict) -> dict:
    """Apply `changes` (a subset of FIELDS; weights merge into the project's own) and return the
    effective settings. All or nothing; audited with the old and new values."""
    require(actor, "configure_active_learning", project)
    valid = clean(changes)
    before = project_settings(project)
    row = ActiveLearningSettings.objects.select_for_update().filter(project=project).first()
    if row is None:
        row = ActiveLearningSettings(
            project=project,
            retrain_every=before["retrain_every"],
            duplicate_threshold=before["duplicate_threshold"],
            weights={},
        )
    for name, value in valid.items():
        setattr(row, name, {**row.weights, **value} if name == "weights" else value)
    row.save()
    after = project_settings(project)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    audit.record(
        actor=actor, project=project, verb="active_learning.settings_updated", obj=row, changed=changed
    )
    return after
