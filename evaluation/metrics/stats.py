"""Small statistics: the Wilson score interval for a proportion."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(flags: list[bool]) -> dict:
    """{"rate", "low", "high", "n"} of a list of booleans (Wilson 95%); rate None when empty."""
    n = len(flags)
    k = sum(1 for f in flags if f)
    low, high = wilson(k, n)
    return {"rate": (k / n) if n else None, "low": low, "high": high, "n": n}
