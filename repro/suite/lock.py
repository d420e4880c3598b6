"""Cross-process locks on the output folder, so two jobs never do the same work at once.

Used around training a cache key (two cells or two jobs sharing a training key: one trains,
the other waits and then reuses the checkpoint) and around preparing a data root (synthetic
datasets, masks). :class:`filelock.FileLock` takes a ``flock`` on a lock file next to what it
guards: the kernel drops it when the process dies (a killed or requeued job never leaves a stale
lock), and on NFS Linux maps ``flock`` onto NFS byte-range locks, so it holds across the nodes of
a cluster sharing the folder (NFSv4, or NFSv3 with lockd; Lustre and GPFS mounted with ``flock``).

:func:`run_folder` is the same lock around a whole run folder (``repro suite``, ``repro train``):
a second run into it is refused with a message naming the holder instead of waiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from repro.atomic import remove_stray_temps, write_json
from repro.errors import UserError

log = logging.getLogger("repro.suite")


@contextlib.contextmanager
def held(path: Path, what: str, poll_s: float = 30.0) -> Iterator[None]:
    """Hold the lock file ``path`` (created with its folder); log while waiting for another holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    t0 = time.monotonic()
    while True:
        try:
            lock.acquire(timeout=poll_s)
            break
        except Timeout:
            log.info("%s: waiting for another process (lock %s, %.0f s so far)", what, path, time.monotonic() - t0)
    try:
        yield
    finally:
        lock.release()


def lock_path(out: Path, kind: str, key: str) -> Path:
    """Where the lock of one ``kind`` (``train``, ``data``) and ``key`` lives under ``--out``."""
    return out / "_locks" / kind / f"{key}.lock"


class FolderInUse(UserError):
    """Another live process holds the run folder's lock."""


HOLDER_LOCK, HOLDER_INFO = ".repro-run.lock", ".repro-run.lock.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _describe(holder: dict[str, Any]) -> str:
    command = f"`{holder['command']}` " if holder.get("command") else ""
    return f"{command}(host {holder.get('host')}, pid {holder.get('pid')}, started {holder.get('started')})"


@contextlib.contextmanager
def run_folder(folder: Path, command: str) -> Iterator[list[str]]:
    """Own ``folder`` for one run: refuse when another run holds it, take over a stale lock, clean temps.

    Yields notes for the user (a stale lock taken over, stray temp files of killed writes removed).
    The ``flock`` is the lock (the kernel drops it with its process); the JSON beside it only names
    the holder for the message, and one left behind by a killed run is what "stale" means here.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run folder {folder}: {exc.strerror or exc}") from None
    lock = FileLock(str(folder / HOLDER_LOCK))
    info = folder / HOLDER_INFO
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _read_holder(info)
        who = _describe(holder) if holder else "another process (it has not recorded itself yet)"
        raise FolderInUse(
            f"{folder} is in use by {who}; wait for it to end or choose another output folder"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot lock the run folder {folder}: {exc.strerror or exc}") from None
    notes = []
    try:
        previous = _read_holder(info)
        if previous:
            here = previous.get("host") == socket.gethostname()
            gone = "is no longer running" if here and not _pid_alive(int(previous.get("pid", 0))) else "ended"
            notes.append(f"stale lock of {_describe(previous)} taken over: that run {gone} without releasing it")
        write_json(info, {"host": socket.gethostname(), "pid": os.getpid(), "started": _now(), "command": command})
        removed = remove_stray_temps(folder)
        if removed:
            notes.append(f"removed {len(removed)} temp file(s) of interrupted writes from {folder}")
            log.info("removed stray temp files: %s", ", ".join(map(str, removed[:5])))
        yield notes
    finally:
        info.unlink(missing_ok=True)
        lock.release()


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")
