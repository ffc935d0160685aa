"""Forms of the evaluation pages. They check shapes only; the rules live in evaluation.sets,
evaluation.runs and evaluation.promotion."""

import json

from django import forms

from .metrics import schemas
from .models import EvalSetSource, EvalSettings

SOURCES = [
    (EvalSetSource.PRODUCTION, "Held-out production samples"),
    (EvalSetSource.REVIEWED, "Reviewed items never used in training"),
    (EvalSetSource.IMPORTED, "Import JSONL"),
]
LEAK_CHOICES = [
    ("refuse", "Refuse to run when any prompt overlaps the training data"),
    ("flag", "Run anyway and flag the report"),
]


class EvalSetForm(forms.Form):
    source = forms.ChoiceField(choices=SOURCES, initial=EvalSetSource.REVIEWED)
    name = forms.CharField(max_length=200, required=False)
    limit = forms.IntegerField(min_value=1, max_value=5000, initial=200, required=False,
                               help_text="At most this many prompts (production, reviewed).")  # fmt: skip
    file = forms.FileField(required=False, help_text='JSONL: {"prompt" | "messages", "reference"?, '
                           '"group"?, "chosen"?, "rejected"?} per line.')  # fmt: skip
    data = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label="…or paste JSONL")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("source") == EvalSetSource.IMPORTED:
            upload = cleaned.get("file")
            text = upload.read().decode("utf-8", errors="replace") if upload else cleaned.get("data", "")
            if not text.strip():
                self.add_error("data", "Upload a JSONL file or paste its lines.")
            cleaned["text"] = text
        return cleaned


class EvalRunForm(forms.Form):
    version = forms.TypedChoiceField(coerce=int, label="Model version")
    eval_set = forms.TypedChoiceField(coerce=int, label="Eval set")
    against = forms.TypedChoiceField(coerce=int, required=False, empty_value=None,
                                     label="Compare against")  # fmt: skip
    on_leak = forms.ChoiceField(choices=LEAK_CHOICES, initial="refuse", widget=forms.RadioSelect,
                                label="If eval prompts overlap the training snapshot")  # fmt: skip
    max_new_tokens = forms.IntegerField(min_value=1, max_value=4096, initial=64)
    batch_size = forms.IntegerField(min_value=1, max_value=256, initial=8)
    forgetting_limit = forms.IntegerField(min_value=1, required=False,
                                          help_text="Blank = the whole forgetting suite.")  # fmt: skip
    safety_limit = forms.IntegerField(
        min_value=1, required=False, help_text="Blank = the whole safety suite."
    )

    def __init__(self, *args, versions=(), eval_sets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(v.pk, f"#{v.pk} {v.name}") for v in versions]
        self.fields["eval_set"].choices = [(s.pk, f"#{s.pk} {s.name} ({s.size})") for s in eval_sets]
        self.fields["against"].choices = [("", "Its base model")] + [
            (v.pk, f"#{v.pk} {v.name}") for v in versions
        ]

    def config(self) -> dict:
        keys = ("max_new_tokens", "batch_size", "forgetting_limit", "safety_limit")
        return {k: self.cleaned_data[k] for k in keys if self.cleaned_data.get(k) is not None}


class JSONSchemaField(forms.CharField):
    """A JSON Schema typed as text, read by evaluation.metrics.schemas.parse (JSON, size, nesting, and
    the schema rules that evaluation.promotion.set_gates applies too). Shown indented; what the person
    typed is kept on a page with errors."""

    widget = forms.Textarea(attrs={"rows": 8, "class": "mono", "spellcheck": "false"})

    def prepare_value(self, value):
        if value is None or isinstance(value, str):
            return value or ""
        return json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value):
        value, problem = schemas.parse(super().to_python(value))
        if problem:
            raise forms.ValidationError(problem, code="invalid")
        return value


class GatesForm(forms.ModelForm):
    output_schema = JSONSchemaField(
        required=False, label="Output JSON Schema",
        help_text="Format check: outputs must be JSON valid against this schema (draft 2020-12; "
                  "references only inside the schema). Blank = none; set this or a regex.",
    )  # fmt: skip

    class Meta:
        model = EvalSettings
        fields = [
            "min_preference_accuracy", "min_win_rate_low", "max_forgetting_drop", "safety_no_worse",
            "system_prompt", "few_shot", "output_schema", "output_regex",
        ]  # fmt: skip
        help_texts = {
            "min_preference_accuracy": "0..1; blank = not checked.",
            "min_win_rate_low": "Lower bound of the human win rate, 0..1; blank = not checked.",
            "max_forgetting_drop": "Points (percent); blank = not checked.",
            "safety_no_worse": "Refusal and over-refusal no worse than the base.",
            "system_prompt": "The prompting baseline's system prompt.",
            "few_shot": "How many approved examples the prompting baseline is shown.",
            "output_regex": "Format check: outputs must fully match this regex. Blank = none; set this or a schema.",
        }
        widgets = {"system_prompt": forms.Textarea(attrs={"rows": 3})}


class PromoteForm(forms.Form):
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000,
        help_text="Required when the version fails a gate; recorded in the audit log.",
    )  # fmt: skip
