"""``repro data verify``: is this folder the dataset the paper used, complete and readable?

Opens every listed file (full decode, so truncated files are caught), checks depth encoding and
aspect ratio, and summarises per split: images, problems, image size, the raw depth range and
median depth in metres, invalid and > 10 m fractions. The official split sizes and the depth
statistics tell a wrong download (missing files, a wrong depth scale) apart from a wrong model.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repro.data import DataError, dataset_class
from repro.data.base import (
    SPLITS_DIR,
    PanoramaDataset,
    inside_root,
    read_depth,
    read_rgb,
)
from repro.data.mask_manifest import mask_relpath, read_manifest
from repro.data.validity import MIN_VALID_FRACTION, too_little_valid
from repro.progress import progress_bar

#: Official sizes of the lists the paper's protocol uses (UniFuse's lists, shipped in splits/).
OFFICIAL_COUNTS: dict[str, dict[str, int]] = {
    "matterport3d": {"train": 7829, "val": 957, "test": 2014},
    "stanford2d3d": {"train": 1000, "val": 40, "test": 373},
}
PLAUSIBLE_MEDIAN_M = (0.5, 8.0)  # indoor panoramas: outside this, suspect the depth scale


@dataclass
class SplitSummary:
    split: str
    images: int = 0
    ok: int = 0
    expected: int | None = None
    source: str = "-"
    sizes: set[tuple[int, int]] = field(default_factory=set)
    depth_min: float = float("inf")
    depth_max: float = 0.0
    medians: list[float] = field(default_factory=list)
    invalid: list[float] = field(default_factory=list)
    far: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        med = float(np.median(self.medians)) if self.medians else None
        return {
            "split": self.split,
            "list": self.source,
            "images": self.images,
            "expected": self.expected if self.expected is not None else "-",
            "ok": self.ok,
            "size (HxW)": ", ".join(f"{h}x{w}" for h, w in sorted(self.sizes)) or "-",
            "depth range (m)": f"{self.depth_min:.2f}-{self.depth_max:.2f}" if self.medians else "-",
            "median (m)": f"{med:.2f}" if med is not None else "-",
            "invalid %": f"{100 * np.mean(self.invalid):.1f}" if self.invalid else "-",
            "> 10 m %": f"{100 * np.mean(self.far):.2f}" if self.far else "-",
        }


@dataclass
class VerifyReport:
    dataset: str
    root: Path
    splits: list[SplitSummary] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        from tabulate import tabulate

        return tabulate([s.row() for s in self.splits], headers="keys")


def _check(ds: PanoramaDataset, index: int) -> tuple[dict[str, Any] | None, str | None]:
    entry = ds.entries[index]
    try:
        rgb = read_rgb(inside_root(ds.root, entry.rgb, entry.origin), entry.origin)
        h, w = rgb.shape[-2:]
        if w != 2 * h:
            return None, f"image {ds.root / entry.rgb} is {h}x{w}, not equirectangular (W = 2H)"
        out: dict[str, Any] = {"size": (h, w)}
        depth_file = ds.depth_path(entry)
        if depth_file is not None:
            depth = read_depth(depth_file, ds.depth_scale, ds.depth_invalid, entry.origin)[0].numpy()
            if depth.shape[1] * h != depth.shape[0] * w:
                return None, f"depth {depth_file} is {depth.shape}, its image {(h, w)}: aspect ratios differ"
            valid = depth[depth > 0]
            out.update(
                invalid=1.0 - valid.size / depth.size,
                far=float((valid > 10.0).sum()) / depth.size,
                lo=float(valid.min()) if valid.size else None,
                hi=float(valid.max()) if valid.size else None,
                median=float(np.median(valid)) if valid.size else None,
            )
        if ds.mask_root is not None and not (ds.mask_root / mask_relpath(entry.rgb)).is_file():
            out["no_mask"] = True
        return out, None
    except DataError as exc:
        return None, str(exc)


def verify_dataset(
    name: str,
    root: str | Path,
    splits: Sequence[str] | None = None,
    *,
    mask_root: str | Path | None = None,
    limit: int | None = None,
    workers: int = 4,
    progress: bool = True,
) -> VerifyReport:
    """Check ``root`` as dataset ``name``; problems name the file (and split-list line)."""
    cls = dataset_class(name)
    report = VerifyReport(name, Path(root))
    if not Path(root).is_dir():
        report.problems.append(f"dataset root {root} does not exist")
        return report
    if mask_root is not None:
        try:
            read_manifest(mask_root)
        except ValueError as exc:
            report.problems.append(str(exc))
    default = ("train", "val", "test") if cls.labeled else ("train",)
    for split in splits or default:
        summary = SplitSummary(split, expected=OFFICIAL_COUNTS.get(name, {}).get(split))
        report.splits.append(summary)
        try:
            ds = cls(root, split, mask_root=mask_root)
        except DataError as exc:
            report.problems.append(str(exc))
            continue
        summary.images = len(ds)
        summary.source = (
            "official list"
            if any(p.parent == SPLITS_DIR for p in ds.sources)
            else ("own list" if ds.sources else "scanned")
        )
        if summary.source != "official list":
            summary.expected = None  # the root's own list (e.g. synthetic): no official size to match
        if summary.expected is not None and summary.images != summary.expected:
            report.warnings.append(f"{split}: {summary.images} images, the official list has {summary.expected}")
        indices = range(len(ds)) if limit is None else range(min(limit, len(ds)))
        missing_masks = 0
        with ThreadPoolExecutor(max(1, workers)) as pool:
            results = pool.map(_check, [ds] * len(indices), indices)
            for stats, problem in progress_bar(
                results, total=len(indices), desc=f"verify {name}/{split}", enabled=progress
            ):
                if problem is not None:
                    report.problems.append(problem)
                    continue
                assert stats is not None
                summary.ok += 1
                summary.sizes.add(stats["size"])
                missing_masks += int(stats.get("no_mask", False))
                if stats.get("median") is not None:
                    summary.depth_min = min(summary.depth_min, stats["lo"])
                    summary.depth_max = max(summary.depth_max, stats["hi"])
                    summary.medians.append(stats["median"])
                if "invalid" in stats:
                    summary.invalid.append(stats["invalid"])
                    summary.far.append(stats["far"])
        if missing_masks:
            report.warnings.append(f"{split}: {missing_masks} images have no mask under {mask_root}")
        if summary.invalid:
            empty = sum(1 for x in summary.invalid if x >= 1.0)
            if too_little_valid([1.0 - x for x in summary.invalid]):
                report.problems.append(
                    f"{split}: {100 * np.mean(summary.invalid):.1f} % of the depth pixels are invalid (0); a split "
                    f"needs at least {100 * MIN_VALID_FRACTION:g} % valid to train on or score: is the depth "
                    f"encoding ({cls.depth_scale:g} units per metre) right for these files?"
                )
            elif empty:
                report.warnings.append(f"{split}: {empty} images have no valid depth pixel (not scored by eval)")
        if summary.medians:
            med = float(np.median(summary.medians))
            lo, hi = PLAUSIBLE_MEDIAN_M
            if not lo <= med <= hi:
                report.warnings.append(
                    f"{split}: median depth {med:.2f} m is implausible for indoor panoramas; is the depth "
                    f"encoding {cls.depth_scale:g} units per metre right for these files?"
                )
    return report
