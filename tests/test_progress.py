"""Progress output: a live bar on a terminal, plain lines in a log, nothing when disabled."""

from __future__ import annotations

import io

from repro.progress import PlainProgress, progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_gets_plain_lines_not_carriage_returns():
    out = io.StringIO()
    bar = progress_bar(range(50), total=50, desc="eval", file=out, mininterval=0)
    assert isinstance(bar, PlainProgress)
    assert sum(1 for _ in bar) == 50
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = [line for line in text.splitlines() if line]
    assert lines and lines[-1].startswith("eval: 100%") and "50/50" in lines[-1]


def test_log_lines_are_rate_limited():
    out = io.StringIO()
    for _ in progress_bar(range(1000), total=1000, desc="x", file=out):  # default interval: 30 s
        pass
    assert len(out.getvalue().splitlines()) <= 3


def test_terminal_gets_the_live_bar_and_disabled_is_silent():
    tty = _Tty()
    for _ in progress_bar(range(3), total=3, file=tty, mininterval=0):
        pass
    assert "\r" in tty.getvalue()
    quiet = io.StringIO()
    for _ in progress_bar(range(3), total=3, file=quiet, enabled=False):
        pass
    assert quiet.getvalue() == ""
