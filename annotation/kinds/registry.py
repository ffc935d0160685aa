"""The registered item kinds, by name. Each app registers its kinds in its AppConfig.ready():
SFT by annotation, comparisons by preferences (annotation never imports preferences: DESIGN.md)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry itself stays Django-free: the import parser reads it
    from annotation.kinds.base import Kind

_kinds: dict[str, "Kind"] = {}


class UnknownKind(KeyError):
    pass


def register(kind: "Kind") -> "Kind":
    """Add `kind` (idempotent for the same name); returns it."""
    if not kind.name:
        raise ValueError("A kind needs a name.")
    _kinds[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _kinds.pop(name, None)


def get(name: str) -> "Kind":
    try:
        return _kinds[name]
    except KeyError:
        raise UnknownKind(name) from None


def names() -> list[str]:
    """Registered kind names, in registration order."""
    return list(_kinds)


def all() -> list["Kind"]:  # shadows the builtin inside this module only; call it as registry.all()
    return list(_kinds.values())


def choices() -> list[tuple[str, str]]:
    """(name, label) pairs for forms and serializers."""
    return [(k.name, k.label) for k in _kinds.values()]


def listing_responses() -> str | None:
    """The first kind whose imported rows give a `responses` list (what such a row becomes when no
    kind is asked for); None when no such kind is registered."""
    return next((k.name for k in _kinds.values() if k.responses == "many"), None)
