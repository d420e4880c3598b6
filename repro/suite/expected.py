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


@dataclass
class Claim:
    cell: str
    better_than: str
    metric: str
    why: str = ""


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
        for name in (claim.cell, claim.better_than):
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
    t = (mean - paper) / (std / math.sqrt(n))
    p = 2 * stats.t.sf(abs(t), df=n - 1)
    return p >= alpha, f"one-sample t-test, n={n}: p={p:.3g} {'≥' if p >= alpha else '<'} α={alpha:g}"


def _tost(values: list[float], paper: float, tol: float, alpha: float) -> tuple[bool, str]:
    from scipy import stats

    mean, std = summarize(values)
    n = len(values)
    if not std:
        ok = abs(mean - paper) < tol
        return ok, f"TOST degenerate (zero spread over {n} seeds): |Δ| {'<' if ok else '≥'} {tol:g}"
    se = std / math.sqrt(n)
    p_low = stats.t.sf((mean - (paper - tol)) / se, df=n - 1)  # H0: mean <= paper - tol
    p_high = stats.t.cdf((mean - (paper + tol)) / se, df=n - 1)  # H0: mean >= paper + tol
    p = max(p_low, p_high)
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
    values: tuple[float | None, float | None] = (None, None)
    test: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def judge_claims(exp: ExpectedFile, means: dict[str, dict[str, float]], *, compare: bool = True) -> list[ClaimVerdict]:
    """Check each comparative claim between two measured cells (strictly better, by the mean)."""
    out = []
    for claim in exp.claims:
        a = means.get(claim.cell, {}).get(claim.metric)
        b = means.get(claim.better_than, {}).get(claim.metric)
        if a is None or b is None or not compare:
            why = "not compared at this scale" if not compare else "a cell has no measurement"
            out.append(ClaimVerdict(claim, "not_evaluated", (a, b), why))
            continue
        lower = exp.directions[claim.metric] == "lower"
        ok = a < b if lower else a > b
        sign = "<" if lower else ">"
        out.append(ClaimVerdict(claim, "pass" if ok else "fail", (a, b), f"{a:.4f} {sign} {b:.4f}"))
    return out
