"""A progress line with an ETA for long commands (pure: no Django), tqdm-like without the dependency.

    line = progress_line("sampling", done=12, total=30, elapsed=62.0)
    # "sampling [########------------]  12/30  40%  1:02 elapsed  ETA 1:33"

The ETA assumes the remaining work goes at the average pace so far; before anything is done it is "?".
"""

WIDTH = 20


def clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the pace so far; None before the first unit is done."""
    if done <= 0:
        return None
    return max(0.0, elapsed / done * (total - done))


def progress_line(label: str, *, done: int, total: int, elapsed: float, width: int = WIDTH) -> str:
    total = max(total, 1)
    done = min(max(done, 0), total)
    filled = round(width * done / total)
    left = eta(done, total, elapsed)
    return (
        f"{label} [{'#' * filled}{'-' * (width - filled)}] {done:>{len(str(total))}}/{total} "
        f"{100 * done // total:3d}%  {clock(elapsed)} elapsed  ETA {'?' if left is None else clock(left)}"
    )
