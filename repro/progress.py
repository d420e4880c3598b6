"""Progress bars that suit where the output goes: a live tqdm bar on a terminal, plain lines in a log.

On a terminal: tqdm as usual. Otherwise (a file, a pipe, a batch job's log) the same bar prints
one ordinary line every ``PLAIN_INTERVAL_S`` seconds and at the end, never carriage-return
redraws, so a log stays readable. ``enabled=False`` (``--no-progress``) shows nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

PLAIN_INTERVAL_S = 30.0


class PlainProgress(tqdm):  # type: ignore[misc]
    """tqdm whose every refresh is a full line (rate-limited by ``mininterval``)."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if self.n == getattr(self, "_last_printed", None):
            return True
        self._last_printed = self.n
        print(msg or self.__str__(), file=self.fp, flush=True)
        return True


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar (terminal), a plain periodic-line bar (anything else), or a silent one (disabled)."""
    if not enabled:
        return tqdm(iterable, disable=True, **kwargs)
    stream = kwargs.get("file") or sys.stderr
    if _is_tty(stream):
        return tqdm(iterable, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    kwargs.setdefault("mininterval", PLAIN_INTERVAL_S)
    kwargs.setdefault("ascii", True)
    return PlainProgress(iterable, **kwargs)
