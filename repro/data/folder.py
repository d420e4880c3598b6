"""Unlabeled equirect images: SpatialAudioGen video frames and any folder of panoramas.

Every photo under the root (any nesting, dot-folders skipped, 16-bit depth maps skipped) is a
sample; ``<root>/<name>_<split>.txt`` (one relative path per line, optionally followed by a depth
path) fixes the list instead. Samples carry ``valid`` from their sky/watermark mask when a mask
root is given. A depth map at ``<root>/.depth/<image path with .png>`` (uint16 millimetres) is read
when present: the synthetic world stores its exact depth there for the oracle teacher.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from repro.data.base import (
    _READ_ERRORS,
    DEPTH_MODES,
    DataError,
    Entry,
    PanoramaDataset,
    inside_root,
    read_split_file,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEPTH_DIR = ".depth"


def _is_photo(path: Path) -> bool:
    """False for 16-bit single-channel images (depth maps); unreadable files stay listed (and fail loudly)."""
    try:
        with Image.open(path) as im:
            return im.mode not in DEPTH_MODES
    except _READ_ERRORS:
        return True


def list_images(root: Path) -> list[str]:
    """Relative posix paths of the photos under ``root``, sorted (stable across machines)."""
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.is_file() and _is_photo(path):
            out.append(rel.as_posix())
    return sorted(out)


class ImageFolder(PanoramaDataset):
    """A folder of equirect photos; train and all are every image unless a list file says otherwise."""

    name = "folder"
    labeled = False
    depth_scale = 1000.0

    def list_entries(self, split: str, split_file: Path | None) -> list[Entry]:
        listed = self.root / f"{self.name}_{split}.txt"
        if split_file is not None or listed.is_file():
            self.sources = [split_file or listed]
            return read_split_file(split_file or listed, self.root, fields=(1, 2))
        if split not in ("train", "all"):
            raise DataError(f"{self.name}: split '{split}' needs a list file {listed}")
        images = list_images(self.root)
        if not images:
            raise DataError(f"no images found under {self.root}")
        return [Entry(rel, None, "") for rel in images]

    def depth_path(self, entry: Entry) -> Path | None:
        if entry.depth:
            return inside_root(self.root, entry.depth, entry.origin)
        sidecar = self.root / DEPTH_DIR / Path(entry.rgb).with_suffix(".png")
        return sidecar if sidecar.is_file() else None


class SpatialAudioGen(ImageFolder):
    """SpatialAudioGen 360° video frames (the paper's unlabeled set), e.g. ``<video>/<frame>.jpg``."""

    name = "spatialaudiogen"
