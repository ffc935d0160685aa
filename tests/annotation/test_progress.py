"""The progress line of long commands (annotation.core.progress, pure)."""

from annotation.core.progress import clock, eta, progress_line


def test_clock():
    assert [clock(s) for s in (0, 59.4, 61, 3599, 3600, 7325, -3)] == [
        "0:00", "0:59", "1:01", "59:59", "1:00:00", "2:02:05", "0:00",
    ]  # fmt: skip


def test_eta_is_the_pace_so_far():
    assert eta(0, 10, 5.0) is None
    assert eta(4, 10, 20.0) == 30.0
    assert eta(10, 10, 50.0) == 0.0


def test_progress_line():
    assert progress_line("sampling", done=12, total=30, elapsed=62.0) == (
        "sampling [########------------] 12/30  40%  1:02 elapsed  ETA 1:33"
    )
    assert (
        progress_line("x", done=0, total=5, elapsed=0, width=5) == "x [-----] 0/5   0%  0:00 elapsed  ETA ?"
    )
    assert progress_line("x", done=9, total=5, elapsed=10, width=5).startswith("x [#####] 5/5 100%")
    assert progress_line("x", done=0, total=0, elapsed=0, width=2).startswith("x [--] 0/1")
