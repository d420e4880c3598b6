"""Dataset manifests: a cheap fingerprint of a dataset folder for the cell cache key.

The fingerprint covers every file's relative path and size (a stat per file, no reading), so a
re-download, a missing file or a different split list changes it, while copying the folder
elsewhere does not. It does not detect a same-size in-place edit; ``--force`` re-runs anyway.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any


def dataset_manifest(root: Path) -> dict[str, Any]:
    """``{"root", "files", "bytes", "hash"}`` of a folder; ``hash`` is None when it is absent."""
    root = Path(root)
    if not root.is_dir():
        return {"root": str(root), "files": 0, "bytes": 0, "hash": None}
    h = hashlib.sha256()
    files = total = 0
    entries = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            if name.startswith("."):
                continue
            try:
                size = (Path(dirpath) / name).stat().st_size
            except OSError:
                continue
            entries.append((f"{rel_dir}/{name}", size))
    for rel, size in sorted(entries):
        h.update(f"{rel}\0{size}\n".encode())
        files += 1
        total += size
    return {"root": str(root), "files": files, "bytes": total, "hash": h.hexdigest()[:16]}
