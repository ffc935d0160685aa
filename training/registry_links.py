"""Hooks through which later apps add to the model registry without training importing them (apps
depend one way: evaluation fills these in EvaluationConfig.ready()).

- `LINKS`: callables `(version) -> [(label, url), ...]`; the registry page shows each version's links.
- `REGISTERED`: callables `(version) -> None`, run after the transaction that registered a version
  commits (evaluation writes the adapter folder's model card there). A failing hook is logged, never
  raised: the version is registered either way.
- `GUARDS`: callables `(version) -> str`, asked before the registry's own Promote (page and API):
  a non-empty answer says why the version may not be promoted that way (evaluation: its gates do
  not pass; the lead promotes from the evaluation report, where an override takes a written reason).
"""

import logging

log = logging.getLogger(__name__)

LINKS: list = []
REGISTERED: list = []
GUARDS: list = []


def promotion_refused(version) -> str:
    """Why the registry's plain Promote may not promote `version` ("" when it may)."""
    for guard in GUARDS:
        reason = guard(version)
        if reason:
            return reason
    return ""


def links_for(version) -> list[tuple[str, str]]:
    out = []
    for provider in LINKS:
        out.extend(provider(version) or [])
    return out


def registered(version) -> None:
    for hook in REGISTERED:
        try:
            hook(version)
        except Exception:  # noqa: BLE001 - a hook never undoes a registration
            log.exception("registry hook %r failed for version %s", hook, version.pk)
