"""Forms of the preferences pages. They check shapes only; the rules live in the services.

`comparison_submission` turns a comparison form's POST into `submit_judgment` keyword arguments whose
`payload` is in display slots (see `preferences.payload`), so the page and the API submit the same way.
"""

from django import forms

from annotation.core.numbers import whole_number

from .consensus import RULES
from .models import PairStatus

CRITERION_ANY = ""
CRITERION_OVERALL = "overall"


def comparison_submission(post) -> dict:
    """Keyword arguments for annotation.services.submit_judgment from a comparison form.

    Fields: choice, strength (pairs) or ranking ("A>B=C", N-way), criterion_<key> (A / B / tie, or a
    ranking), improved_text, harmful (slot letters), comment, rubric_version, duration_seconds.
    Blank optional answers are left out so the payload holds only what the annotator gave.
    """
    payload: dict = {}
    for key in ("choice", "strength", "ranking"):
        value = (post.get(key) or "").strip()
        if value:
            payload[key] = value
    criteria = {
        key[len("criterion_") :]: value.strip()
        for key, value in post.items()
        if key.startswith("criterion_") and (value or "").strip()
    }
    if criteria:
        payload["criteria"] = criteria
    improved = post.get("improved_text") or ""
    if improved.strip():
        payload["improved_text"] = improved
    harmful = [h for h in post.getlist("harmful") if h]
    if harmful:
        payload["harmful"] = harmful
    return {
        "payload": payload,
        "comment": post.get("comment", ""),
        "rubric_version_id": post.get("rubric_version") or None,
        "duration_seconds": post.get("duration_seconds") or None,
    }


class RecomputeForm(forms.Form):
    rule = forms.ChoiceField(
        choices=[(r, r.replace("_", "-").capitalize()) for r in RULES], initial="majority"
    )
    min_confidence = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        initial=0.0,
        label="Min confidence",
        help_text="A comparison whose winner has a smaller share of the (weighted) votes counts as split.",
    )
    full = forms.BooleanField(
        required=False, help_text="Recompute every comparison, not only those changed since the last run."
    )


class PairFilterForm(forms.Form):
    """Filters of the curated-pairs page and of `GET /api/projects/{id}/pairs/`."""

    min_confidence = forms.FloatField(required=False, min_value=0.0, max_value=1.0, label="Min confidence")
    rubric_version = forms.IntegerField(required=False, min_value=1, label="Rubric version")
    criterion = forms.CharField(required=False, max_length=64, label="Criterion")
    model = forms.CharField(required=False, max_length=500, label="Model")
    status = forms.ChoiceField(required=False, choices=[("", "Any")] + list(PairStatus.choices))
    include_stale = forms.BooleanField(required=False, label="Include stale")
    hide_harmful = forms.BooleanField(
        required=False, label="Hide pairs whose chosen response was reported harmful"
    )

    def selector_kwargs(self) -> dict:
        """Keyword arguments for selectors.candidate_pairs (call after is_valid)."""
        data = self.cleaned_data
        criterion = data.get("criterion") or CRITERION_ANY
        return {
            "min_confidence": data.get("min_confidence"),
            "rubric_version": data.get("rubric_version"),
            "criterion": None
            if criterion == CRITERION_ANY
            else ("" if criterion == CRITERION_OVERALL else criterion),
            "model": data.get("model") or "",
            "status": data.get("status") or "",
            "include_stale": bool(data.get("include_stale")),
            "hide_harmful": bool(data.get("hide_harmful")),
        }


class PairUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=PairStatus.choices)
    chosen_text = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 6}))

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        chosen = data.get("chosen_text")
        return {"status": data["status"], "chosen_text": chosen if "chosen_text" in self.data else None}


class PairIdsField(forms.Field):
    """Checked pair ids (`ids`, repeated): whole numbers; the service says which are the project's."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = [str(v).strip() for v in value or [] if str(v).strip()]
        ids = [whole_number(v, minimum=1) for v in values]
        if None in ids:
            raise forms.ValidationError("Pair ids are whole numbers.")
        return ids


class PairBulkForm(forms.Form):
    """The pairs page's bulk actions: `action` on the checked `ids`, or, with `min_confidence`, an
    approval of every candidate matching the page's filters with at least that confidence."""

    action = forms.ChoiceField(choices=[("approve", "Approve"), ("exclude", "Exclude")])
    ids = PairIdsField(required=False)
    min_confidence = forms.FloatField(required=False, min_value=0.0, max_value=1.0)

    def clean(self):
        data = super().clean()
        if data.get("min_confidence") is None and not data.get("ids") and not self.errors:
            raise forms.ValidationError("Select at least one pair.")
        if data.get("min_confidence") is not None and data.get("action") == "exclude":
            raise forms.ValidationError("The confidence threshold only approves.")
        return data


class LeaderboardForm(forms.Form):
    baseline = forms.CharField(required=False, max_length=500)
