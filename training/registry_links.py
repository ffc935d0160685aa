"""Hooks through which later apps add to the model registry without training importing them (apps
depend one way: evaluation fills these in EvaluationConfig.ready()).

- `LINKS`: callables `(version) -> [(label, url), ...]`; the registry page shows each version's links.
- `REGISTERED`: callables `(version) -> None`, run after the transaction that registered a version
  commits (evaluation writes the adapter folder's model card there). A failing hook is logged, never
  raised: the version is registered either way.
"""

import logging

log = logging.getLogger(__name__)

LINKS: list = []
REGISTERED: list = []


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
