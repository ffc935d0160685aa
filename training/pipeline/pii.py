"""Find and mask personal data in text: e-mail addresses, card numbers (13-19 digits passing the Luhn
check) and phone numbers. Heuristic by design: it flags what a reviewer should look at before data
leaves the building; it is not a guarantee.

Phone numbers: an international "+CC ..." form, a "(area) ..." form, or 10-15 digits in groups of
2-4 (so dates like 2024-01-15 and short numbers are left alone). Card-like digit runs that fail Luhn
are neither cards nor phones when longer than 15 digits.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
CARD_RE = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d])")
PHONE_RE = re.compile(
    r"(?<![\w.+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,5}(?![\d])"
)
PLACEHOLDERS = {"email": "[EMAIL]", "card": "[CARD]", "phone": "[PHONE]"}


@dataclass(frozen=True)
class PiiMatch:
    kind: str  # "email" | "card" | "phone"
    start: int
    end: int
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _phone_like(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15:
        return False
    if text.startswith("+") or "(" in text:
        return True
    return len(digits) >= 10


def detect_pii(text: str) -> list[PiiMatch]:
    """Non-overlapping matches in text order. Precedence: e-mail, then card, then phone."""
    if not text:
        return []
    found: list[PiiMatch] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for m in EMAIL_RE.finditer(text):
        found.append(PiiMatch("email", m.start(), m.end(), m.group()))
        taken.append(m.span())
    for m in CARD_RE.finditer(text):
        if free(*m.span()) and luhn_ok(re.sub(r"\D", "", m.group())):
            found.append(PiiMatch("card", m.start(), m.end(), m.group()))
            taken.append(m.span())
    for m in PHONE_RE.finditer(text):
        if free(*m.span()) and _phone_like(m.group()):
            found.append(PiiMatch("phone", m.start(), m.end(), m.group()))
            taken.append(m.span())
    return sorted(found, key=lambda p: p.start)


def redact_pii(text: str) -> str:
    """The text with each match replaced by [EMAIL], [CARD] or [PHONE]."""
    out, pos = [], 0
    for match in detect_pii(text):
        out.append(text[pos : match.start])
        out.append(PLACEHOLDERS[match.kind])
        pos = match.end
    out.append(text[pos:])
    return "".join(out)
