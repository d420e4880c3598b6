"""The training cache, stored by content: a checkpoint is reused only if it is the one its key trained.

Layout under ``--out``::

    _cache/train/<key>.json        {"checkpoint", "sha256", "bytes", "cell", "seed", "written_at"}
    _cache/train/<key>/final.pt    the checkpoint itself (a hard link to the trainer's file, or a copy)

The checkpoint's path is derived from the key, never taken from the entry: the trainer's own
``<cell>/seed<k>/train/checkpoints/final.pt`` is rewritten whenever the cell is retrained with
another configuration (an edit, then a revert, would otherwise return the edited weights). A hard
link keeps the old inode when the trainer later replaces its file (atomic writes rename a new
file over it). On reuse the file's SHA-256 is checked against the entry; any mismatch, a missing
hash (an entry written by an older repro) or a missing file means: train again.

Callers hold the key's lock (:func:`repro.suite.lock.lock_path` ``train``) around both calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from repro.atomic import remove_stray_temps, temp_name, write_json

log = logging.getLogger("repro.suite")

CHECKPOINT_NAME = "final.pt"


def entry_path(out: Path, key: str) -> Path:
    """The JSON entry of training key ``key`` under ``--out``."""
    return Path(out) / "_cache" / "train" / f"{key}.json"


def checkpoint_path(out: Path, key: str) -> Path:
    """Where the checkpoint of ``key`` is stored: a function of the key alone."""
    return Path(out) / "_cache" / "train" / key / CHECKPOINT_NAME


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def lookup(out: Path, key: str) -> tuple[Path | None, dict[str, Any]]:
    """The verified checkpoint of ``key`` and its entry, or ``(None, entry-or-{})`` with the reason logged."""
    try:
        entry = json.loads(entry_path(out, key).read_text())
    except (OSError, ValueError):
        return None, {}
    path = checkpoint_path(out, key)
    if not isinstance(entry, dict) or not entry.get("sha256"):
        log.warning("training cache %s: entry without a content hash (older repro): not trusted, training again", key)
        return None, {}
    if not path.is_file():
        log.warning("training cache %s: %s is missing: training again", key, path)
        return None, entry
    if path.stat().st_size != entry.get("bytes") or file_sha256(path) != entry["sha256"]:
        log.warning("training cache %s: %s changed since it was stored (hash mismatch): training again", key, path)
        return None, entry
    return path, entry


def store(out: Path, key: str, checkpoint: Path, **meta: Any) -> Path:
    """Put ``checkpoint`` under ``key`` (hard link, else copy) and write its entry; returns the stored path."""
    dest = checkpoint_path(out, key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stray_temps(dest.parent)  # a copy killed half-way (we hold the key's lock)
    if Path(checkpoint).resolve() != dest.resolve():
        tmp = dest.with_name(temp_name(dest.name))
        try:
            os.link(checkpoint, tmp)
        except OSError:  # another file system, or one without hard links
            shutil.copyfile(checkpoint, tmp)
        os.replace(tmp, dest)
    write_json(
        entry_path(out, key),
        {
            "checkpoint": str(dest.resolve()),
            "sha256": file_sha256(dest),
            "bytes": dest.stat().st_size,
            "trained_at": str(Path(checkpoint).resolve()),
            **meta,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    return dest
