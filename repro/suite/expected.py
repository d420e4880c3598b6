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

import dataclasses
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from repro.choices import Evaluator, values
from repro.config import ConfigDict, ConfigError, Location, from_data, load_config
from repro.suite.stats import PairedStats, holm, paired_image_diffs, paired_images, paired_seeds, tost

Direction = Literal["lower", "higher"]
Mode = Literal["two_sided", "no_worse"]
Status = Literal["pass", "fail", "missing", "not_compared", "not_reported", "cited"]

EVALUATOR_NAMES = values(Evaluator)
RMSE_LOG_FORMS = ("ln", "log10", "released")

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
    evaluator: str | None = None  # the evaluator this row's numbers came from (default: the file's)
    forms: dict[str, str] = field(default_factory=dict)  # e.g. {rmse_log: log10}: the form the paper's number is in


ClaimTest = Literal["paired", "mean", "paired_t", "band", "tost"]


@dataclass
class ClaimDesign:
    """How a claim's confirmatory test was sized, frozen from a pilot (:mod:`repro.suite.design`).

    Recorded in the expected file next to the claim, before the confirmatory run: the report
    prints the power the claim was designed for beside its verdict. ``margin_fraction`` and
    ``margin_of`` state how an equivalence margin was derived from the pilot (the frozen number
    itself is the claim's ``within``).
    """

    seeds: int | None = None  # seeds the power analysis asked for
    power: float | None = None  # the power at those seeds (and the pilot's effect)
    alpha: float | None = None  # the level the design assumed (α/m for Holm's first step)
    pilot_effect: float | None = None
    pilot_sd: float | None = None
    pilot_seeds: list[int] = field(default_factory=list)
    margin_fraction: float = 0.5
    margin_of: list[str] = field(default_factory=list)  # two cells: margin = fraction × |pilot Δ|
    note: str = ""

    def describe(self) -> str:
        if self.power is None:
            return "not designed"
        seeds = f"{self.seeds} seeds" if self.seeds is not None else "the seed cap"
        return f"{self.power:.0%} at {seeds}" + (f" (pilot effect {self.pilot_effect:+.4g})" if self.pilot_effect is not None else "")


