"""Forms for the htmx pages. They check shapes only; the rules live in annotation.services."""

import json

from django import forms

from .models import ItemKind, Role


def sft_submission(post) -> dict:
    """Keyword arguments for services.submit_judgment from a review form's POST data.

    Scores come from fields named `score_<criterion key>`; blanks are left out so the service can say
    which required criterion is missing.
    """
    scores = {
        key[len("score_") :]: value
        for key, value in post.items()
        if key.startswith("score_") and value not in ("", None)
    }
    return {
        "decision": post.get("decision", ""),
        "edited_text": post.get("edited_text", ""),
        "scores": scores,
        "flags": post.getlist("flags"),
        "comment": post.get("comment", ""),
        "rubric_version_id": post.get("rubric_version") or None,
        "duration_seconds": post.get("duration_seconds") or None,
    }


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class RemoveMemberForm(forms.Form):
    username = forms.CharField(max_length=150)


class RubricVersionForm(forms.Form):
    criteria = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "mono"}),
        help_text='A JSON list, e.g. [{"key": "helpfulness", "type": "likert", "instructions": "..."}].',
    )
    instructions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    changelog = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_criteria(self):
        try:
            return json.loads(self.cleaned_data["criteria"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).")


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL (one object a line) or CSV with a header row; UTF-8.")
    kind = forms.ChoiceField(choices=ItemKind.choices, initial=ItemKind.SFT)
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 4, "class": "mono", "placeholder": "prompt=question\nresponse=answer"}
        ),
        help_text="Optional, one `ours=theirs` a line: our field = the column or key in your file.",
    )

    def clean_mapping(self):
        mapping = {}
        for number, line in enumerate(self.cleaned_data.get("mapping", "").splitlines(), start=1):
            if not line.strip():
                continue
            ours, sep, theirs = line.partition("=")
            if not sep or not ours.strip() or not theirs.strip():
                raise forms.ValidationError(f"Line {number}: write `ours=theirs`, e.g. prompt=question.")
            mapping[ours.strip()] = theirs.strip()
        return mapping


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    guidelines = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown, shown beside every task.",
    )
    base_model = forms.CharField(max_length=500)
    overlap = forms.IntegerField(min_value=1, help_text="Distinct annotators per item.")
    agreement_threshold = forms.FloatField(min_value=0.0, max_value=1.0)
    lease_minutes = forms.IntegerField(min_value=1)
    min_seconds_per_item = forms.IntegerField(min_value=0)
    require_rationale = forms.BooleanField(required=False)
    agreement_routing = forms.BooleanField(
        required=False, help_text="Approve agreeing items, send disagreeing ones to the leads."
    )
    max_extra_annotators = forms.IntegerField(
        min_value=0, max_value=10, help_text="Extra annotators a disagreeing item gets first (0 = off)."
    )
    gold_share = forms.FloatField(
        min_value=0.0, max_value=1.0, help_text="Probability that an annotator's next item is a gold item."
    )

    @classmethod
    def for_project(cls, project, data=None):
        initial = {name: getattr(project, name) for name in cls.base_fields}
        return cls(data=data, initial=initial)


def add_service_errors(form, errors: dict):
    """Attach a ServiceError's field messages to the form (unknown fields become non-field errors)."""
    for field, messages in (errors or {}).items():
        target = field if field in form.fields else None
        for message in messages:
            text = message if target else f"{field}: {message}"
            form.add_error(target, text)
