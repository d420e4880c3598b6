"""Cross-process locks on the output folder, so two jobs never do the same work at once.

Used around training a cache key (two cells or two jobs sharing a training key: one trains,
the other waits and then reuses the checkpoint) and around preparing a data root (synthetic
datasets, masks). :class:`filelock.FileLock` takes a ``flock`` on a lock file next to what it
guards: the kernel drops it when the process dies (a killed or requeued job never leaves a stale
lock), and on NFS Linux maps ``flock`` onto NFS byte-range locks, so it holds across the nodes of
a cluster sharing the folder (NFSv4, or NFSv3 with lockd; Lustre and GPFS mounted with ``flock``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

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