@dataclass
class Claim:
    """A comparison the paper makes between cells, checked on the measured values.

    Two kinds: ``cell`` is better than ``better_than`` (tests ``paired``, the default: a
    one-sided Wilcoxon signed-rank test of the per-image differences and, with two or more shared
    seeds, a one-sided paired t-test over seeds, each Holm-adjusted across the suite's directional
    claims, must both reject "not better" at ``alpha``; ``paired_t``: the seed test alone;
    ``mean``: the mean over seeds is strictly better, no test), or ``cells`` agree ``within`` a
    margin (tests ``tost``, the default: for every pair, two one-sided tests on the per-image
    differences and, with two or more shared seeds, on the per-seed differences show the
    difference lies inside ±``within`` at ``alpha``; ``band``: the largest difference between two
    cells' means is at most ``within``, no test). With
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
    test: ClaimTest | None = None  # default: paired (better) / tost (within)
    alpha: float = 0.05
    scales: list[str] = field(default_factory=list)
    relative_to: list[str] = field(default_factory=list)
    design: ClaimDesign | None = None  # the pilot's power analysis for this claim

    def __post_init__(self) -> None:
        if self.design is not None and self.design.margin_of and len(self.design.margin_of) != 2:
            raise ValueError("design.margin_of names two cells: the margin is a fraction of their pilot difference")
        if not self.metric:
            raise ValueError("a claim needs a metric")
        if bool(self.better_than) == bool(self.cells):
            raise ValueError("a claim has either cell + better_than, or cells + within")
        if self.better_than:
            if not self.cell:
                raise ValueError("a better_than claim needs cell:")
            self.test = self.test or "paired"
            if self.test not in ("paired", "mean", "paired_t"):
                raise ValueError(f"a better_than claim is tested by paired, mean or paired_t, not {self.test}")
        else:
            if len(self.cells) < 2 or self.within is None or self.within <= 0 or self.cell:
                raise ValueError("a within claim needs cells: (two or more), a positive within:, and no cell:")
            self.test = self.test or "tost"
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
    #: which evaluation the verdicts use (repro.evaluation.evaluators): cell | paper | released, and why
    evaluator: str = "cell"
    evaluator_why: str = ""
    #: scales (besides ``full``) at which the metric values are compared: a reference run recorded
    #: at that scale (the smoke suite) rather than the paper's numbers
    compare_scales: list[str] = field(default_factory=list)

    def tolerance_for(self, cell: str, metric: str) -> float:
        """The row's own tolerance, else the file's (a metric may have only the row's)."""
        own = self.cells[cell].tolerance
        return own[metric] if metric in own else self.tolerance[metric]

    def mode_for(self, cell: str) -> Mode:
        return self.cells[cell].mode or self.mode

    def acceptance_for(self, cell: str) -> Acceptance:
        return self.cells[cell].acceptance or self.acceptance

    def evaluator_for(self, cell: str) -> str:
        ce = self.cells.get(cell)
        return (ce.evaluator if ce is not None else None) or self.evaluator

    def compares_at(self, scale: str) -> bool:
        return scale == "full" or scale in self.compare_scales


def _unknown_evaluator(name: str) -> str:
    return f"unknown evaluator '{name}' (choose from {', '.join(EVALUATOR_NAMES)})"


def load_expected(path: str | os.PathLike[str]) -> ExpectedFile:
    """Load and cross-check an expected file (every metric has a direction and a tolerance)."""
    raw = load_config(path)
    exp = from_data(ExpectedFile, raw)
    exp.path = str(path)
    if exp.evaluator not in EVALUATOR_NAMES:
        raise ConfigError(_unknown_evaluator(exp.evaluator), raw.where("evaluator"), "evaluator")
    cells_raw = raw.get("cells") or ConfigDict()
    for name, cell in exp.cells.items():
        where = cells_raw.where(name) if isinstance(cells_raw, ConfigDict) else None
        for metric in [*cell.metrics, *cell.bounds, *cell.tolerance, *cell.not_reported]:
            if metric not in exp.directions:
                raise ConfigError(f"metric '{metric}' has no direction", where, f"cells.{name}")
            if metric not in exp.tolerance and metric not in cell.tolerance and metric in cell.metrics:
                raise ConfigError(f"metric '{metric}' has no tolerance", where, f"cells.{name}")
        for evaluator in filter(None, [cell.evaluator]):
            if evaluator not in EVALUATOR_NAMES:
                raise ConfigError(_unknown_evaluator(evaluator), where, f"cells.{name}.evaluator")
        for metric, form in cell.forms.items():
            if metric != "rmse_log" or form not in RMSE_LOG_FORMS:
                forms = ", ".join(RMSE_LOG_FORMS)
                raise ConfigError(f"forms: only rmse_log, one of {forms}", where, f"cells.{name}.forms")
        for metric, (lo, hi) in cell.bounds.items():
            if lo > hi:
                raise ConfigError(f"bounds of '{metric}' are reversed: [{lo}, {hi}]", where, f"cells.{name}.bounds")
    _require_every_column(exp, cells_raw)
    for i, claim in enumerate(exp.claims):
        where = raw["claims"].where(i)
        for name in claim.names:
            if name not in exp.cells:
                raise ConfigError(f"claim names unknown cell '{name}'", where, f"claims[{i}]")
        if claim.metric not in exp.directions:
            raise ConfigError(f"claim metric '{claim.metric}' has no direction", where, f"claims[{i}]")
        for name in claim.design.margin_of if claim.design else []:
            if name not in exp.cells:
                raise ConfigError(f"claim design names unknown cell '{name}'", where, f"claims[{i}].design")
    return exp


def _require_every_column(exp: ExpectedFile, cells_raw: object) -> None:
    """Each row states every metric its table prints (a value, or ``not_reported`` for a '-').

    A metric left out of one row would otherwise be judged "not compared" and pass silently.
    Rows are grouped by their source table (``table:``); rows with only sanity ``bounds`` are exempt.
    """
    columns: dict[str, set[str]] = {}
    for cell in exp.cells.values():
        columns.setdefault(cell.table, set()).update(cell.metrics, cell.not_reported)
    for name, cell in exp.cells.items():
        if cell.bounds and not cell.metrics and not cell.not_reported:
            continue
        missing = sorted(columns[cell.table] - set(cell.metrics) - set(cell.not_reported))
        if missing:
            where = cells_raw.where(name) if isinstance(cells_raw, ConfigDict) else None
            raise ConfigError(
                f"metric(s) {', '.join(missing)} missing from this row while other rows of "
                f"{cell.table or 'the table'} state them: give the value, or list them under not_reported",
                where,
                f"cells.{name}",
            )


def override_evaluator(exp: ExpectedFile, evaluator: str, by: str) -> ExpectedFile:
    """``exp`` judged under ``evaluator`` for every cell (a suite's ``verdict_evaluator:``)."""
    cells = {n: dataclasses.replace(c, evaluator=None) for n, c in exp.cells.items()}
    why = f"set by {by} (verdict_evaluator); the expected file's choice was {exp.evaluator}"
    return dataclasses.replace(exp, evaluator=evaluator, evaluator_why=why, cells=cells)


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
    evaluator: str = ""  # whose numbers were judged (repro.evaluation.evaluators)
    by_evaluator: dict[str, float] = field(default_factory=dict)  # every recorded evaluator's mean
    mde_images: float | None = None  # two-sided MDE of the mean from the per-image spread
    mde_seeds: float | None = None  # ... from the per-seed spread (≥ 2 seeds)

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "missing")

    @property
    def mde(self) -> float | None:
        """The resolution of this run for this row: the larger of the measured MDEs."""
        known = [x for x in (self.mde_images, self.mde_seeds) if x is not None]
        return max(known) if known else None


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
    exp: ExpectedFile,
    cell: str,
    measured: dict[str, list[float]] | None,
    *,
    compare: bool = True,
    forms: dict[str, str | None] | None = None,
) -> list[MetricVerdict]:
    """Verdicts for every metric the paper reports for ``cell`` (and every measured one).

    ``forms`` gives the form each measured metric was computed in (``rmse_log``: ln | log10 |
    released); a metric whose paper number is stated in another form is shown, not compared.
    """
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
        want, got = ce.forms.get(m), (forms or {}).get(m)
        if want and got and want != got and v.status in ("pass", "fail"):
            v.status, v.test = "not_compared", f"paper's {m} is the {want} form, measured: {got}"
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
    images: list[PairedStats] = field(default_factory=list)  # per-image paired tests (one per pair)
    seeds: list[PairedStats] = field(default_factory=list)  # per-seed paired tests (one per pair)
    margin: float | None = None  # within: the equivalence margin used
    paper_effect: float | None = None  # better: the paper's gain (> 0 = as claimed), when both rows are printed
    mde: float | None = None  # the smallest gain this run resolves (seeds when measured, else images)
    power: str = ""  # the warning when the paper's effect is below the MDE

    @property
    def failed(self) -> bool:
        return self.status == "fail"


