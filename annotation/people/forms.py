"""Forms of people management: the lead's list of new accounts, an invitee's new account."""

from django import forms
from django.contrib.auth import password_validation

from annotation.people.services import MODES


class AccountsForm(forms.Form):
    lines = forms.CharField(
        label="Emails or usernames, one a line",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text="Each becomes an annotator of this project. All or nothing: a bad line adds nobody.",
    )
    mode = forms.ChoiceField(
        label="How they sign in",
        choices=[
            ("invite", "Invite links (each person sets their own password; the link expires)"),
            ("password", "One-time passwords (changed at first login)"),
        ],
        initial="invite",
        widget=forms.RadioSelect,
    )

    def clean_mode(self):
        mode = self.cleaned_data["mode"]
        if mode not in MODES:  # the choices and the service agree; this keeps them so
            raise forms.ValidationError("Unknown mode.")
        return mode


class AcceptInvitationForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password1 = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            try:
                password_validation.validate_password(first)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
