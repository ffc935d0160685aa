"""Display slots: the letters annotators see responses under, in one assignment's display order.

Pure Python, no Django: the pages, the API, the payload parser and the charts all name slots here.
"""

SLOTS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def slot_letter(index: int) -> str:
    """0 -> "A", 1 -> "B", ...; past "Z" the 1-based number as text (no response goes unnamed)."""
    return SLOTS[index] if 0 <= index < len(SLOTS) else str(index + 1)


def slot_index(letter: str) -> int:
    """ "A" / "a" -> 0, ...; -1 when `letter` is not a slot letter."""
    text = str(letter).strip().upper()
    return SLOTS.index(text) if len(text) == 1 and text in SLOTS else -1


def slot_letters(n: int) -> str:
    """The letters of the first `n` slots: "AB", "ABC", ..."""
    return "".join(slot_letter(i) for i in range(n))
