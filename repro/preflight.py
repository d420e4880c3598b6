"""Checks before long work starts: can we write the output folder, and is there room on its disk?

Without them an unwritable or file-valued ``--out`` surfaced as a traceback, and ``repro eval``
found it only after the whole inference. Every command runs :func:`check_output_dir` on its output
folder before it loads a model or reads data (``repro.cli`` does it for ``--out`` and
``--output-dir``; ``repro train`` also for the config's ``output_dir:``).

Free space: a command that writes results refuses to start with less than
:data:`MIN_FREE_MB` MiB free on the output's file system (a checkpoint of the largest student is
~0.5 GB; a run writes several). ``REPRO_MIN_FREE_MB`` overrides the minimum (``0`` turns the check
off). A disk that fills up during the run still ends in one ``repro X: error:`` line (``repro.cli``).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from repro.errors import UserError

__all__ = ["MIN_FREE_MB", "check_output_dir", "disk_error_message", "min_free_bytes"]

MIN_FREE_MB = 1024

#: errno values of a write that failed because of where it wrote (not a bug): one error line each.
DISK_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def min_free_bytes() -> int:
    """The free space a command needs on its output's file system (``REPRO_MIN_FREE_MB`` overrides)."""
    raw = os.environ.get("REPRO_MIN_FREE_MB")
    if raw is None:
        return MIN_FREE_MB * 2**20
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"REPRO_MIN_FREE_MB must be a number of MiB, got {raw!r}") from None
    if not value >= 0:
        raise UserError(f"REPRO_MIN_FREE_MB must be >= 0, got {raw!r}")
    return int(value * 2**20)


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def check_output_dir(path: str | os.PathLike[str], what: str = "--out", *, need_space: bool = True) -> Path:
    """Raise :class:`UserError` unless ``path`` is (or can become) a writable folder with room.

    Nothing is left behind: a probe file is created and removed in the folder, or in its nearest
    existing parent when the folder does not exist yet.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a folder")
    base = _existing_ancestor(path.absolute())
    if not base.is_dir():
        raise UserError(f"{what} {path}: {base} is a file, so the folder cannot be created")
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".repro-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = DISK_ERRNOS.get(exc.errno or 0, exc.strerror or str(exc))
        raise UserError(f"{what} {path}: cannot write in {base} ({reason})") from None
    if need_space:
        needed, free = min_free_bytes(), shutil.disk_usage(base).free
        if free < needed:
            raise UserError(
                f"{what} {path}: only {free / 2**20:.0f} MiB free on its disk, {needed / 2**20:.0f} MiB needed "
                "(free some space, or set REPRO_MIN_FREE_MB to lower the minimum)"
            )
    return path


def disk_error_message(exc: OSError) -> str | None:
    """One line for an ``OSError`` caused by the disk or permissions (None for any other error)."""
    reason = DISK_ERRNOS.get(exc.errno or 0)
    if reason is None:
        return None
    where = f": {exc.filename}" if exc.filename else ""
    return f"{reason}{where}"
