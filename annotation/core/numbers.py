"""Whole numbers read from text (a form's values, a query string): ASCII digits only and within what
the database stores. `str.isdigit()` accepts '²' or '١' (`int()` then fails or reads a number the
user never typed) and `int()` takes any length (the database then overflows): both were 500s."""

MAX_ID = 2**63 - 1  # BigAutoField, the largest primary key the database stores


def whole_number(value, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """`value` (a str, surrounding spaces ignored, or an int that is not a bool) as an int in
    [minimum, maximum]; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
            return None
        number = int(text)
    else:
        return None
    return number if minimum <= number <= maximum else None
