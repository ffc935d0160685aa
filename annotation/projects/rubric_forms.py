"""The rubric builder's forms: one form per criterion in a formset, converted both ways to the rubric
format of `annotation.core.rubrics`, whose `validate_criteria` holds the rules (the JSON path and the
API use the same function, through `services.create_rubric_version`).

`criteria_from_formset` returns the criteria in the order the lead gave them (the formset's ORDER,
deleted forms dropped) or raises `RubricError` whose keys name the criterion: `Criterion 2 ("tone")
labels`; each message is also attached to its form's field.
"""

import re

from django import forms
from django.forms import formset_factory

from annotation.core.rubrics import RubricError, validate_criteria

PREFIX = "criteria"
MAX_CRITERIA = 50
TYPE_CHOICES = [("likert", "Likert scale (1–5)"), ("binary", "Yes / no"), ("labels", "One of several labels")]


class CriterionForm(forms.Form):
    key = forms.CharField(
        required=False,
        max_length=64,
        help_text="Scores are stored under it: lowercase letters, digits, _ (blank: made from the name).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
    )
    label = forms.CharField(required=False, max_length=200, label="Name shown to annotators")
    type = forms.ChoiceField(choices=TYPE_CHOICES, initial="likert")
    labels = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One label per line, at least two.",
    )
    instructions = forms.CharField(
        required=False, max_length=20000, widget=forms.Textarea(attrs={"rows": 3}), help_text="Markdown."
    )
    required = forms.BooleanField(required=False, initial=True)


CriterionFormSet = formset_factory(
    CriterionForm, extra=0, can_order=True, can_delete=True, max_num=MAX_CRITERIA, validate_max=True
)


class VersionForm(forms.Form):
    """The version's own fields, beside the criteria."""

    instructions = forms.CharField(
        required=False,
        max_length=50000,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Rubric instructions",
        help_text="Markdown, shown above the criteria.",
    )
    changelog = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What changed and why.",
    )


def criterion_initial(criterion: dict) -> dict:
    """One criterion of the rubric format as a form's initial values."""
    return {
        "key": criterion.get("key", ""),
        "label": criterion.get("label", ""),
        "type": criterion.get("type", "likert"),
        "labels": "\n".join(criterion.get("labels") or []),
        "instructions": criterion.get("instructions", ""),
        "required": bool(criterion.get("required", True)),
    }


def criterion_formset(criteria=None, data=None):
    """A bound formset (posted `data`) or one filled with `criteria` (the rubric format)."""
    if data is not None:
        return CriterionFormSet(data, prefix=PREFIX)
    return CriterionFormSet(initial=[criterion_initial(c) for c in criteria or []], prefix=PREFIX)


def key_from_label(label: str) -> str:
    """ "Factual accuracy" -> "factual_accuracy": the key a blank key field stands for."""
    return re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")[:64]


def _labels(text: str) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def _order(form, index):
    order = form.cleaned_data.get("ORDER") if hasattr(form, "cleaned_data") else None
    return (order is None, order or 0, index)


def _live_forms(formset) -> list:
    """The forms that count, in the lead's order: not deleted, not an untouched extra form."""
    live = []
    for index, form in enumerate(formset.forms):
        if index >= formset.initial_form_count() and not form.has_changed():
            continue
        if hasattr(form, "cleaned_data") and form.cleaned_data.get("DELETE"):
            continue
        live.append((index, form))
    live.sort(key=lambda pair: _order(pair[1], pair[0]))
    return [form for _, form in live]


def _raw(form) -> dict:
    data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
    label = (data.get("label") or "").strip()
    raw = {
        "key": (data.get("key") or "").strip() or key_from_label(label),
        "type": data.get("type") or "likert",
        "instructions": data.get("instructions") or "",
        "required": bool(data.get("required")),
    }
    if label:
        raw["label"] = label
    if raw["type"] == "labels":
        raw["labels"] = _labels(data.get("labels"))
    return raw


def _name(position: int, form) -> str:
    key = form.data.get(form.add_prefix("key"), "") or key_from_label(
        form.data.get(form.add_prefix("label"), "")
    )
    return f'Criterion {position} ("{key}")' if key else f"Criterion {position}"


_FIELD_RE = re.compile(r"^criteria\[(\d+)\]\.(\w+)$")


def criteria_from_formset(formset) -> list[dict]:
    """The formset's criteria, ordered and normalised by `validate_criteria`; RubricError names each one."""
    formset.is_valid()
    forms_in_order = _live_forms(formset)
    errors: dict[str, list[str]] = {}
    if formset.non_form_errors():
        errors["criteria"] = list(formset.non_form_errors())
    for position, form in enumerate(forms_in_order, start=1):
        for field, messages in form.errors.items():
            errors.setdefault(f"{_name(position, form)} {field}".strip(), []).extend(messages)
    if errors:
        raise RubricError(errors)
    if not forms_in_order:
        raise RubricError({"criteria": ["Add at least one criterion."]})
    try:
        return validate_criteria([_raw(form) for form in forms_in_order])
    except RubricError as exc:
        named: dict[str, list[str]] = {}
        for where, messages in exc.errors.items():
            match = _FIELD_RE.match(where)
            if not match:
                named.setdefault(where, []).extend(messages)
                continue
            index, field = int(match.group(1)), match.group(2)
            form = forms_in_order[index]
            for message in messages:
                form.add_error(field if field in form.fields else None, message)
            named.setdefault(f"{_name(index + 1, form)} {field}", []).extend(messages)
        raise RubricError(named) from exc


def preview_criteria(formset) -> tuple[list[dict], dict[str, list[str]]]:
    """What the preview shows: all the criteria when they are valid; otherwise the errors, and each
    criterion that is valid on its own (so the panel does not vanish while one criterion is typed)."""
    try:
        return criteria_from_formset(formset), {}
    except RubricError as exc:
        shown = []
        for form in _live_forms(formset):
            if form.errors:  # its own errors, or attached by criteria_from_formset
                continue
            try:
                shown.extend(validate_criteria([_raw(form)]))
            except RubricError:
                continue
        return shown, exc.errors
