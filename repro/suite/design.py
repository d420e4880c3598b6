"""Pilot → power analysis → confirmatory design: how many seeds each claim needs.

A claim's verdict is only as good as the power of its test. The science suite therefore runs a
*pilot* first (``--scale pilot``: its own seeds and synthetic world), and this module turns the
pilot's per-seed effects into the design of the confirmatory run:

* a directional claim (``better_than``, tested over seeds by a one-sided paired t-test) needs
  the smallest ``n`` with power ≥ ``target`` at the pilot's standardised effect ``d_z`` and the
  Bonferroni level ``α/m`` (``m`` directional claims: Holm's first step, so the design holds for
  Holm whatever the other claims do). Power is exact for the t-test: ``1 − F_nct(t_{1−α'}, n−1,
  d_z·√n)``;
* an equivalence claim (``within``, TOST over seeds for every pair of cells) gets its margin from
  the pilot, as a number (``design.margin_fraction × |pilot mean(a) − mean(b)|`` of
  ``design.margin_of``), and the smallest ``n`` whose TOST power, assuming the pilot's largest
  pairwise difference is the true one, reaches ``target`` (per pair ``P_lower + P_upper − 1``,
  multiplied over the pairs: both conservative).

The per-image tests of ``paired`` claims run on the fixed test set and are not designed here.
The result is printed and written as YAML (``design.yaml`` in the pilot's folder); the seeds and
margins are then FROZEN into the suite and expected files by hand, before the confirmatory run.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats

from repro.errors import UserError
from repro.suite.expected import Claim, ExpectedFile
from repro.suite.verdicts import claim_seeds

TARGET_POWER = 0.8
MAX_SEEDS = 12  # beyond this a claim is reported as not reachable within the CPU budget
MIN_SEEDS = 3  # every cell keeps at least this many (a spread needs them)
BUDGET_S = 45 * 60  # `make science` on 2 CPU cores


def t_power(d_z: float, n: int, alpha: float) -> float:
    """Power of a one-sided one-sample t-test at level ``alpha`` with ``n`` pairs and true effect ``d_z``."""
    if n < 2 or not math.isfinite(d_z):
        return 0.0
    crit = stats.t(n - 1).ppf(1 - alpha)
    return float(stats.nct(n - 1, d_z * math.sqrt(n)).sf(crit))


def tost_power(delta: float, sd: float, margin: float, n: int, alpha: float) -> float:
    """Lower bound of the power of a TOST (±``margin``) with ``n`` pairs, true difference ``delta``."""
    if n < 2 or sd <= 0 or not math.isfinite(sd):
        return 1.0 if n >= 2 and abs(delta) < margin else 0.0
    crit = stats.t(n - 1).ppf(1 - alpha)
    scale = math.sqrt(n) / sd
    low = stats.nct(n - 1, (delta + margin) * scale).sf(crit)
    high = stats.nct(n - 1, (margin - delta) * scale).sf(crit)
    return float(max(0.0, low + high - 1))


def smallest_n(power_at: Any, target: float = TARGET_POWER, max_n: int = MAX_SEEDS) -> tuple[int | None, float]:
    """(smallest n in 2..max_n with ``power_at(n) ≥ target`` or None, the power at that n or at max_n)."""
    for n in range(2, max_n + 1):
        p = power_at(n)
        if p >= target:
            return n, p
    return None, power_at(max_n)


@dataclass
class ClaimPlan:
    """The design of one claim from the pilot."""

    label: str
    kind: str  # "better" | "within"
    pilot_seeds: list[str]
    effect: float | None = None  # better: mean gain (> 0 = as claimed); within: largest |Δ mean| of a pair
    sd: float | None = None  # std over seeds of the paired gain (within: the largest over pairs)
    alpha: float = 0.05  # the level the design uses (α/m for directional claims)
    margin: float | None = None  # within: the frozen margin
    seeds: int | None = None  # seeds needed for ``target`` power (None: not reachable ≤ MAX_SEEDS)
    power: float = 0.0  # power at ``seeds`` (or at MAX_SEEDS when not reachable)
    cells: list[str] = field(default_factory=list)
    note: str = ""
    power_at: Callable[[int], float] | None = field(default=None, repr=False)  # power with n seeds
    used_seeds: int | None = None  # after the budget: the seeds the claim's cells share
    used_power: float | None = None
    margin_of: list[str] = field(default_factory=list)  # within: the two cells the margin came from
    margin_fraction: float | None = None

    @property
    def d_z(self) -> float | None:
        if self.effect is None or not self.sd:
            return None
        return self.effect / self.sd


def _seed_values(seeds: dict[str, dict[str, dict[str, float]]], cell: str, metric: str) -> dict[str, float]:
    return seeds.get(cell, {}).get(metric, {})


def _paired_gains(a: dict[str, float], b: dict[str, float], sign: float) -> list[float]:
    return [sign * (b[k] - a[k]) for k in sorted(a.keys() & b.keys())]


def plan_claims(
    exp: ExpectedFile,
    seeds: dict[str, dict[str, dict[str, float]]],
    *,
    target: float = TARGET_POWER,
    max_seeds: int = MAX_SEEDS,
) -> list[ClaimPlan]:
    """The design of every claim from the pilot's per-seed values (``cell -> metric -> {seed: value}``)."""
    directional = [c for c in exp.claims if c.better_than]
    m = max(1, len(directional))
    out = []
    for claim in exp.claims:
        sign = 1.0 if exp.directions[claim.metric] == "lower" else -1.0
        if claim.better_than:
            out.append(_plan_better(claim, seeds, sign, claim.alpha / m, m, target, max_seeds))
        else:
            out.append(_plan_within(claim, seeds, target, max_seeds))
    return out