SeedValues = dict[str, float]  # seed (as text) -> value
Measured = dict[str, dict[str, "SeedValues | list[float] | float"]]  # cell -> metric -> per seed
ImageValues = dict[str, dict[str, dict[str, dict[str, float]]]]  # cell -> metric -> seed -> image -> value


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


def _judge_mean(a: SeedValues, b: SeedValues, sign: float, v: ClaimVerdict, note: str = "") -> bool:
    ma, mb = statistics.fmean(a.values()), statistics.fmean(b.values())
    v.test = f"means {ma:.4f} {'<' if sign > 0 else '>'} {mb:.4f}{note}"
    return ma < mb if sign > 0 else ma > mb


def _prepare_better(
    claim: Claim, a: SeedValues, b: SeedValues, images: tuple[dict, dict] | None, sign: float, v: ClaimVerdict
) -> None:
    """The paired statistics of a directional claim (decided after the Holm adjustment)."""
    ma, mb = statistics.fmean(a.values()), statistics.fmean(b.values())
    gains = [sign * (y - x) for x, y in _paired(a, b)]  # > 0: cell better than better_than, per seed
    v.effect = sign * (mb - ma)
    v.spread = statistics.stdev(gains) if len(gains) > 1 else None
    if images is not None:
        diffs = paired_image_diffs(images[0], images[1], sign)
        if len(diffs) >= 2:
            v.images = [paired_images(diffs, claim.alpha)]
    if len(gains) >= 2 and claim.test in ("paired", "paired_t"):
        v.seeds = [paired_seeds(gains, claim.alpha)]


