"""``repro masks audit``: how much each mask set excludes, and a contact sheet to eyeball it."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from repro.atomic import write_png
from repro.data.mask_manifest import MaskRecord, read_manifest, read_mask


@dataclass
class AuditReport:
    images: int
    dropped: int
    valid_fraction_mean: float
    valid_fraction_median: float
    valid_fraction_min: float
    any_excluded: int  # images with at least one excluded pixel
    histogram: dict[str, int]  # excluded-fraction bins -> image count
    labels: dict[str, int] = field(default_factory=dict)  # prompt -> images where it was found
    missing_images: list[str] = field(default_factory=list)  # listed images without a mask
    sheet: Path | None = None

    def rows(self) -> list[tuple[str, object]]:
        rows: list[tuple[str, object]] = [
            ("images with masks", self.images),
            ("dropped (< min valid)", self.dropped),
            ("with any exclusion", self.any_excluded),
            ("valid fraction mean", f"{self.valid_fraction_mean:.3f}"),
            ("valid fraction median", f"{self.valid_fraction_median:.3f}"),
            ("valid fraction min", f"{self.valid_fraction_min:.3f}"),
        ]
        rows += [(f"excluded {k}", v) for k, v in self.histogram.items()]
        rows += [(f"found '{k}'", v) for k, v in sorted(self.labels.items())]
        if self.missing_images:
            rows.append(("images without mask", len(self.missing_images)))
        return rows


BINS = (0.0, 1e-9, 0.05, 0.2, 0.5, 0.8, 1.0 + 1e-9)
BIN_NAMES = ("0 %", "0–5 %", "5–20 %", "20–50 %", "50–80 %", "80–100 %")


def _histogram(excluded: np.ndarray) -> dict[str, int]:
    counts, _ = np.histogram(excluded, bins=BINS)
    return dict(zip(BIN_NAMES, (int(c) for c in counts)))


def _tile(record: MaskRecord, mask_root: Path, image_root: Path | None, width: int) -> Image.Image:
    valid = read_mask(mask_root / record.mask)
    h, w = valid.shape
    image_path = image_root / record.image if image_root is not None else None
    if image_path is not None and image_path.is_file():
        with Image.open(image_path) as im:
            base = im.convert("RGB").resize((w, h))
    else:
        base = Image.new("RGB", (w, h), (128, 128, 128))
    red = Image.new("RGB", (w, h), (255, 0, 0))
    alpha = Image.fromarray(np.where(valid, 0, 140).astype(np.uint8), mode="L")
    tile = Image.composite(red, base, alpha)
    tile = tile.resize((width, max(1, round(width * h / w))))
    draw = ImageDraw.Draw(tile)
    text = f"{record.image}  valid {record.valid_fraction:.0%}{'  DROPPED' if record.dropped else ''}"
    draw.rectangle((0, 0, width, 12), fill=(0, 0, 0))
    draw.text((2, 0), text, fill=(255, 255, 0) if record.dropped else (255, 255, 255))
    return tile


def contact_sheet(
    records: list[MaskRecord], mask_root: Path, image_root: Path | None, columns: int = 4, width: int = 256
) -> Image.Image:
    """Tiles of image + excluded pixels in red, captioned with the valid fraction."""
    tiles = [_tile(r, mask_root, image_root, width) for r in records]
    if not tiles:
        return Image.new("RGB", (width, 16), (0, 0, 0))
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    th = max(t.height for t in tiles)
    sheet = Image.new("RGB", (cols * width, rows * th), (0, 0, 0))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * width, (k // cols) * th))
    return sheet


def audit_masks(
    mask_root: str | Path,
    image_root: str | Path | None = None,
    sheet: str | Path | None = None,
    samples: int = 16,
    seed: int = 0,
    images: list[str] | None = None,
) -> AuditReport:
    """Coverage statistics of ``mask_root``'s manifest; with ``sheet``, a contact sheet of ``samples``
    random masks over their images. ``images`` (relative paths) reports those without a mask."""
    mask_root = Path(mask_root)
    records = list(read_manifest(mask_root).values())
    if not records:
        raise FileNotFoundError(
            f"no masks at {mask_root} (no {mask_root / 'manifest.jsonl'}): run `repro masks generate`"
        )
    valid = np.array([r.valid_fraction for r in records])
    labels = Counter(lab for r in records for lab in (r.labels or []))
    report = AuditReport(
        images=len(records),
        dropped=sum(r.dropped for r in records),
        valid_fraction_mean=float(valid.mean()),
        valid_fraction_median=float(np.median(valid)),
        valid_fraction_min=float(valid.min()),
        any_excluded=int((valid < 1).sum()),
        histogram=_histogram(1 - valid),
        labels=dict(labels),
        missing_images=sorted(set(images or ()) - {r.image for r in records}),
    )
    if sheet is not None:
        chosen = random.Random(seed).sample(records, min(samples, len(records)))
        chosen.sort(key=lambda r: r.image)
        img = contact_sheet(chosen, mask_root, Path(image_root) if image_root is not None else None)
        write_png(sheet, img)
        report.sheet = Path(sheet)
    return report