def _plan_better(
    claim: Claim, seeds: dict, sign: float, alpha: float, m: int, target: float, max_seeds: int
) -> ClaimPlan:
    a, b = _seed_values(seeds, claim.cell, claim.metric), _seed_values(seeds, claim.better_than, claim.metric)
    gains = _paired_gains(a, b, sign)
    plan = ClaimPlan(claim.label, "better", sorted(a.keys() & b.keys()), alpha=alpha, cells=claim.names)
    if len(gains) < 2:
        plan.note = "the pilot has fewer than 2 shared seeds"
        return plan
    plan.effect, plan.sd = statistics.fmean(gains), statistics.stdev(gains)
    if plan.effect <= 0:
        plan.note = "the pilot's effect is not in the claimed direction: no n gives power (the claim is kept, expected to fail)"
        plan.power = t_power(plan.effect / plan.sd, max_seeds, alpha) if plan.sd else 0.0
        return plan
    if not plan.sd:
        plan.seeds, plan.power, plan.note = 2, 1.0, "no spread over the pilot's seeds"
        return plan
    d = plan.effect / plan.sd
    plan.power_at = lambda n: t_power(d, n, alpha)
    plan.seeds, plan.power = smallest_n(plan.power_at, target, max_seeds)
    plan.note = f"one-sided paired t over seeds at α/{m} = {alpha:.4g} (Holm's first step)"
    return plan


def _plan_within(claim: Claim, seeds: dict, target: float, max_seeds: int) -> ClaimPlan:
    design = claim.design
    plan = ClaimPlan(claim.label, "within", [], alpha=claim.alpha, cells=claim.names)
    margin = float(claim.within)  # type: ignore[arg-type]
    if design is not None and design.margin_of:
        a, b = (_seed_values(seeds, n, claim.metric) for n in design.margin_of)
        if not a or not b:
            plan.note = f"the pilot lacks {' or '.join(design.margin_of)}"
            return plan
        gain = abs(statistics.fmean(a.values()) - statistics.fmean(b.values()))
        margin = design.margin_fraction * gain
        plan.margin_of, plan.margin_fraction = list(design.margin_of), design.margin_fraction
        plan.note = f"margin = {design.margin_fraction:g} × pilot |{' − '.join(design.margin_of)}| = {design.margin_fraction:g} × {gain:.4g}"
    plan.margin = margin
    pairs = [(i, j) for k, i in enumerate(claim.cells) for j in claim.cells[k + 1 :]]
    diffs = []
    for i, j in pairs:
        x, y = _seed_values(seeds, i, claim.metric), _seed_values(seeds, j, claim.metric)
        d = [x[s] - y[s] for s in sorted(x.keys() & y.keys())]
        if len(d) < 2:
            plan.note = (plan.note + "; " if plan.note else "") + f"the pilot has < 2 shared seeds of {i}, {j}"
            return plan
        diffs.append((statistics.fmean(d), statistics.stdev(d)))
        plan.pilot_seeds = sorted(x.keys() & y.keys())
    plan.effect = max(abs(d) for d, _ in diffs)
    plan.sd = max(sd for _, sd in diffs)

    def power(n: int) -> float:
        return math.prod(tost_power(abs(d), sd, margin, n, claim.alpha) for d, sd in diffs)

    plan.power_at = power
    plan.seeds, plan.power = smallest_n(power, target, max_seeds)
    return plan