def _decide_better(claim: Claim, a: SeedValues, b: SeedValues, sign: float, v: ClaimVerdict) -> bool | None:
    """True/False once the p-values are Holm-adjusted; None when no test applies."""
    if claim.test == "mean":
        return _judge_mean(a, b, sign, v)
    if claim.test == "paired_t":
        if not v.seeds:
            return _judge_mean(a, b, sign, v, " (paired_t needs ≥ 2 shared seeds)")
        st = v.seeds[0]
        if st.p is None:
            v.test = f"paired, n={st.n}: zero spread, gain {st.mean:+.4g} (t-test undefined)"
            return all(sign * (y - x) > 0 for x, y in _paired(a, b))
        v.test = st.describe(claim.alpha) + (f", d_z={st.mean / st.sd:.2f}" if st.sd else "")
        return st.rejects(claim.alpha)
    tests = [*v.images, *v.seeds]
    if not tests:
        v.test = "no paired data: needs per-image values or ≥ 2 shared seeds"
        return None
    v.test = "; ".join(t.describe(claim.alpha) for t in tests)
    if not v.seeds:
        v.test += "; 1 seed: training variance not measured"
    return all(t.rejects(claim.alpha) for t in tests)


def _judge_within(
    claim: Claim, per_cell: dict[str, SeedValues], images: dict[str, dict] | None, v: ClaimVerdict
) -> bool | None:
    means = {n: statistics.fmean(x.values()) for n, x in per_cell.items()}
    within = float(claim.within)  # type: ignore[arg-type]
    if claim.relative_to:
        a, b = claim.relative_to
        within *= abs(means[a] - means[b])
    v.margin = within
    pairs = [(i, j) for k, i in enumerate(claim.cells) for j in claim.cells[k + 1 :]]
    v.effect = max(abs(means[i] - means[j]) for i, j in pairs)
    band = f"max |Δ mean| {v.effect:.4g} {'≤' if v.effect <= within + 1e-12 else '>'} {within:.4g}"
    if claim.relative_to:
        band += f" [margin = {claim.within:g} × |Δ| of {' vs '.join(claim.relative_to)}]"
    if claim.test == "band":
        v.test = band
        return v.effect <= within + 1e-12
    for i, j in pairs:
        seed_diffs = [x - y for x, y in _paired(per_cell[i], per_cell[j])]
        if len(seed_diffs) >= 2:
            v.seeds.append(tost(seed_diffs, within, claim.alpha, "seeds"))
        if images is not None:
            diffs = paired_image_diffs(images[j], images[i])  # image values of i − j
            if len(diffs) >= 2:
                v.images.append(tost(diffs, within, claim.alpha, "images"))
    tests = [*v.images, *v.seeds]
    if not tests:
        v.test = f"TOST needs per-image values or ≥ 2 shared seeds; {band}"
        return None
    worst = max(tests, key=lambda t: math.inf if t.p is None else t.p)
    ok = all(t.rejects(claim.alpha) for t in tests)
    v.test = f"TOST on every pair ({len(tests)} tests), worst: {worst.describe(claim.alpha)}; {band}"
    return ok


