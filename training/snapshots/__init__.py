"""Dataset snapshots: the filters, the two-step build (`create_snapshot` in the request, `build` in
a task, `build_snapshot` both at once), the quality report, and the rows as JSON lines."""

from .builder import (
    REPLAY_PATH,
    build,
    build_snapshot,
    create_snapshot,
    error_text,
    fail,
    load_replay_rows,
    snapshot_jsonl,
)
from .filters import SNAPSHOT_DEFAULTS, clean_snapshot_filters

__all__ = [
    "REPLAY_PATH",
    "SNAPSHOT_DEFAULTS",
    "build",
    "build_snapshot",
    "clean_snapshot_filters",
    "create_snapshot",
    "error_text",
    "fail",
    "load_replay_rows",
    "snapshot_jsonl",
]
