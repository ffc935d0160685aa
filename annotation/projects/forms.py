"""Forms of the lead's project pages."""

import json

from django import forms

from annotation.core import json_text
from annotation.models import Role


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
            return json_text.loads(self.cleaned_data["criteria"])
        except json_text.Refused as exc:
            raise forms.ValidationError(f"Not usable JSON: {exc.msg}")
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).")


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
    dataset_license = forms.CharField(
        max_length=64,
        help_text='License written into exported datasets\' cards (SPDX id, e.g. cc-by-4.0; "other").',
    )
    count_external_judgments = forms.BooleanField(
        required=False, help_text="Count imported (other teams') judgments in agreement figures."
    )
    blind_review = forms.BooleanField(
        required=False, help_text="Hide model names from annotators (leads always see them)."
    )
    show_gold_feedback = forms.BooleanField(
        required=False, help_text="Show annotators their accuracy on gold items (My work page)."
    )

    @classmethod
    def for_project(cls, project, data=None):
        initial = {name: getattr(project, name) for name in cls.base_fields}
        return cls(data=data, initial=initial)