def _power(exp: ExpectedFile, claim: Claim, sign: float, v: ClaimVerdict) -> None:
    """The run's MDE for this claim, and a warning when the paper's own gain is below it."""
    if v.seeds and v.seeds[0].mde is not None:
        v.mde = v.seeds[0].mde
    elif v.images:
        v.mde = v.images[0].mde
    pa = exp.cells.get(claim.cell)
    pb = exp.cells.get(claim.better_than)
    if pa is not None and pb is not None and claim.metric in pa.metrics and claim.metric in pb.metrics:
        v.paper_effect = sign * (pb.metrics[claim.metric] - pa.metrics[claim.metric])
    if v.paper_effect is None:
        return
    if not v.seeds:
        v.power = (
            f"1 seed: the run-to-run spread is not measured, so the paper's gain of {v.paper_effect:.4g} "
            "cannot be told from training noise; add seeds"
        )
    elif v.mde is not None and abs(v.paper_effect) < v.mde:
        v.power = (
            f"this run cannot resolve the paper's gain of {v.paper_effect:.4g} (MDE {v.mde:.4g}); "
            "add seeds or test images"
        )


def judge_claims(
    exp: ExpectedFile,
    measured: Measured,
    *,
    compare: bool = True,
    scale: str = "full",
    images: ImageValues | None = None,
) -> list[ClaimVerdict]:
    """Check each comparative claim on the measured cells.

    ``measured[cell][metric]`` holds one value per seed (``{seed: value}``; a list or a single
    mean is read as unpaired seeds); ``images[cell][metric][seed][image]`` the per-image values
    paired tests need. A claim is judged at the paper's scale when ``compare``, and at any scale it
    lists in ``scales``. Directional p-values are Holm-adjusted across the judged directional
    claims, separately for the per-image and the per-seed family.
    """
    out: list[ClaimVerdict] = []
    pending: list[tuple[ClaimVerdict, Claim, dict[str, SeedValues | None], float]] = []
    shown: set[int] = set()  # claims not judged at this scale: statistics shown, no verdict
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
            shown.add(id(v))
        if any(x is None for x in per_cell.values()):
            v.test = "a cell has no measurement"
            continue
        cell_images = {n: (images or {}).get(n, {}).get(claim.metric) or None for n in claim.names}
        have_images = all(x is not None for x in cell_images.values())
        sign = 1.0 if exp.directions[claim.metric] == "lower" else -1.0
        if claim.better_than:
            pair = (cell_images[claim.cell], cell_images[claim.better_than]) if have_images else None
            a, b = per_cell[claim.cell], per_cell[claim.better_than]
            _prepare_better(claim, a, b, pair, sign, v)  # type: ignore[arg-type]
            pending.append((v, claim, per_cell, sign))
        else:
            ok = _judge_within(claim, per_cell, cell_images if have_images else None, v)  # type: ignore[arg-type]
            v.status = "not_evaluated" if ok is None else ("pass" if ok else "fail")
    for group in (True, False):  # judged claims and shown-only ones are separate Holm families
        members = [x for x in pending if (id(x[0]) in shown) is group]
        for family in ("images", "seeds"):
            tests = [t for v, *_ in members for t in getattr(v, family)]
            for t, p in zip(tests, holm([t.p for t in tests]), strict=True):
                t.p_holm = p if len(tests) > 1 else None
    for v, claim, per_cell, sign in pending:
        ok = _decide_better(claim, per_cell[claim.cell], per_cell[claim.better_than], sign, v)  # type: ignore[arg-type]
        v.status = "not_evaluated" if ok is None else ("pass" if ok else "fail")
        _power(exp, claim, sign, v)
    for v in out:
        if id(v) in shown:  # e.g. --scale ci (2 seeds) or the pilot: too few seeds for a verdict
            v.status = "not_evaluated"
            v.test = f"not judged at scale '{scale}' (statistics shown, no verdict): {v.test}"
    return out
