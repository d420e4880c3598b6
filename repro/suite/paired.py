"""Per-image paired comparison of two models scored on the same test images.

Baseline and method checkpoints are evaluated on the same images, so a claim such as "ST pseudo
labels lower UniFuse's AbsRel" is tested image by image: the mean per-image difference, its 95 %
bootstrap confidence interval, and a one-sided Wilcoxon signed-rank test (scipy) in the claimed
direction. The statistics are the suite's own (:func:`repro.suite.stats.paired_images`); this
module pairs two per-image CSVs by image name for the released-checkpoint report.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PairedResult:
    n: int  # images present in both, with valid pixels
    mean_a: float
    mean_b: float
    improvement: float  # mean per-image gain of a over b in the claimed direction (> 0: as claimed)
    ci: tuple[float, float]  # 95 % bootstrap interval of ``improvement``
    p: float | None  # one-sided Wilcoxon signed-rank p ("a is not better"); None: not computable

    def holds(self, alpha: float = 0.05) -> bool:
        return self.p is not None and self.p < alpha and self.improvement > 0


def read_per_image(path: str | Path, metric: str) -> dict[str, float]:
    """``image -> metric`` from a per-image CSV (images without a valid pixel left out)."""
    out = {}
    with Path(path).open(newline="") as fh:
        for row in csv.DictReader(fh):
            if int(float(row.get("valid_pixels") or 0)) and row.get(metric) not in (None, ""):
                value = float(row[metric])
                if math.isfinite(value):
                    out[row["image"]] = value
    return out


def compare(a: dict[str, float], b: dict[str, float], *, lower_is_better: bool, alpha: float = 0.05) -> PairedResult:
    """Is ``a`` better than ``b``, image by image? Images are paired by name."""
    from repro.suite.stats import paired_images

    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError("no image is scored in both evaluations: they are not on the same test images")
    xa = np.array([a[k] for k in common])
    xb = np.array([b[k] for k in common])
    gain = (xb - xa) if lower_is_better else (xa - xb)
    st = paired_images(gain.tolist(), alpha)
    ci = st.ci if st.ci is not None else (math.nan, math.nan)
    return PairedResult(len(common), float(xa.mean()), float(xb.mean()), float(gain.mean()), ci, st.p)