def cell_seeds(plans: list[ClaimPlan], minimum: int = MIN_SEEDS, wanted: dict[str, int] | None = None) -> dict[str, int]:
    """Seeds per cell: the most any of its claims needs (a claim that cannot reach the target gets
    the cap; ``wanted`` overrides a claim's request by label)."""
    out: dict[str, int] = {}
    for p in plans:
        n = (wanted or {}).get(p.label, p.seeds if p.seeds is not None else MAX_SEEDS)
        for c in p.cells:
            out[c] = max(out.get(c, minimum), n)
    return out


def fit_budget(
    plans: list[ClaimPlan], cost: dict[str, float], budget_s: float, shares: dict[str, str] | None = None
) -> dict[str, int]:
    """Seeds per cell within ``budget_s`` at the pilot's cost per seed.

    ``shares`` maps a cell whose training is another cell's (its pilot cost is evaluation only) to
    that cell: its seeds beyond the other cell's seeds train, at the other cell's cost per seed.

    While over budget, one seed is taken from the claim whose power drops least per second saved
    (claims that cannot gain power at all first). Each plan's ``used_seeds``/``used_power`` is then
    the power at the seeds its cells share: the power the claim is *designed for*.
    """
    wanted = {p.label: p.seeds if p.seeds is not None else MAX_SEEDS for p in plans}

    def total(seeds: dict[str, int]) -> float:
        return seeds_cost(seeds, cost, shares)

    seeds = cell_seeds(plans, wanted=wanted)
    while total(seeds) > budget_s:
        best: tuple[float, str] | None = None
        for p in plans:
            n = wanted[p.label]
            if n <= MIN_SEEDS:
                continue
            trial = cell_seeds(plans, wanted={**wanted, p.label: n - 1})
            saved = total(seeds) - total(trial)
            if saved <= 0:
                continue
            loss = (p.power_at(n) - p.power_at(n - 1)) if p.power_at else 0.0
            score = loss / saved
            if best is None or score < best[0]:
                best = (score, p.label)
        if best is None:
            break  # every claim at the minimum: the budget cannot be met
        wanted[best[1]] -= 1
        seeds = cell_seeds(plans, wanted=wanted)
    for p in plans:
        p.used_seeds = min(seeds[c] for c in p.cells)
        p.used_power = p.power_at(p.used_seeds) if p.power_at else None
    return seeds


def seeds_cost(seeds: dict[str, int], cost: dict[str, float], shares: dict[str, str] | None = None) -> float:
    """Estimated seconds of ``seeds`` per cell; a cell sharing another's training (``shares``) pays
    that training for each of its seeds the other cell does not run."""
    own = sum(cost.get(c, 0.0) * n for c, n in seeds.items())
    extra = sum(max(0, n - seeds.get(src, 0)) * cost.get(src, 0.0)
                for c, n in seeds.items() for src in [(shares or {}).get(c)] if src is not None)
    return own + extra


