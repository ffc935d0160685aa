"""Forms for the training pages. They check shapes only; the rules live in training.runs and
training.snapshots."""

from django import forms

from annotation.models import FLAG_CHOICES

from .models import SnapshotKind

ADAPTERS = [("lora", "LoRA"), ("qlora", "QLoRA (CUDA only)"), ("full", "Full fine-tune")]
LOSS_TYPES = [
    (v, v) for v in ("sigmoid", "hinge", "ipo", "robust", "exo_pair", "nca_pair", "bco_pair", "apo_zero")
]


class SnapshotForm(forms.Form):
    kind = forms.ChoiceField(choices=SnapshotKind.choices, initial=SnapshotKind.SFT)
    name = forms.CharField(max_length=200, required=False)
    rubric_version = forms.IntegerField(required=False, min_value=1, help_text="Only this rubric version.")
    min_agreement = forms.FloatField(required=False, min_value=0, max_value=1, initial=0.0,
                                     help_text="SFT: share of judgments that accept or edit.")  # fmt: skip
    min_confidence = forms.FloatField(required=False, min_value=0, max_value=1, initial=0.0,
                                      help_text="DPO: pair confidence.")  # fmt: skip
    include_candidates = forms.BooleanField(required=False, help_text="DPO: also confident candidate pairs.")
    candidate_min_confidence = forms.FloatField(required=False, min_value=0, max_value=1, initial=0.8)
    criterion = forms.CharField(required=False, max_length=64, help_text='DPO: blank = overall, "*" = any.')
    exclude_flags = forms.MultipleChoiceField(
        choices=list(FLAG_CHOICES.items()), required=False, initial=["pii", "unsafe"],
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    dedupe = forms.BooleanField(required=False, initial=True)
    near_dup_threshold = forms.FloatField(required=False, min_value=0, max_value=1, initial=0.95,
                                          help_text="MiniLM cosine; 1 turns near-dedupe off.")  # fmt: skip
    val_fraction = forms.FloatField(required=False, min_value=0, max_value=0.9, initial=0.1)
    seed = forms.IntegerField(required=False, initial=0)
    replay_fraction = forms.FloatField(required=False, min_value=0, max_value=0.9, initial=0.0,
                                       help_text="SFT: share of general replay examples in train.")  # fmt: skip
    redact_pii = forms.BooleanField(required=False)
    drop_pii = forms.BooleanField(required=False)
    max_rows = forms.IntegerField(required=False, min_value=1)

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        kind, name = data.pop("kind"), data.pop("name")
        filters = {k: v for k, v in data.items() if v is not None and v != ""}
        for key in ("include_candidates", "dedupe", "redact_pii", "drop_pii"):
            filters[key] = bool(data.get(key))
        filters["exclude_flags"] = list(data.get("exclude_flags") or [])
        for key in ("date_from", "date_to"):
            if data.get(key):
                filters[key] = data[key].isoformat()
        return {"kind": kind, "name": name, "filters": filters}


class ModuleListField(forms.CharField):
    """Module names as "q_proj,v_proj" text; a list (a stored config's value) is shown the same way."""

    def prepare_value(self, value):
        return ",".join(value) if isinstance(value, list | tuple) else super().prepare_value(value)


class RunForm(forms.Form):
    snapshot = forms.TypedChoiceField(coerce=int, choices=[])
    base_model = forms.CharField(max_length=500)
    adapter = forms.ChoiceField(choices=ADAPTERS, initial="lora")
    init_model_version = forms.TypedChoiceField(coerce=int, choices=[], required=False, empty_value=None,
                                                label="Start from (an SFT model version)")  # fmt: skip
    lora_r = forms.IntegerField(required=False, initial=16)
    lora_alpha = forms.IntegerField(required=False, initial=32)
    lora_dropout = forms.FloatField(required=False, initial=0.05)
    lora_target_modules = ModuleListField(
        required=False,
        initial="q_proj,v_proj",
        label="LoRA target modules",
        help_text='Comma-separated module names, or "all-linear" (slower on CPU).',
    )
    learning_rate = forms.FloatField(required=False, help_text="Blank: the default for method and adapter.")
    num_train_epochs = forms.FloatField(required=False, initial=1.0)
    max_steps = forms.IntegerField(required=False, initial=-1, help_text="-1: train by epochs.")
    per_device_train_batch_size = forms.IntegerField(required=False, initial=4, label="Batch size")
    gradient_accumulation_steps = forms.IntegerField(required=False, initial=1, label="Gradient accumulation")
    max_length = forms.IntegerField(required=False, initial=512)
    seed = forms.IntegerField(required=False, initial=42)
    save_steps = forms.IntegerField(required=False, help_text="Checkpoint interval (blank: default).")
    beta = forms.FloatField(required=False, initial=0.1, help_text="DPO only.")
    loss_type = forms.ChoiceField(choices=LOSS_TYPES, initial="sigmoid", help_text="DPO only.")
    label_smoothing = forms.FloatField(required=False, initial=0.0, help_text="DPO only.")

    DPO_ONLY = ("beta", "loss_type", "label_smoothing")

    def __init__(self, *args, snapshots=(), versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].choices = [
            (s.pk, f"#{s.pk} {s.name} ({s.kind}, {s.total_count} rows)") for s in snapshots
        ]
        self.fields["init_model_version"].choices = [("", "— the base model —")] + [
            (v.pk, f"#{v.pk} {v.name}") for v in versions
        ]

    def config(self, method: str) -> dict:
        data = {k: v for k, v in self.cleaned_data.items() if k != "snapshot" and v is not None and v != ""}
        if method != "dpo":
            for key in self.DPO_ONLY:
                data.pop(key, None)
        return data


FORMAT_CHOICES = [
    ("jsonl", "JSONL"),
    ("parquet", "Parquet"),
    ("csv", "CSV"),
    ("hf", "Hugging Face datasets folder"),
]


class ExportForm(forms.Form):
    """Layout, format, provenance columns: the export of one snapshot (or of a live view)."""

    layout = forms.ChoiceField(choices=[])
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="jsonl")
    provenance = forms.BooleanField(required=False, help_text="Add provenance columns (pseudonymised).")

    def __init__(self, *args, layouts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout"].choices = [(name, name) for name in layouts]


class ExportFromPairsForm(ExportForm):
    """The curated pairs page's export: its filters become the snapshot's."""

    status = forms.ChoiceField(choices=[("approved", "approved"), ("candidates", "approved + candidates")],
                               initial="approved", required=False)  # fmt: skip
    min_confidence = forms.FloatField(required=False, min_value=0, max_value=1)
    rubric_version = forms.IntegerField(required=False, min_value=1)
    # as the pairs page's filter: blank = any criterion, "overall" = the overall preference
    criterion = forms.CharField(required=False, max_length=64)

    def snapshot_filters(self) -> dict:
        data = self.cleaned_data
        crit = data.get("criterion") or ""
        filters = {
            "status": data.get("status") or "approved",
            "criterion": {"": "*", "overall": ""}.get(crit, crit),
        }
        if data.get("min_confidence") is not None:
            filters["min_confidence"] = data["min_confidence"]
        if data.get("rubric_version"):
            filters["rubric_version"] = data["rubric_version"]
        return filters
