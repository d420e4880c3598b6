"""Output and prediction files keyed by an image's path relative to its dataset, never its stem alone.

Structured3D names every panorama ``rgb_rawlight.png`` (``scene_XXXXX/2D_rendering/ID/panorama/
full/rgb_rawlight.png``): keyed by stem, ``predict`` on three of them kept one output set and
``eval --model predictions`` scored one file against every test image. Here:

* ``repro predict`` writes each panorama's files under ``OUT/<its folder relative to the inputs'
  common folder>/``: panoramas of one folder keep the flat layout (``OUT/NAME_depth.png``).
* ``repro eval --model predictions`` reads ``PRED/<dataset-relative path>.npy`` (or ``.png``); the
  flat ``PRED/<stem>.npy`` is still read when the stem is unique in the split (the old layout), and
  refused with a message naming the clash when it is not.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from repro.errors import UserError

__all__ = ["PREDICTION_SUFFIXES", "PredictionIndex", "output_keys"]

PREDICTION_SUFFIXES = (".npy", ".png")


def output_keys(images: Sequence[Path]) -> list[Path]:
    """Each image's output key (no suffix): its path relative to the images' common folder.

    Two arguments naming the same file, or two files differing only in suffix, are an error (one
    output set would overwrite the other).
    """
    resolved = [p.resolve() for p in images]
    seen: dict[Path, Path] = {}
    for given, real in zip(images, resolved, strict=True):
        if real in seen:
            raise UserError(f"panorama {given} is given twice (also as {seen[real]})")
        seen[real] = given
    if not resolved:
        return []
    common = Path(os.path.commonpath([p.parent for p in resolved]))
    keys = [p.relative_to(common).with_suffix("") for p in resolved]
    owner: dict[Path, Path] = {}
    for given, key in zip(images, keys, strict=True):
        if key in owner:  # a.jpg and a.png side by side
            raise UserError(f"panoramas {owner[key]} and {given} would write the same outputs ({key}_depth.png, ...)")
        owner[key] = given
    return keys


class PredictionIndex:
    """Finds the supplied prediction of each test image in a predictions folder."""

    def __init__(self, folder: Path, dataset_root: Path, relpaths: Iterable[str]) -> None:
        self.folder, self.dataset_root = Path(folder), Path(dataset_root)
        self.stem_count = Counter(Path(r).stem for r in relpaths)
        if not self.folder.is_dir():
            raise UserError(f"predictions folder {self.folder} does not exist")

    def find(self, image_path: str | Path) -> Path:
        """The prediction file of one test image (``image_path`` as the dataset yields it)."""
        image = Path(image_path)
        try:
            rel = image.relative_to(self.dataset_root)
        except ValueError:
            rel = Path(image.name)
        nested = [self.folder / rel.with_suffix(s) for s in PREDICTION_SUFFIXES]
        for candidate in nested:
            if candidate.is_file():
                return candidate
        flat = [self.folder / f"{rel.stem}{s}" for s in PREDICTION_SUFFIXES]
        existing = [c for c in flat if c.is_file()]
        if existing and self.stem_count[rel.stem] > 1:
            raise UserError(
                f"prediction {existing[0]} is ambiguous: {self.stem_count[rel.stem]} test images are named "
                f"'{rel.stem}'; lay predictions out by dataset-relative path ({nested[0]})"
            )
        if existing:
            return existing[0]
        raise UserError(f"no prediction for {image}: expected {nested[0]} (or .png)")