def cell_cost(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Wall seconds per seed of each cell in the pilot (0 for a cell whose training was reused)."""
    out = {}
    for name, res in results.items():
        n = len(res.get("seeds") or []) or 1
        wall = res.get("wall_time_s")
        if wall is not None:
            out[name] = float(wall) / n
    return out


def shared_training(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Cells whose pilot training was another cell's (``train_reused_from`` of their seeds) -> that cell."""
    out = {}
    for name, res in results.items():
        # recorded as "<run folder>/<cell>"
        sources = {str(s["train_reused_from"]).rsplit("/", 1)[-1] for s in res.get("seeds") or []
                   if s.get("train_reused_from")} - {name}
        if len(sources) == 1:
            out[name] = str(sources.pop())
    return out


def design_from_run(
    run_dir: str | Path, exp: ExpectedFile | None = None, budget_s: float = BUDGET_S, **kwargs: Any
) -> dict[str, Any]:
    """The design (claims, seeds per cell within ``budget_s``, estimated cost) from a pilot run's folder."""
    from repro.suite.report import load_run

    run = load_run(run_dir)
    exp = exp or run.expected
    if exp is None:
        raise UserError(f"{run_dir}: the run has no expected file: nothing to design")
    plans = plan_claims(exp, claim_seeds(run.results, exp), **kwargs)
    cost = cell_cost(run.results)
    shares = shared_training(run.results)
    seeds = fit_budget(plans, cost, budget_s, shares)
    estimate = seeds_cost(seeds, cost, shares)
    return {
        "pilot_run": str(run_dir),
        "target_power": kwargs.get("target", TARGET_POWER),
        "claims": [_plain(p) for p in plans],
        "budget_seconds": budget_s,
        "cell_seeds": seeds,
        "pilot_seconds_per_seed": {c: round(v, 1) for c, v in cost.items()},
        "training_shared_with": shares,
        "estimated_seconds": round(estimate),
    }


def _plain(p: ClaimPlan) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else float(f"{x:.4g}")

    return {
        "claim": p.label,
        "kind": p.kind,
        "pilot_seeds": [int(s) if s.isdigit() else s for s in p.pilot_seeds],
        "pilot_effect": r(p.effect),
        "pilot_sd": r(p.sd),
        "pilot_d_z": r(p.d_z),
        "alpha_design": r(p.alpha),
        "margin": r(p.margin),
        "seeds": p.seeds,
        "power": r(p.power),
        "used_seeds": p.used_seeds,
        "used_power": r(p.used_power),
        "margin_fraction": p.margin_fraction,
        "margin_of": p.margin_of,
        "note": p.note,
    }


def render(design: dict[str, Any]) -> str:
    """A terminal table of the design."""
    from tabulate import tabulate

    rows = [
        [
            c["claim"],
            c["pilot_effect"],
            c["pilot_sd"],
            c["pilot_d_z"],
            c["margin"] if c["margin"] is not None else "—",
            c["alpha_design"],
            c["seeds"] if c["seeds"] is not None else f"> {MAX_SEEDS}",
            c["power"],
            c["used_seeds"],
            c["used_power"],
            c["note"],
        ]
        for c in design["claims"]
    ]
    head = ["claim", "pilot effect", "sd", "d_z", "margin", "α design", "seeds for target", "power",
            "seeds in budget", "designed power", "note"]
    lines = [
        f"design from the pilot {design['pilot_run']} (target power {design['target_power']:g})",
        tabulate(rows, head),
        "",
        "seeds per cell: " + ", ".join(f"{c} {n}" for c, n in design["cell_seeds"].items()),
        f"estimated confirmatory wall time at the pilot's per-seed cost: {design['estimated_seconds'] / 60:.0f} min "
        f"(budget {design['budget_seconds'] / 60:.0f} min)",
        "",
        "to freeze (confirmatory seeds 0…, disjoint from the pilot's):",
        *freeze_lines(design),
    ]
    return "\n".join(lines) + "\n"


def freeze_lines(design: dict[str, Any]) -> list[str]:
    """What to write into the suite (``seeds:`` per cell) and expected file (``within:``, ``design:``)."""
    import yaml

    out = [f"  suites: {cell}: seeds: {list(range(n))}" for cell, n in design["cell_seeds"].items()]
    for c in design["claims"]:
        frozen = {
            "seeds": c["used_seeds"],
            "power": c["used_power"],
            "alpha": c["alpha_design"],
            "pilot_effect": c["pilot_effect"],
            "pilot_sd": c["pilot_sd"],
            "pilot_seeds": c["pilot_seeds"],
        }
        if c.get("margin_of"):
            frozen.update(margin_fraction=c["margin_fraction"], margin_of=c["margin_of"])
        flow = yaml.safe_dump(frozen, default_flow_style=True, sort_keys=False, width=10**6).strip()
        within = f"within: {c['margin']}, " if c["margin"] is not None else ""
        out.append(f"  expected: {c['claim']}: {within}design: {flow}")
    return out
