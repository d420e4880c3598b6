"""Paired statistics for verdicts: per-image and per-seed tests, Holm correction, stated power.

Baseline and method cells are evaluated on the same test images, so a claim "A is better than B"
is tested image by image: the per-image metric differences (averaged over the seeds both cells
share, seed k against seed k), a bootstrap confidence interval of their mean and a one-sided
Wilcoxon signed-rank test. That resolves the *test-set* sampling error only; the run-to-run
(training) spread shows up only across seeds, so with several seeds the paired t-test over seeds
is reported beside it and both must hold. "Within" claims are equivalence tests (TOST) with a
stated margin. The minimum detectable effect (MDE) is the true difference a one-sided test at
``alpha`` detects with probability ``POWER``, from the measured spread — a claim whose paper
effect is below it cannot be resolved by this run, whatever its verdict.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy import stats

POWER = 0.8
N_RESAMPLES = 2000
CONFIDENCE = 0.95
TEST_LABELS = {"wilcoxon": "one-sided Wilcoxon signed-rank", "paired_t": "one-sided paired t-test", "tost": "TOST"}


@dataclass
class PairedStats:
    """One paired test: ``mean`` > 0 means "as claimed" for directional tests."""

    kind: str  # "images" | "seeds"
    test: str  # wilcoxon | paired_t | tost
    n: int
    mean: float
    sd: float | None = None
    ci: tuple[float, float] | None = None  # bootstrap (images) or t (seeds) interval of the mean
    p: float | None = None
    p_holm: float | None = None  # Holm-adjusted across the suite's directional claims
    mde: float | None = None
    margin: float | None = None  # TOST

    def describe(self, alpha: float) -> str:
        parts = [f"{TEST_LABELS[self.test]} over {self.kind}, n={self.n}: mean {self.mean:+.4g}"]
        if self.ci is not None:
            parts.append(f"{CONFIDENCE:.0%} CI [{self.ci[0]:+.4g}, {self.ci[1]:+.4g}]")
        if self.margin is not None:
            parts.append(f"margin ±{self.margin:.4g}")
        if self.p is not None:
            p = self.p_holm if self.p_holm is not None else self.p
            holm = f", Holm-adjusted {p:.3g}" if self.p_holm is not None else ""
            parts.append(f"p={self.p:.3g}{holm} {'<' if p < alpha else '≥'} α={alpha:g}")
        else:
            parts.append("untestable (no spread)")
        if self.mde is not None:
            parts.append(f"MDE {self.mde:.4g}")
        return ", ".join(parts)

    def rejects(self, alpha: float) -> bool:
        p = self.p_holm if self.p_holm is not None else self.p
        return p is not None and p < alpha


def mde(sd: float | None, n: int, alpha: float, *, sided: int = 1, df: int | None = None) -> float | None:
    """Smallest true mean difference a test at ``alpha`` finds with probability ``POWER``.

    ``(q(1 − α/sided) + q(POWER)) · sd / √n`` with normal quantiles, or Student-t ones with ``df``
    degrees of freedom (few seeds); None when the spread is unknown (n < 2).
    """
    if sd is None or n < 2 or not math.isfinite(sd):
        return None
    dist = stats.norm if df is None else stats.t(df)
    return float((dist.ppf(1 - alpha / sided) + dist.ppf(POWER)) * sd / math.sqrt(n))


def _bootstrap_ci(values: np.ndarray, seed: int = 0) -> tuple[float, float] | None:
    if len(values) < 2 or np.ptp(values) == 0:
        return (float(values.mean()), float(values.mean())) if len(values) else None
    res = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=N_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def paired_images(diffs: list[float], alpha: float) -> PairedStats:
    """Per-image gains (> 0 = as claimed): bootstrap CI of the mean, one-sided Wilcoxon signed-rank."""
    x = np.asarray(diffs, dtype=float)
    sd = float(x.std(ddof=1)) if len(x) > 1 else None
    out = PairedStats("images", "wilcoxon", len(x), float(x.mean()) if len(x) else math.nan, sd)
    out.ci = _bootstrap_ci(x)
    if len(x) >= 2 and np.any(x != 0):
        out.p = float(stats.wilcoxon(x, alternative="greater").pvalue)
    out.mde = mde(sd, len(x), alpha)
    return out


def _spread(values: list[float]) -> float | None:
    """Sample std; exactly 0 when it is rounding noise (constant differences), None for n < 2."""
    if len(values) < 2:
        return None
    sd = statistics.stdev(values)
    return 0.0 if sd <= 1e-12 * max(1.0, max(abs(v) for v in values)) else sd


def paired_seeds(gains: list[float], alpha: float) -> PairedStats:
    """Per-seed gains (> 0 = as claimed): one-sided paired t-test, t interval of the mean."""
    n = len(gains)
    mean = statistics.fmean(gains) if gains else math.nan
    sd = _spread(gains)
    out = PairedStats("seeds", "paired_t", n, mean, sd)
    if sd:
        out.p = float(stats.ttest_1samp(gains, 0.0, alternative="greater").pvalue)
        half = float(stats.t(n - 1).ppf(0.5 + CONFIDENCE / 2)) * sd / math.sqrt(n)
        out.ci = (mean - half, mean + half)
    out.mde = mde(sd, n, alpha, df=n - 1) if n > 1 else None
    return out


def tost(diffs: list[float], margin: float, alpha: float, kind: str) -> PairedStats:
    """Two one-sided t-tests that the mean difference lies inside ±``margin`` (equivalence)."""
    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else math.nan
    sd = _spread(diffs)
    out = PairedStats(kind, "tost", n, mean, sd, margin=margin)
    if n >= 2 and not sd:  # zero spread: equivalent exactly when the constant difference is inside
        out.p = 0.0 if abs(mean) < margin else 1.0
    elif sd:
        lo = stats.ttest_1samp(diffs, -margin, alternative="greater").pvalue
        hi = stats.ttest_1samp(diffs, margin, alternative="less").pvalue
        out.p = float(max(lo, hi))
        half = float(stats.t(n - 1).ppf(1 - alpha)) * sd / math.sqrt(n)
        out.ci = (mean - half, mean + half)  # the 1 − 2α interval TOST inverts
    out.mde = mde(sd, n, alpha, df=n - 1 if kind == "seeds" else None)
    return out


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (None entries are not tests and are left out).

    scipy has no family-wise (only false-discovery) adjustment; Holm is the few lines below:
    sort ascending, multiply the i-th smallest by (m − i), carry the running maximum, cap at 1.
    """
    indexed = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(indexed)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def paired_image_diffs(
    a: dict[str, dict[str, float]], b: dict[str, dict[str, float]], sign: float = 1.0
) -> list[float]:
    """``sign · (b − a)`` per image, averaged over the seeds both cells share; images in both only.

    ``a``/``b``: seed -> {image: value}. With ``sign`` +1 for lower-is-better metrics, a positive
    value means ``a`` is better than ``b`` on that image.
    """
    per_image: dict[str, list[float]] = {}
    for seed in a.keys() & b.keys():
        for img in a[seed].keys() & b[seed].keys():
            per_image.setdefault(img, []).append(sign * (b[seed][img] - a[seed][img]))
    return [statistics.fmean(v) for _, v in sorted(per_image.items())]


def row_mde(
    images: dict[str, dict[str, float]], seeds: list[float], alpha: float
) -> tuple[float | None, float | None]:
    """Two-sided MDE of a cell's mean against a fixed value: (from the per-image spread, averaged
    over seeds; from the per-seed spread). Either is None when it cannot be measured."""
    by_image: dict[str, list[float]] = {}
    for values in images.values():
        for img, v in values.items():
            by_image.setdefault(img, []).append(v)
    img_means = [statistics.fmean(v) for v in by_image.values()]
    sd_img = statistics.stdev(img_means) if len(img_means) > 1 else None
    sd_seed = statistics.stdev(seeds) if len(seeds) > 1 else None
    return (
        mde(sd_img, len(img_means), alpha, sided=2),
        mde(sd_seed, len(seeds), alpha, sided=2, df=len(seeds) - 1) if sd_seed is not None else None,
    )
