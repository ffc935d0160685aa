"""Word-level differences between two responses (pure): what the compare page highlights.

`word_diff(left, right)` splits both texts into words (a run of letters and digits, one punctuation
mark, or one CJK ideograph or kana), each carrying the whitespace after it, and aligns the words
with difflib; whitespace never counts as a difference (a mark ends at its last word). Each side's
segments rebuild that side's text exactly: `"".join(s.text for s in diff.left) == left`. Ops: "equal", "delete" (only in the
left text), "insert" (only in the right text), and "skipped": past `max_tokens` words a text is not
compared (`truncated` says so), which bounds the work; so does switching difflib's heuristic for
popular words on when the part to align is large (`EXACT_BUDGET`).
"""

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

MAX_TOKENS = 3000  # words compared per text
EXACT_BUDGET = 1_000_000  # len(a) * len(b) of the middle part aligned without difflib's autojunk

EQUAL, DELETE, INSERT, SKIPPED = "equal", "delete", "insert", "skipped"

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"^\s+|(?:[{_CJK}]|(?:[^\W{_CJK}]|[\u0300-\u036f])+|[^\w\s])\s*")


@dataclass(frozen=True)
class Segment:
    op: str
    text: str


@dataclass(frozen=True)
class WordDiff:
    left: tuple[Segment, ...]  # the left text: equal, delete and skipped segments
    right: tuple[Segment, ...]  # the right text: equal, insert and skipped segments
    removed: int  # words only in the left text
    added: int  # words only in the right text
    truncated: bool  # a text had more than max_tokens words: the rest is "skipped"

    @property
    def identical(self) -> bool:
        return not self.removed and not self.added and not self.truncated


def tokenize(text: str) -> list[str]:
    """Words with their trailing whitespace (and the text's leading whitespace as a token of its
    own); their concatenation is `text`, character for character."""
    return _TOKEN.findall(text)


def _append(out: list[Segment], op: str, tokens) -> None:
    text = "".join(tokens)
    word = text.rstrip()
    if op in (DELETE, INSERT) and word and word != text:  # a mark ends at its last word
        _append(out, op, [word])
        _append(out, EQUAL, [text[len(word) :]])
        return
    if not text:
        return
    if out and out[-1].op == op:
        out[-1] = Segment(op, out[-1].text + text)
    else:
        out.append(Segment(op, text))


def _common_ends(a: list[str], b: list[str]) -> tuple[int, int]:
    """The lengths of the common prefix and (not overlapping it) common suffix of two key lists."""
    head, limit = 0, min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return head, tail


def _opcodes(ka: list[str], kb: list[str]):
    """difflib's opcodes over the word keys, with the common ends aligned for free."""
    head, tail = _common_ends(ka, kb)
    ma, mb = ka[head : len(ka) - tail], kb[head : len(kb) - tail]
    if head:
        yield "equal", 0, head, 0, head
    exact = len(ma) * len(mb) <= EXACT_BUDGET
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, ma, mb, autojunk=not exact).get_opcodes():
        yield tag, i1 + head, i2 + head, j1 + head, j2 + head
    if tail:
        yield "equal", len(ka) - tail, len(ka), len(kb) - tail, len(kb)


def word_diff(left: str, right: str, *, max_tokens: int = MAX_TOKENS) -> WordDiff:
    """The word-level difference from `left` to `right` (see the module docstring)."""
    a_all, b_all = tokenize(str(left or "")), tokenize(str(right or ""))
    a, b = a_all[:max_tokens], b_all[:max_tokens]
    ka, kb = [t.strip() for t in a], [t.strip() for t in b]
    out_a: list[Segment] = []
    out_b: list[Segment] = []
    removed = added = 0
    for tag, i1, i2, j1, j2 in _opcodes(ka, kb):
        if tag == "equal":
            _append(out_a, EQUAL, a[i1:i2])
            _append(out_b, EQUAL, b[j1:j2])
            continue
        removed += sum(1 for k in ka[i1:i2] if k)
        added += sum(1 for k in kb[j1:j2] if k)
        _append(out_a, DELETE, a[i1:i2])
        _append(out_b, INSERT, b[j1:j2])
    _append(out_a, SKIPPED, a_all[max_tokens:])
    _append(out_b, SKIPPED, b_all[max_tokens:])
    return WordDiff(
        left=tuple(out_a),
        right=tuple(out_b),
        removed=removed,
        added=added,
        truncated=len(a_all) > max_tokens or len(b_all) > max_tokens,
    )
