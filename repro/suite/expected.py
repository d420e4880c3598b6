"""The paper's numbers, their tolerances and how a measured result is judged against them.

An expected file (``expected/<suite>.yaml``) holds, per cell, the paper row it transcribes and its
metrics; file-wide (usually via ``include: _defaults.yaml``) the direction of each metric, a default
tolerance per metric, the comparison mode and the acceptance test, each with its rationale. Cells
may override tolerance, mode and acceptance. ``claims`` are the paper's comparative statements
("with ST-all pseudo labels AbsRel improves"), checked between measured cells.

Acceptance (stated in every verdict):

* ``band`` — the measured value (the mean over seeds) lies within ``tolerance`` of the paper value
  (``two_sided``) or is no worse than the paper value minus ``tolerance`` (``no_worse``).
* ``t_test`` — one-sample two-sided Student t-test of the seeds against the paper value; passes when
  equality is not rejected at ``alpha``. It cannot show agreement, only fail to show disagreement,
  so it is lenient with few or noisy seeds; prefer ``tost``.
* ``tost`` — two one-sided t-tests for equivalence within ±``tolerance`` at ``alpha``: passes only
  when the seeds show the mean is inside the band. Needs ≥ 2 seeds (with 1 seed: ``band``).

At a non-paper scale (``--scale tiny``) paper values are shown but not compared: tiny models on
synthetic data are not expected to reach them. Every measured value must be finite and ≥ 0.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from repro.config import ConfigDict, ConfigError, Location, from_data, load_config

Direction = Literal["lower", "higher"]
Mode = Literal["two_sided", "no_worse"]
Status = Literal["pass", "fail", "missing", "not_compared", "not_reported", "cited"]

METRIC_LABELS = {
    "abs_rel": "AbsRel",
    "delta1": "δ1",
    "delta2": "δ2",
    "delta3": "δ3",
    "mae": "MAE",
    "rmse": "RMSE",
    "rmse_log": "RMSElog",
    "sq_rel": "SqRel",
    "log10": "log10",
}


@dataclass
class Acceptance:
    method: Literal["band", "t_test", "tost"] = "band"
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")


@dataclass
class CellExpectation:
    row: str = ""  # the transcribed row, as printed in the paper
    table: str = ""  # source table when it differs from the file's (e.g. a shared row)
    metrics: dict[str, float] = field(default_factory=dict)  # the paper's values
    not_reported: list[str] = field(default_factory=list)  # printed as "-" in the paper
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # sanity ranges (synthetic runs)
    tolerance: dict[str, float] = field(default_factory=dict)  # per-metric overrides
    mode: Mode | None = None
    acceptance: Acceptance | None = None
    note: str = ""


ClaimTest = Literal["mean", "paired_t", "band", "tost"]


@dataclass
class Claim:
    """A comparison the paper makes between cells, checked on the measured values.

    Two kinds: ``cell`` is better than ``better_than`` (tests ``mean``: the mean over seeds is
    strictly better; ``paired_t``: a one-sided paired t-test over the seeds the two cells share
    rejects "not better" at ``alpha``), or ``cells`` agree ``within`` a band (tests ``band``: the
    largest difference between two cells' means is at most ``within``; ``tost``: for every pair,
    two one-sided paired t-tests show the difference lies inside ±``within`` at ``alpha``). With
    ``relative_to: [a, b]`` the band is ``within × |mean(a) − mean(b)|``: "these variants differ
    by less than half the gain of a (the paper's Table 7 spread is half its Table 3 gain)".
    ``scales`` lists the scales the claim is judged at besides the paper's (``full``).
    """

    cell: str = ""
    better_than: str = ""
    metric: str = ""
    why: str = ""
    cells: list[str] = field(default_factory=list)
    within: float | None = None
    test: ClaimTest | None = None  # default: mean (better) / band (within)
    alpha: float = 0.05
    scales: list[str] = field(default_factory=list)
    relative_to: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.metric:
            raise ValueError("a claim needs a metric")
        if bool(self.better_than) == bool(self.cells):
            raise ValueError("a claim has either cell + better_than, or cells + within")
        if self.better_than:
            if not self.cell:
                raise ValueError("a better_than claim needs cell:")
            self.test = self.test or "mean"
            if self.test not in ("mean", "paired_t"):
                raise ValueError(f"a better_than claim is tested by mean or paired_t, not {self.test}")
        else:
            if len(self.cells) < 2 or self.within is None or self.within <= 0 or self.cell:
                raise ValueError("a within claim needs cells: (two or more), a positive within:, and no cell:")
            self.test = self.test or "band"
            if self.relative_to and len(self.relative_to) != 2:
                raise ValueError("relative_to names two cells: the band is within × |mean(a) − mean(b)|")
            if self.test not in ("band", "tost"):
                raise ValueError(f"a within claim is tested by band or tost, not {self.test}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")

    @property
    def names(self) -> list[str]:
        """The cells the claim compares (and those its band is measured on)."""
        if self.better_than:
            return [self.cell, self.better_than]
        return list(dict.fromkeys([*self.cells, *self.relative_to]))

    @property
    def label(self) -> str:
        if self.better_than:
            return f"{self.cell} better than {self.better_than}"
        band = f"{self.within:g} × |{' − '.join(self.relative_to)}|" if self.relative_to else f"{self.within:g}"
        return f"{', '.join(self.cells)} within ±{band}"


@dataclass
class ExpectedFile:
    source: str
    directions: dict[str, Direction]
    tolerance: dict[str, float]
    rationale: str
    mode: Mode = "two_sided"
    acceptance: Acceptance = field(default_factory=Acceptance)
    cells: dict[str, CellExpectation] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    path: str = ""

    def tolerance_for(self, cell: str, metric: str) -> float:
        return self.cells[cell].tolerance.get(metric, self.tolerance[metric])

    def mode_for(self, cell: str) -> Mode:
        return self.cells[cell].mode or self.mode

    def acceptance_for(self, cell: str) -> Acceptance:
        return self.cells[cell].acceptance or self.acceptance


def load_expected(path: str | os.PathLike[str]) -> ExpectedFile:
    """Load and cross-check an expected file (every metric has a direction and a tolerance)."""
    raw = load_config(path)
    exp = from_data(ExpectedFile, raw)
    exp.path = str(path)
    cells_raw = raw.get("cells") or ConfigDict()
    for name, cell in exp.cells.items():
        where = cells_raw.where(name) if isinstance(cells_raw, ConfigDict) else None
        for metric in [*cell.metrics, *cell.bounds, *cell.tolerance, *cell.not_reported]:
            if metric not in exp.directions:
                raise ConfigError(f"metric '{metric}' has no direction", where, f"cells.{name}")
            if metric not in exp.tolerance and metric not in cell.tolerance and metric in cell.metrics:
                raise ConfigError(f"metric '{metric}' has no tolerance", where, f"cells.{name}")
        for metric, (lo, hi) in cell.bounds.items():
            if lo > hi:
                raise ConfigError(f"bounds of '{metric}' are reversed: [{lo}, {hi}]", where, f"cells.{name}.bounds")
    for i, claim in enumerate(exp.claims):
        where = raw["claims"].where(i)
        for name in claim.names:
            if name not in exp.cells:
                raise ConfigError(f"claim names unknown cell '{name}'", where, f"claims[{i}]")
        if claim.metric not in exp.directions:
            raise ConfigError(f"claim metric '{claim.metric}' has no direction", where, f"claims[{i}]")
    return exp


def check_cells_match(exp: ExpectedFile, cell_names: list[str], suite_path: Path) -> None:
    """Every suite cell has an expectation and every expectation a cell."""
    missing = [n for n in cell_names if n not in exp.cells]
    extra = [n for n in exp.cells if n not in cell_names]
    if missing:
        raise ConfigError(f"no expectation for cells: {', '.join(missing)}", Location(exp.path, 0))
    if extra:
        raise ConfigError(f"expectations for cells not in {suite_path}: {', '.join(extra)}", Location(exp.path, 0))


# --------------------------------------------------------------------------- judging


@dataclass
class MetricVerdict:
    metric: str
    status: Status
    paper: float | None = None
    measured: float | None = None  # mean over seeds
    std: float | None = None  # sample standard deviation over seeds (None with one seed)
    n: int = 0
    delta: float | None = None  # measured − paper
    tolerance: float | None = None
    bounds: tuple[float, float] | None = None
    direction: Direction | None = None
    test: str = ""  # the rule applied, with its numbers

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "missing")


def summarize(values: list[float]) -> tuple[float, float | None]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def _band(mean: float, paper: float, tol: float, mode: Mode, direction: Direction) -> tuple[bool, str]:
    delta = mean - paper
    if mode == "two_sided":
        return abs(delta) <= tol + 1e-12, f"|Δ| ≤ {tol:g}"
    worse = delta if direction == "lower" else -delta
    return worse <= tol + 1e-12, f"no worse than paper by > {tol:g}"


def _t_test(values: list[float], paper: float, alpha: float) -> tuple[bool, str]:
    from scipy import stats

    mean, std = summarize(values)
    n = len(values)
    if not std:
        return math.isclose(mean, paper, abs_tol=1e-12), f"t-test undefined (zero spread over {n} seeds)"
    p = float(stats.ttest_1samp(values, paper).pvalue)
    return p >= alpha, f"one-sample t-test, n={n}: p={p:.3g} {'≥' if p >= alpha else '<'} α={alpha:g}"


def _tost_p(values: list[float], center: float, tol: float) -> float | None:
    """p-value of two one-sided t-tests that the mean lies in center ± tol; None with zero spread."""
    from scipy import stats

    if not summarize(values)[1]:
        return None
    p_low = stats.ttest_1samp(values, center - tol, alternative="greater").pvalue  # H0: mean <= center - tol
    p_high = stats.ttest_1samp(values, center + tol, alternative="less").pvalue  # H0: mean >= center + tol
    return float(max(p_low, p_high))


def _tost(values: list[float], paper: float, tol: float, alpha: float) -> tuple[bool, str]:
    n = len(values)
    p = _tost_p(values, paper, tol)
    if p is None:
        ok = abs(statistics.fmean(values) - paper) < tol
        return ok, f"TOST degenerate (zero spread over {n} seeds): |Δ| {'<' if ok else '≥'} {tol:g}"
    return p < alpha, f"TOST ±{tol:g}, n={n}: p={p:.3g} {'<' if p < alpha else '≥'} α={alpha:g}"


def judge_metric(
    metric: str,
    values: list[float] | None,
    *,
    paper: float | None,
    tolerance: float | None,
    direction: Direction | None,
    mode: Mode,
    acceptance: Acceptance,
    bounds: tuple[float, float] | None = None,
    compare: bool = True,
) -> MetricVerdict:
    """The verdict on one metric of one cell; ``values`` holds one measurement per seed."""
    v = MetricVerdict(metric, "pass", paper=paper, tolerance=tolerance, bounds=bounds, direction=direction)
    if not values:
        v.status, v.test = "missing", "no measurement"
        return v
    v.n = len(values)
    v.measured, v.std = summarize(values)
    if paper is not None:
        v.delta = v.measured - paper
    if not all(math.isfinite(x) and x >= 0 for x in values):
        v.status, v.test = "fail", "not a finite non-negative number"
        return v
    if bounds is not None:
        ok = bounds[0] <= v.measured <= bounds[1]
        v.status, v.test = ("pass" if ok else "fail"), f"within [{bounds[0]:g}, {bounds[1]:g}]"
        return v
    if paper is None or tolerance is None or direction is None:
        v.status, v.test = "not_compared", "no paper value"
        return v
    if not compare:
        v.status, v.test = "not_compared", "not compared at this scale"
        return v
    method = acceptance.method if v.n >= 2 else "band"
    if method == "t_test":
        ok, v.test = _t_test(values, paper, acceptance.alpha)
    elif method == "tost":
        ok, v.test = _tost(values, paper, tolerance, acceptance.alpha)
    else:
        ok, v.test = _band(v.measured, paper, tolerance, mode, direction)
        if acceptance.method != "band":
            v.test += f" ({acceptance.method} needs ≥ 2 seeds)"
    v.status = "pass" if ok else "fail"
    return v


def judge_cell(
    exp: ExpectedFile, cell: str, measured: dict[str, list[float]] | None, *, compare: bool = True
) -> list[MetricVerdict]:
    """Verdicts for every metric the paper reports for ``cell`` (and every measured one)."""
    ce = exp.cells[cell]
    metrics = list(dict.fromkeys([*ce.metrics, *ce.not_reported, *ce.bounds, *(measured or {})]))
    out = []
    for m in metrics:
        direction = exp.directions.get(m)
        if measured is None:  # a cited row: reported, never run
            status: Status = "cited" if m in ce.metrics else "not_reported"
            out.append(MetricVerdict(m, status, paper=ce.metrics.get(m), direction=direction, test="cited"))
            continue
        v = judge_metric(
            m,
            measured.get(m),
            paper=ce.metrics.get(m),
            tolerance=exp.tolerance_for(cell, m) if (m in ce.metrics) else None,
            direction=direction,
            mode=exp.mode_for(cell),
            acceptance=exp.acceptance_for(cell),
            bounds=ce.bounds.get(m),
            compare=compare,
        )
        if m in ce.not_reported and v.status == "not_compared":
            v.status, v.test = "not_reported", "the paper prints '-'"
        out.append(v)
    return out


@dataclass
class ClaimVerdict:
    claim: Claim
    status: Literal["pass", "fail", "not_evaluated"]
    values: dict[str, tuple[float, float | None, int]] = field(default_factory=dict)  # cell: (mean, std, n)
    effect: float | None = None  # better: mean paired improvement (> 0 = as claimed); within: largest |Δ|
    spread: float | None = None  # better: std of the paired improvement over seeds
    test: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


SeedValues = dict[str, float]  # seed (as text) -> value
Measured = dict[str, dict[str, "SeedValues | list[float] | float"]]  # cell -> metric -> per seed


def _per_seed(x: SeedValues | list[float] | float | None) -> SeedValues | None:
    if x is None:
        return None
    if isinstance(x, dict):
        return {str(k): float(v) for k, v in x.items()} or None
    if isinstance(x, list):
        return {str(i): float(v) for i, v in enumerate(x)} or None
    return {"0": float(x)}


def _paired(a: SeedValues, b: SeedValues) -> list[tuple[float, float]]:
    return [(a[k], b[k]) for k in a if k in b]


def _judge_better(claim: Claim, a: SeedValues, b: SeedValues, sign: float, v: ClaimVerdict) -> bool:
    from scipy import stats

    ma, mb = statistics.fmean(a.values()), statistics.fmean(b.values())
    gains = [sign * (y - x) for x, y in _paired(a, b)]  # > 0: cell better than better_than, per seed
    v.effect = sign * (mb - ma)
    v.spread = statistics.stdev(gains) if len(gains) > 1 else None
    rel = "<" if sign > 0 else ">"
    if claim.test == "paired_t" and len(gains) >= 2:
        mean = statistics.fmean(gains)
        if not v.spread:
            ok = all(g > 0 for g in gains)
            v.test = f"paired, n={len(gains)}: zero spread, gain {mean:+.4g} (t-test undefined)"
            return ok
        p = float(stats.ttest_1samp(gains, 0.0, alternative="greater").pvalue)
        ok = p < claim.alpha
        v.test = (
            f"one-sided paired t-test, n={len(gains)}: gain {mean:+.4g} ± {v.spread:.2g}, "
            f"d_z={mean / v.spread:.2f}, p={p:.3g} {'<' if ok else '≥'} α={claim.alpha:g}"
        )
        return ok
    ok = ma < mb if sign > 0 else ma > mb
    fallback = " (paired_t needs ≥ 2 shared seeds)" if claim.test == "paired_t" else ""
    v.test = f"means {ma:.4f} {rel} {mb:.4f}{fallback}"
    return ok


def _judge_within(claim: Claim, per_cell: dict[str, SeedValues], v: ClaimVerdict) -> bool:
    means = {n: statistics.fmean(x.values()) for n, x in per_cell.items()}
    within = float(claim.within)  # type: ignore[arg-type]
    if claim.relative_to:
        a, b = claim.relative_to
        within *= abs(means[a] - means[b])
    pairs = [(i, j) for k, i in enumerate(claim.cells) for j in claim.cells[k + 1 :]]
    v.effect = max(abs(means[i] - means[j]) for i, j in pairs)
    band = f"max |Δ mean| {v.effect:.4g} {'≤' if v.effect <= within + 1e-12 else '>'} {within:g}"
    diffs = {(i, j): [x - y for x, y in _paired(per_cell[i], per_cell[j])] for i, j in pairs}
    if claim.test == "tost" and min(len(d) for d in diffs.values()) >= 2:
        ps = {pair: _tost_p(d, 0.0, within) for pair, d in diffs.items()}
        # zero spread: equivalent exactly when the (constant) difference is inside the band
        ps = {pair: (p if p is not None else float(abs(diffs[pair][0]) >= within)) for pair, p in ps.items()}
        (wi, wj), worst = max(ps.items(), key=lambda kv: kv[1])
        ok = worst < claim.alpha
        v.test = (
            f"paired TOST ±{within:g} on every pair, n={min(len(d) for d in diffs.values())}: "
            f"worst {wi} vs {wj} p={worst:.3g} {'<' if ok else '≥'} α={claim.alpha:g}; {band}"
        )
        return ok
    v.test = band + (" (tost needs ≥ 2 shared seeds)" if claim.test == "tost" else "")
    if claim.relative_to:
        v.test += f" [band = {claim.within:g} × |Δ| of {' vs '.join(claim.relative_to)}]"
    return v.effect <= within + 1e-12


def judge_claims(exp: ExpectedFile, measured: Measured, *, compare: bool = True, scale: str = "full") -> list[ClaimVerdict]:
    """Check each comparative claim on the measured cells.

    ``measured[cell][metric]`` holds one value per seed (``{seed: value}``; a list or a single
    mean is read as unpaired seeds). A claim is judged at the paper's scale when ``compare``, and at
    any scale it lists in ``scales``.
    """
    out = []
    for claim in exp.claims:
        v = ClaimVerdict(claim, "not_evaluated")
        out.append(v)
        per_cell = {n: _per_seed(measured.get(n, {}).get(claim.metric)) for n in claim.names}
        for n, x in per_cell.items():
            if x is not None:
                vals = list(x.values())
                mean, std = summarize(vals)
                v.values[n] = (mean, std, len(vals))
        if not (compare or scale in claim.scales):
            v.test = "not compared at this scale"
            continue
        if any(x is None for x in per_cell.values()):
            v.test = "a cell has no measurement"
            continue
        if claim.better_than:
            sign = 1.0 if exp.directions[claim.metric] == "lower" else -1.0
            ok = _judge_better(claim, per_cell[claim.cell], per_cell[claim.better_than], sign, v)  # type: ignore[arg-type]
        else:
            ok = _judge_within(claim, per_cell, v)  # type: ignore[arg-type]
        v.status = "pass" if ok else "fail"
    return out
