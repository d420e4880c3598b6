"""The sky/watermark mask folder as the readers see it (format owned by ``repro.masks``).

``<mask root>/<image's relative path, suffix .png>``: 8-bit PNG, 255 = valid, 0 = excluded.
``<mask root>/manifest.jsonl``: one JSON object per image, e.g.
``{"image": "a/b.jpg", "mask": "a/b.png", "valid_fraction": 0.83, "dropped": false}``; the
unlabeled readers skip ``dropped`` images. The synthetic world writes its true masks in this same
format so the ``ground_truth`` mask backend needs nothing else.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MANIFEST = "manifest.jsonl"
VALID, EXCLUDED = 255, 0


@dataclass
class MaskEntry:
    image: str
    mask: str
    valid_fraction: float
    dropped: bool


def mask_relpath(image_rel: str | Path) -> str:
    """Where the mask of ``image_rel`` lives under the mask root: same relative path, ``.png``."""
    return Path(image_rel).with_suffix(".png").as_posix()


def read_manifest(mask_root: str | Path) -> dict[str, MaskEntry]:
    """``manifest.jsonl`` -> entries by image path ({} if absent); a bad line names file and line."""
    path = Path(mask_root) / MANIFEST
    if not path.is_file():
        return {}
    out: dict[str, MaskEntry] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                entry = MaskEntry(
                    str(data["image"]), str(data["mask"]), float(data["valid_fraction"]), bool(data["dropped"])
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: bad mask record ({exc})") from exc
            out[entry.image] = entry
    return out


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same folder + ``os.replace``: no half-written file survives a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_mask(mask_root: str | Path, image_rel: str, valid: np.ndarray, min_valid_fraction: float = 0.2) -> MaskEntry:
    """Write one mask PNG (True = valid) and return its manifest entry."""
    buf = io.BytesIO()
    Image.fromarray(np.where(valid, VALID, EXCLUDED).astype(np.uint8), mode="L").save(buf, format="PNG")
    entry = MaskEntry(Path(image_rel).as_posix(), mask_relpath(image_rel), float(valid.mean()), False)
    entry.dropped = entry.valid_fraction < min_valid_fraction
    atomic_write(Path(mask_root) / entry.mask, buf.getvalue())
    return entry


def write_manifest(mask_root: str | Path, entries: Iterable[MaskEntry]) -> None:
    """Merge ``entries`` into the manifest (sorted by image, atomic)."""
    merged = read_manifest(mask_root)
    merged.update({e.image: e for e in entries})
    lines = [json.dumps(vars(merged[k])) + "\n" for k in sorted(merged)]
    atomic_write(Path(mask_root) / MANIFEST, "".join(lines).encode())
