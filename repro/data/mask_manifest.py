"""The mask folder's layout and its JSONL manifest: written by ``repro.masks`` (and the synthetic
world's true masks), read by the unlabeled data readers.

``<mask root>/<image's relative path with .png>``: 8-bit PNG, 255 = valid, 0 = excluded (sky,
watermark) — the reference loader's convention; every value below 128 reads as excluded, so an
excluded pixel may record which prompt excluded it (:data:`EXCLUDED_BY`: 1 sky, 2 watermark; 0 =
not recorded), for the audit sheet's colours only. ``<mask root>/manifest.jsonl``: one line per
image, sorted by image path::

    {"image": "scene/rgb.jpg", "mask": "scene/rgb.png", "valid_fraction": 0.83, "dropped": false, "labels": ["sky"]}

``dropped`` is ``valid_fraction < min_valid_fraction`` (0.2 in the paper): the reader skips those
images. ``labels`` (the prompts found) is informational and absent for masks written by other tools.
Images that could not be read have no line (and no PNG).

While generating, each shard appends its records to ``.parts/<shard>.jsonl`` (written *before* the
PNG, so every finished PNG has its record even after a crash); :func:`merge_manifest` folds the
parts into ``manifest.jsonl`` atomically and can be run any number of times.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from repro.atomic import write_bytes

MANIFEST = "manifest.jsonl"
PARTS = ".parts"
VALID, EXCLUDED = 255, 0
#: codes of excluded pixels whose prompt is known (all < 128, so readers see them as excluded)
EXCLUDED_BY = {"sky": 1, "watermark": 2}


@dataclass
class MaskRecord:
    image: str
    mask: str
    valid_fraction: float
    dropped: bool
    labels: list[str] | None = None

    def to_json(self) -> str:
        data = asdict(self)
        if data["labels"] is None:
            del data["labels"]
        return json.dumps(data, sort_keys=False)


def mask_relpath(image_rel: str | Path) -> str:
    """Where the mask of ``image_rel`` lives under the mask root: same relative path, ``.png``."""
    return Path(image_rel).with_suffix(".png").as_posix()


def encode_mask(valid: np.ndarray, excluded_by: Mapping[str, np.ndarray] | None = None) -> bytes:
    """The PNG bytes; ``excluded_by`` (prompt -> bool map) records which prompt excluded a pixel."""
    import io

    valid = np.asarray(valid, dtype=bool)
    codes = np.where(valid, VALID, EXCLUDED).astype(np.uint8)
    for name, region in (excluded_by or {}).items():
        codes[np.asarray(region, dtype=bool) & ~valid] = EXCLUDED_BY[name]
    buf = io.BytesIO()
    Image.fromarray(codes, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def read_mask_codes(path: str | Path) -> np.ndarray:
    """A mask PNG's raw values (H, W) uint8: 255 valid, :data:`EXCLUDED_BY` codes, 0 excluded."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


#: raw values at or above this are valid, below it excluded (whatever code says why)
VALID_THRESHOLD = 128


def read_mask(path: str | Path) -> np.ndarray:
    """A mask PNG -> (H, W) bool, True = valid."""
    return read_mask_codes(path) >= VALID_THRESHOLD


def write_mask(
    mask_root: str | Path,
    image_rel: str | Path,
    valid: np.ndarray,
    min_valid_fraction: float = 0.2,
    labels: list[str] | None = None,
    tag: str = "",
    excluded_by: Mapping[str, np.ndarray] | None = None,
) -> MaskRecord:
    """Write one mask PNG atomically and return its manifest record (for other mask sources too,
    e.g. the synthetic world's true sky/watermark masks; finish with :func:`merge_manifest`)."""
    record = mask_record(image_rel, valid, min_valid_fraction, labels)
    write_bytes(Path(mask_root) / record.mask, encode_mask(valid, excluded_by), fsync=False, tag=tag)
    return record


def mask_record(
    image_rel: str | Path, valid: np.ndarray, min_valid_fraction: float = 0.2, labels: list[str] | None = None
) -> MaskRecord:
    fraction = float(valid.mean()) if valid.size else 0.0
    return MaskRecord(
        Path(image_rel).as_posix(), mask_relpath(image_rel), fraction, fraction < min_valid_fraction, labels
    )


def read_manifest(mask_root: str | Path) -> dict[str, MaskRecord]:
    """``manifest.jsonl`` -> records by image path; a malformed line is an error naming file and line."""
    path = Path(mask_root) / MANIFEST
    return _read_records(path) if path.is_file() else {}


def _read_records(path: Path, lenient: bool = False) -> dict[str, MaskRecord]:
    """``lenient`` (part files): skip a malformed line — a line cut by a crash; that image is redone."""
    records: dict[str, MaskRecord] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                rec = MaskRecord(
                    image=str(data["image"]),
                    mask=str(data["mask"]),
                    valid_fraction=float(data["valid_fraction"]),
                    dropped=bool(data["dropped"]),
                    labels=data.get("labels"),
                )
            except (ValueError, KeyError, TypeError) as exc:
                if lenient:
                    continue
                raise ValueError(f"{path}:{lineno}: bad mask record ({exc})") from exc
            records[rec.image] = rec
    return records


def append_record(part: Path, record: MaskRecord) -> None:
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "a", encoding="utf-8") as fh:
        fh.write(record.to_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def merge_manifest(
    mask_root: str | Path,
    min_valid_fraction: float = 0.2,
    remove_parts: Iterable[Path] = (),
    images: Iterable[str] | None = None,
) -> dict[str, MaskRecord]:
    """Fold part files into ``manifest.jsonl`` (atomic, sorted); keep only records whose PNG exists.

    ``images`` (relative image paths) adds a record, computed from the PNG, for any image whose PNG
    exists but has no record (e.g. masks copied in from elsewhere). ``dropped`` is re-derived from
    ``min_valid_fraction`` so changing the rule needs no regeneration.
    """
    root = Path(mask_root)
    records = read_manifest(root)
    parts_dir = root / PARTS
    for part in sorted(parts_dir.glob("*.jsonl")) if parts_dir.is_dir() else []:
        records.update(_read_records(part, lenient=True))
    for image in images or ():
        if image not in records and (root / mask_relpath(image)).is_file():
            records[image] = mask_record(image, read_mask(root / mask_relpath(image)))
    kept = {}
    for image in sorted(records):
        rec = records[image]
        if (root / rec.mask).is_file():
            rec.dropped = rec.valid_fraction < min_valid_fraction
            kept[image] = rec
    _write_manifest_file(root, kept)
    for part in remove_parts:
        Path(part).unlink(missing_ok=True)
    try:
        parts_dir.rmdir()  # only when empty: other shards may still be writing theirs
    except OSError:
        pass
    return kept


def write_manifest(mask_root: str | Path, records: Iterable[MaskRecord]) -> None:
    """Merge ``records`` into ``manifest.jsonl`` (sorted, atomic): for writers that make all masks at once."""
    merged = read_manifest(mask_root)
    merged.update({r.image: r for r in records})
    _write_manifest_file(Path(mask_root), dict(sorted(merged.items())))


def _write_manifest_file(root: Path, records: dict[str, MaskRecord]) -> None:
    write_bytes(root / MANIFEST, "".join(r.to_json() + "\n" for r in records.values()).encode(), fsync=False)
