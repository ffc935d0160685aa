"""Hooks that higher apps fill so this app can serve item kinds it does not know.

`preferences` registers how a comparison judgment's payload is validated and what happens after a
submit; annotation never imports preferences (DESIGN.md: dependencies point one way).
"""

from collections.abc import Callable

# kind -> validate(item, assignment, payload, project) -> normalised payload (raise InvalidInput on error)
payload_validators: dict[str, Callable] = {}
# kind -> list of callbacks(judgment) run inside the submit transaction
after_submit: dict[str, list[Callable]] = {}


def register_kind(
    kind: str, *, validate: Callable | None = None, on_submitted: Callable | None = None
) -> None:
    if validate is not None:
        payload_validators[kind] = validate
    if on_submitted is not None and on_submitted not in after_submit.setdefault(kind, []):
        after_submit[kind].append(on_submitted)
