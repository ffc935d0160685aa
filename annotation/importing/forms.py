"""The import form."""

from django import forms
from django.conf import settings

from annotation.kinds import registry
from annotation.models import ItemKind


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = registry.choices()  # every registered kind, plug-ins included

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size is not None and upload.size > settings.TUNELOOP_MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {settings.TUNELOOP_MAX_IMPORT_BYTES} bytes (TUNELOOP_MAX_IMPORT_BYTES)."
            )
        return upload

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


class ExternalImportForm(forms.Form):
    file = forms.FileField(
        help_text="A Label Studio JSON export, or a TRL preference dataset (.jsonl or .parquet)."
    )
    format = forms.ChoiceField(choices=[("label-studio", "Label Studio JSON export"),
                                        ("trl", "TRL preference dataset (JSONL or Parquet)")])  # fmt: skip
    with_judgments = forms.BooleanField(
        required=False, initial=True,
        help_text="Keep the other team's judgments (external: left out of agreement figures unless the "
        "project counts them); off, the items come to be judged.",
    )  # fmt: skip

    clean_file = ImportForm.clean_file
