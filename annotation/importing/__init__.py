"""Item import: a pure parser (`parse`, no Django) and the all-or-nothing write path, page and API."""
