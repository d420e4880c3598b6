"""Offline mask generation: resumable, shardable, atomic, never stopped by one bad image.

A run lists the images under a root (sorted, so shards are stable), takes its shard ``i/n``,
skips every image whose mask PNG already exists, and masks the rest in batches while a
``DataLoader`` decodes the next images. Each record goes to the shard's part file before its PNG is
renamed into place; the manifest is merged at the end (see :mod:`repro.data.mask_manifest`). A killed
run restarts where it stopped and ends with exactly the files of an uninterrupted run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from repro.data.mask_manifest import PARTS, append_record, mask_record, mask_relpath, merge_manifest, write_mask
from repro.masks.backends import MaskResult
from repro.progress import progress_bar

log = logging.getLogger("repro.masks")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
NON_PHOTO_MODES = ("I", "I;16", "I;16B", "I;16L", "F")  # 16-bit / float: depth maps, not RGB photos

MaskFn = Callable[[Sequence[np.ndarray]], list[MaskResult]]


@dataclass
class GenerateSummary:
    total: int = 0  # images in this shard
    skipped: int = 0  # already had a mask
    written: int = 0
    dropped: int = 0  # written masks under the valid-fraction threshold
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image, error)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def _is_photo(path: Path) -> bool:
    """False for 16-bit/float images (depth maps in the datasets' layouts); reads the header only."""
    try:
        with Image.open(path) as im:
            return im.mode not in NON_PHOTO_MODES
    except (OSError, UnidentifiedImageError, ValueError):
        return True  # unreadable: listed, so the run reports it


def list_images(image_root: str | Path, exclude: str | Path | None = None) -> list[str]:
    """Relative paths (posix, sorted) of the photos under ``image_root`` (not under ``exclude``).

    Depth maps stored next to the RGB (16-bit PNGs in Matterport3D, Stanford2D3D, Structured3D) are
    recognised by their pixel format and left out.
    """
    root = Path(image_root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    skip = Path(exclude).resolve() if exclude is not None else None
    out = []
    for path in root.rglob("*"):
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file():
            if skip is not None and path.resolve().is_relative_to(skip):
                continue
            if _is_photo(path):
                out.append(path.relative_to(root).as_posix())
    return sorted(out)


def shard_of(items: Sequence[str], shard: tuple[int, int] | None) -> list[str]:
    if shard is None:
        return list(items)
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    return list(items[i::n])


def pending_images(mask_root: str | Path, images: Sequence[str]) -> list[str]:
    root = Path(mask_root)
    return [rel for rel in images if not (root / mask_relpath(rel)).is_file()]


class _Images(torch.utils.data.Dataset):
    """Decodes images in DataLoader workers; a bad file becomes an error string, not an exception."""

    def __init__(self, root: Path, rels: Sequence[str]) -> None:
        self.root, self.rels = root, list(rels)

    def __len__(self) -> int:
        return len(self.rels)

    def __getitem__(self, i: int) -> tuple[str, np.ndarray | None, str | None]:
        rel = self.rels[i]
        try:
            with Image.open(self.root / rel) as im:
                return rel, np.array(im.convert("RGB")), None
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            return rel, None, f"{type(exc).__name__}: {exc}"


def _shard_tag(shard: tuple[int, int] | None) -> str:
    i, n = shard or (0, 1)
    return f"shard-{i}-of-{n}"


def _remove_stale_temps(mask_root: Path, tag: str) -> None:
    """Temp files this shard left when it was killed mid-write (other shards' are left alone)."""
    for tmp in mask_root.rglob(f".*{tag}.tmp"):
        tmp.unlink(missing_ok=True)


def generate_masks(
    image_root: str | Path,
    mask_root: str | Path,
    backend: MaskFn | None = None,
    *,
    make_backend: Callable[[], MaskFn] | None = None,
    images: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
    batch_size: int = 1,
    num_workers: int = 0,
    min_valid_fraction: float = 0.2,
    progress: bool = True,
) -> GenerateSummary:
    """Mask every image of this shard that has no mask yet under ``mask_root``, then merge the manifest.

    ``backend`` maps a list of RGB uint8 (H, W, 3) arrays to :class:`MaskResult` s (a
    :class:`repro.masks.GroundedSAM`, or anything with that call signature); alternatively
    ``make_backend`` builds it, called only if some mask is missing (so finished mask sets need
    neither model weights nor a GPU).
    """
    image_root, mask_root = Path(image_root), Path(mask_root)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    all_images = list(images) if images is not None else list_images(image_root, exclude=mask_root)
    mine = shard_of(all_images, shard)
    todo = pending_images(mask_root, mine)
    summary = GenerateSummary(total=len(mine), skipped=len(mine) - len(todo))
    if todo and backend is None:
        if make_backend is None:
            raise ValueError("generate_masks needs backend= or make_backend=")
        backend = make_backend()
    tag = _shard_tag(shard)
    part = mask_root / PARTS / f"{tag}.jsonl"
    mask_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(mask_root, tag)
    loader = torch.utils.data.DataLoader(
        _Images(image_root, todo), batch_size=batch_size, num_workers=num_workers, collate_fn=list
    )
    start = time.perf_counter()
    bar = progress_bar(total=len(todo), unit="img", desc=f"masks {tag}", enabled=progress and bool(todo))
    for batch in loader:
        ok = [(rel, img) for rel, img, err in batch if img is not None]
        for rel, img, err in batch:
            if err is not None:
                log.warning("skipping unreadable image %s: %s", image_root / rel, err)
                summary.failed.append((rel, err))
        results = backend([img for _, img in ok]) if ok and backend is not None else []
        for (rel, _), result in zip(ok, results):
            record = mask_record(rel, result.valid, min_valid_fraction, result.labels)
            append_record(part, record)  # before the PNG: every finished PNG has its record
            write_mask(mask_root, rel, result.valid, min_valid_fraction, result.labels, tag=tag)
            summary.written += 1
            summary.dropped += int(record.dropped)
        bar.update(len(batch))
    bar.close()
    summary.seconds = time.perf_counter() - start
    merge_manifest(mask_root, min_valid_fraction, remove_parts=[part], images=all_images)
    return summary


def ensure_masks(
    ref: Any, spec: Any, *, data_root: Path, images: Sequence[str] | None = None, device: str | None = None
) -> GenerateSummary | None:
    """The suite's mask stage: make ``ref``'s masks exist under ``ref.mask_dir(data_root)``.

    ``spec`` is a :class:`repro.run_settings.MaskSpec`. Models are loaded only if some mask is missing,
    so pre-generated masks need neither weights nor a GPU. ``ground_truth`` masks are written by the
    synthetic data generator (with :func:`repro.masks.write_mask`); here they are only checked.
    """
    if spec.backend == "none":
        return None
    image_root, mask_root = ref.root_dir(data_root), ref.mask_dir(data_root)
    if spec.backend == "ground_truth":
        if not (mask_root / "manifest.jsonl").is_file():
            raise FileNotFoundError(
                f"no ground-truth masks at {mask_root}: they come with the synthetic data "
                f"(repro.data.synth writes them with repro.masks.write_mask + merge_manifest)"
            )
        return None
    from repro.masks.backends import build_backend

    def make_backend() -> MaskFn:
        return build_backend(
            spec.backend,
            prompts=spec.prompts,
            box_threshold=spec.box_threshold,
            text_threshold=spec.text_threshold,
            device=device,
        )

    return generate_masks(
        image_root, mask_root, make_backend=make_backend, images=images, min_valid_fraction=spec.min_valid_fraction
    )
