"""``repro masks audit``: how much each mask set excludes, and a contact sheet to eyeball it."""

from __future__ import annotations

import functools
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from repro.atomic import write_png
from repro.data.mask_manifest import EXCLUDED_BY, VALID_THRESHOLD, MaskRecord, read_manifest, read_mask_codes


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


#: overlay colour (RGB) and legend text of each kind of excluded region
COLOURS = {
    "sky": ((255, 215, 0), "sky"),  # yellow: a blue overlay would vanish on a blue sky
    "watermark": ((255, 0, 200), "watermark"),
    "unknown": ((0, 230, 120), "excluded, prompt not recorded"),
}
OVERLAY_ALPHA = 150
CAPTION_LINES = 2
FONT_SIZE = 12


@functools.cache  # loaded once, not once per tile
def _font(size: int = FONT_SIZE) -> ImageFont.ImageFont:
    """DejaVu Sans (shipped with matplotlib), so captions read the same on every machine."""
    from matplotlib import font_manager

    try:
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except OSError:  # pragma: no cover - matplotlib always ships it
        return ImageFont.load_default()


def excluded_by_label(codes: np.ndarray, labels: list[str] | None) -> dict[str, np.ndarray]:
    """Excluded pixels by prompt ("sky", "watermark", "unknown"), for colouring only.

    A mask file may record the prompt of each excluded pixel (:data:`EXCLUDED_BY`); where it does
    not, the manifest's ``labels`` decide when they name one prompt, and the rest is "unknown".
    """
    excluded = codes < VALID_THRESHOLD
    regions = {name: codes == code for name, code in EXCLUDED_BY.items()}
    unknown = excluded & ~np.logical_or.reduce(list(regions.values()))
    found = sorted(set(labels or ()))
    if len(found) == 1 and found[0] in regions:
        regions[found[0]] |= unknown
        unknown = np.zeros_like(unknown)
    return {**regions, "unknown": unknown}


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, font: ImageFont.ImageFont) -> str:
    """``text`` shortened from the left with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("…" + text, font=font) > width:
        text = text[1:]
    return "…" + text


def _tile(record: MaskRecord, mask_root: Path, image_root: Path | None, width: int) -> Image.Image:
    codes = read_mask_codes(mask_root / record.mask)
    h, w = codes.shape
    image_path = image_root / record.image if image_root is not None else None
    if image_path is not None and image_path.is_file():
        with Image.open(image_path) as im:
            base = im.convert("RGB").resize((w, h))
    else:
        base = Image.new("RGB", (w, h), (128, 128, 128))
    picture = base
    for name, region in excluded_by_label(codes, record.labels).items():
        colour = COLOURS[name][0]
        alpha = Image.fromarray(np.where(region, OVERLAY_ALPHA, 0).astype(np.uint8), mode="L")
        picture = Image.composite(Image.new("RGB", (w, h), colour), picture, alpha)
    picture = picture.resize((width, max(1, round(width * h / w))))
    font = _font()
    line_h = FONT_SIZE + 4
    tile = Image.new("RGB", (width, picture.height + CAPTION_LINES * line_h + 4), (0, 0, 0))
    tile.paste(picture, (0, 0))
    draw = ImageDraw.Draw(tile)
    status = f"valid {record.valid_fraction:.1%}"
    if record.labels:
        status += "  ·  found: " + ", ".join(record.labels)
    if record.dropped:
        status += "  ·  DROPPED"
    y = picture.height + 2
    draw.text((3, y), _fit(draw, record.image, width - 6, font), fill=(255, 255, 255), font=font)
    colour = (255, 210, 0) if record.dropped else (170, 255, 170)
    draw.text((3, y + line_h), _fit(draw, status, width - 6, font), fill=colour, font=font)
    return tile


def _legend(width: int) -> Image.Image:
    font = _font()
    entries = COLOURS.values()
    legend = Image.new("RGB", (width, FONT_SIZE + 12), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    x = 6
    for colour, text in entries:
        draw.rectangle((x, 4, x + FONT_SIZE, 4 + FONT_SIZE), fill=colour)
        x += FONT_SIZE + 5
        draw.text((x, 3), text, fill=(0, 0, 0), font=font)
        x += int(draw.textlength(text, font=font)) + 18
    draw.text((x, 3), "caption: valid fraction of the tile", fill=(80, 80, 80), font=font)
    return legend


def contact_sheet(
    records: list[MaskRecord], mask_root: Path, image_root: Path | None, columns: int = 4, width: int = 320
) -> Image.Image:
    """Tiles of image + excluded pixels coloured by prompt (:data:`COLOURS`), each captioned with its
    path and valid fraction, and a legend below."""
    tiles = [_tile(r, mask_root, image_root, width) for r in records]
    if not tiles:
        return Image.new("RGB", (width, 16), (0, 0, 0))
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    th = max(t.height for t in tiles)
    gap = 4
    sheet_w = cols * width + (cols - 1) * gap
    legend = _legend(max(sheet_w, 720))
    sheet = Image.new("RGB", (max(sheet_w, legend.width), rows * (th + gap) + legend.height), (255, 255, 255))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, ((k % cols) * (width + gap), (k // cols) * (th + gap)))
    sheet.paste(legend, (0, rows * (th + gap)))
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
