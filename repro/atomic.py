"""Atomic file writes: readers see the old file or the whole new one, never half of it.

One implementation for every result the package writes (checkpoints, JSON, CSV, PNG, PLY, masks).
Files get the permissions a plain ``open()`` would give (0666 less the umask, so 0644 by default):
``tempfile.mkstemp`` creates 0600 files, which a teammate or a host user with another uid could not
read when results are written inside a container.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "NON_FINITE_KEY",
    "write_bytes",
    "write_text",
    "write_json",
    "write_png",
    "file_mode",
    "json_text",
    "remove_stray_temps",
    "temp_name",
]

#: ``.<name>.<8 random characters from mkstemp><tag>.tmp``: the only names :func:`remove_stray_temps` touches
TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}(?P<tag>[A-Za-z0-9_.-]*)\.tmp$")


def file_mode() -> int:
    """The mode ``open(path, 'w')`` would create a file with under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_bytes(path: str | os.PathLike[str], data: bytes | memoryview, *, fsync: bool = True, tag: str = "") -> Path:
    """Temp file in the same folder, optional fsync, rename over ``path``: a crash leaves the old file whole.

    The temp file is ``.<name>.<random><tag>.tmp``: a writer that may be killed passes a ``tag`` so
    that its next start can find and remove its own leftovers.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f"{tag}.tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = True) -> Path:
    """UTF-8 text, written atomically."""
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)


#: The key under which :func:`json_text` lists the values it wrote as null because they were not finite.
NON_FINITE_KEY = "non_finite"


def _finite_or_null(value: Any, where: str, found: dict[str, str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        found[where or "(top level)"] = str(value)  # 'nan', 'inf' or '-inf'
        return None
    if isinstance(value, dict):
        return {k: _finite_or_null(v, f"{where}.{k}" if where else str(k), found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v, f"{where}[{i}]", found) for i, v in enumerate(value)]
    return value


def json_text(data: Any, *, indent: int | None = 2, **dumps_kwargs: Any) -> str:
    """Strict JSON (RFC 8259, which has no NaN or Infinity) with a trailing newline.

    Python's ``json`` writes bare ``NaN``/``Infinity``, which strict readers (jq, JavaScript,
    pandas with ``engine='pyarrow'``) refuse and which hide a broken number. Here a non-finite
    float becomes ``null``, and a mapping at the top level gains ``"non_finite": {"key.path":
    "nan"}`` naming each one and what it was, so a reader sees *why* a value is missing.
    """
    found: dict[str, str] = {}
    clean = _finite_or_null(data, "", found)
    if found and isinstance(clean, dict):
        clean[NON_FINITE_KEY] = {**(clean.get(NON_FINITE_KEY) or {}), **found}
    dumps_kwargs["allow_nan"] = False
    return json.dumps(clean, indent=indent, **dumps_kwargs) + "\n"


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2, **dumps_kwargs: Any) -> Path:
    """Strict JSON (:func:`json_text`), written atomically; ``dumps_kwargs`` go to ``json.dumps``."""
    return write_text(path, json_text(data, indent=indent, **dumps_kwargs))


def write_png(path: str | os.PathLike[str], image: Any, *, fsync: bool = True) -> Path:
    """A PIL image (or anything with ``save(fp, format=...)``, e.g. a matplotlib figure) as PNG."""
    buf = io.BytesIO()
    if hasattr(image, "savefig"):
        image.savefig(buf, format="png")
    else:
        image.save(buf, format="PNG")
    return write_bytes(path, buf.getbuffer(), fsync=fsync)


def temp_name(name: str, tag: str = "") -> str:
    """A temp-file name for ``name`` in this module's pattern (for writers that rename by themselves)."""
    return f".{name}.{secrets.token_hex(4)}{tag}.tmp"


def remove_stray_temps(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Delete the temp files that killed atomic writes left in ``folder``; return them.

    Only names this module creates are touched (:data:`TEMP_NAME`), never a symlink, and the
    caller must own the folder (hold its run lock): a live writer's temp file looks the same.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for dirpath, dirnames, filenames in os.walk(folder):  # never follows a symlinked folder
        if not recursive:
            dirnames.clear()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if TEMP_NAME.match(name) and not path.is_symlink() and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
