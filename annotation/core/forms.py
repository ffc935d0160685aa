"""Form helpers every app's pages use."""


def add_service_errors(form, errors: dict):
    """Attach a ServiceError's field messages to the form (unknown fields become non-field errors)."""
    for field, messages in (errors or {}).items():
        target = field if field in form.fields else None
        for message in messages:
            text = message if target else f"{field}: {message}"
            form.add_error(target, text)
