"""API helpers for item kinds: a `kind` field that accepts every registered kind."""

from annotation.kinds import registry as kinds


class RegisteredKinds:
    """A serializer whose `kind` field accepts every registered kind (plug-ins need no migration)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kinds.choices()
