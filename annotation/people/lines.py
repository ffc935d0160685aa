"""The lead's list of new accounts, one email or username a line (pure: no Django).

Blank lines and lines starting with "#" are skipped. An email becomes the account's username (lower
case) and its email; anything else must be a valid username (letters, digits and @ . + - _, at most 150
characters). A name twice (case-insensitive) is an error on its second line. Errors name their line.
"""

import re
from dataclasses import dataclass, field

MAX_LINES = 500
USERNAME = re.compile(r"^[\w.@+-]{1,150}\Z")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


@dataclass(frozen=True)
class Entry:
    line: int
    username: str
    email: str = ""


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self):
        return f"line {self.line}: {self.message}"


@dataclass
class Parsed:
    entries: list[Entry] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def parse(text: str) -> Parsed:
    out = Parsed()
    first_seen: dict[str, int] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        value = raw.strip()
        if not value or value.startswith("#"):
            continue
        if "@" in value and EMAIL.match(value):
            username, email = value.lower(), value.lower()
        else:
            username, email = value, ""
        if len(username) > 150:
            out.errors.append(LineError(number, "longer than 150 characters."))
            continue
        if not USERNAME.match(username):
            out.errors.append(
                LineError(
                    number, f"{value!r} is neither an email nor a username (letters, digits, @ . + - _)."
                )
            )
            continue
        key = username.lower()
        if key in first_seen:
            out.errors.append(LineError(number, f"{username!r} is already on line {first_seen[key]}."))
            continue
        first_seen[key] = number
        out.entries.append(Entry(number, username, email))
    if len(out.entries) > MAX_LINES:
        out.errors.append(LineError(out.entries[MAX_LINES].line, f"at most {MAX_LINES} accounts at a time."))
    if not out.entries and not out.errors:
        out.errors.append(LineError(1, "no email or username given."))
    return out
