"""Pilot → power analysis: t-test and TOST power, seeds per claim, the frozen margin."""

from __future__ import annotations

import pytest

from repro.suite.design import cell_seeds, plan_claims, smallest_n, t_power, tost_power
from repro.suite.expected import Claim, ClaimDesign, ExpectedFile


def test_t_power_matches_the_noncentral_t_and_grows_with_n():
    # G*Power, one-sample t, one-tailed, d = 1, n = 10, α = 0.05: power 0.897
    assert t_power(1.0, 10, 0.05) == pytest.approx(0.897, abs=0.002)
    assert t_power(1.0, 4, 0.05) < t_power(1.0, 6, 0.05) < t_power(1.0, 10, 0.05)
    assert t_power(1.0, 10, 0.01) < t_power(1.0, 10, 0.05)  # a stricter level costs power
    assert t_power(0.0, 10, 0.05) == pytest.approx(0.05, abs=1e-6)  # no effect: the level
    assert t_power(1.0, 1, 0.05) == 0.0


def test_tost_power_is_bounded_and_falls_as_the_true_difference_nears_the_margin():
    near0, half = tost_power(0.0, 1.0, 1.0, 20, 0.05), tost_power(0.5, 1.0, 1.0, 20, 0.05)
    assert 0 < half < near0 < 1
    assert tost_power(0.0, 1.0, 1.0, 40, 0.05) > near0
    assert tost_power(1.2, 1.0, 1.0, 40, 0.05) < 0.05  # outside the margin: (almost) never equivalent
    assert tost_power(0.1, 0.0, 1.0, 3, 0.05) == 1.0 and tost_power(1.1, 0.0, 1.0, 3, 0.05) == 0.0
    n, p = smallest_n(lambda k: tost_power(0.0, 1.0, 1.0, k, 0.05), 0.8, 50)
    assert n is not None and p >= 0.8 and tost_power(0.0, 1.0, 1.0, n - 1, 0.05) < 0.8


def _exp() -> ExpectedFile:
    claims = [
        Claim(cell="m", better_than="base", metric="abs_rel"),
        Claim(cell="m", better_than="other", metric="abs_rel"),
        Claim(cells=["m", "v"], within=0.01, metric="abs_rel", design=ClaimDesign(margin_of=["base", "m"])),
    ]
    return ExpectedFile(source="t", directions={"abs_rel": "lower"}, tolerance={}, rationale="", claims=claims)


# pilot AbsRel per seed 100, 101, 102: m gains ≈ 0.047 ± 0.006 over base (large); m is NOT
# better than other (no n helps); v is within a hair of m
PILOT = {
    "base": [0.30, 0.31, 0.29],
    "m": [0.25, 0.27, 0.24],
    "other": [0.24, 0.27, 0.25],
    "v": [0.251, 0.268, 0.243],
}


def _pilot() -> dict[str, dict[str, dict[str, float]]]:
    return {c: {"abs_rel": {str(100 + i): v for i, v in enumerate(vals)}} for c, vals in PILOT.items()}


def test_plan_claims_sizes_each_claim_from_the_pilot():
    big, wrong, within = plan_claims(_exp(), _pilot())
    assert big.alpha == pytest.approx(0.025)  # α/m over the two directional claims
    assert big.effect == pytest.approx(0.0467, abs=1e-3) and big.seeds is not None and big.seeds <= 4
    assert big.power >= 0.8 and t_power(big.effect / big.sd, big.seeds, big.alpha) == pytest.approx(big.power)
    assert wrong.seeds is None and "not in the claimed direction" in wrong.note
    assert within.margin == pytest.approx(0.5 * 0.0467, abs=1e-3)  # a number, from the pilot's gain
    assert within.seeds is not None and within.power >= 0.8
    seeds = cell_seeds([big, wrong, within])
    assert seeds["other"] == 12 and seeds["m"] == 12 and seeds["base"] >= big.seeds


def test_fit_budget_cuts_seeds_where_power_is_cheapest_and_reports_the_power_used():
    from repro.suite.design import fit_budget

    plans = plan_claims(_exp(), _pilot())
    cost = {"base": 10.0, "m": 10.0, "other": 10.0, "v": 10.0}
    unlimited = fit_budget(plans, cost, 1e9)
    assert unlimited["other"] == 12
    seeds = fit_budget(plans, cost, 200.0)
    assert sum(cost[c] * n for c, n in seeds.items()) <= 200
    assert all(n >= 3 for n in seeds.values())
    big = plans[0]
    assert big.used_seeds == min(seeds["m"], seeds["base"]) and big.used_power is not None
    assert big.used_power == pytest.approx(t_power(big.effect / big.sd, big.used_seeds, big.alpha))


def test_repro_suite_design_reads_a_pilot_run_and_writes_design_yaml(tmp_path, capsys):
    import json

    import yaml

    from repro.cli import main
    from repro.config import to_plain

    values = PILOT
    run = tmp_path / "science-pilot"
    run.mkdir()
    (run / "suite.json").write_text(json.dumps({"cells": list(values), "expected": to_plain(_exp())}))
    for cell, vals in values.items():
        seeds = [{"seed": 100 + i, "metrics": {"abs_rel": v}} for i, v in enumerate(vals)]
        (run / cell).mkdir()
        (run / cell / "result.json").write_text(json.dumps({"status": "ok", "seeds": seeds, "wall_time_s": 30.0}))
    assert main(["suite", "design", str(run)]) == 0
    out = capsys.readouterr().out
    assert "seeds per cell" in out and "designed power" in out and "expected: m better than base: design: {seeds:" in out
    design = yaml.safe_load((run / "design.yaml").read_text())
    assert design["claims"][0]["pilot_seeds"] == [100, 101, 102]
    assert design["claims"][2]["margin"] == pytest.approx(0.5 * 0.0467, abs=1e-3)
    assert "margin_of: [base, m]" in out  # the rule is frozen with the number
    assert design["estimated_seconds"] <= design["budget_seconds"]


def test_a_cell_sharing_another_cells_training_costs_that_training_beyond_its_seeds():
    from repro.suite.design import fit_budget, seeds_cost, shared_training

    results = {
        "m": {"seeds": [{"seed": 100}], "wall_time_s": 100.0},
        "v": {"seeds": [{"seed": 100, "train_reused_from": "science-pilot/m"}], "wall_time_s": 5.0},
    }
    assert shared_training(results) == {"v": "m"}
    cost = {"base": 10.0, "m": 100.0, "other": 10.0, "v": 5.0}  # v's pilot cost: evaluation only
    # 12 seeds of v but 3 of m: v's seeds 3…11 must train, at m's cost per seed
    assert seeds_cost({"m": 3, "v": 12}, cost, {"v": "m"}) == pytest.approx(3 * 100 + 12 * 5 + 9 * 100)
    assert seeds_cost({"m": 12, "v": 12}, cost, {"v": "m"}) == pytest.approx(12 * 100 + 12 * 5)
    assert seeds_cost({"m": 3, "v": 12}, cost) == pytest.approx(3 * 100 + 12 * 5)  # without shares: as before
    plans = plan_claims(_exp(), _pilot())
    seeds = fit_budget(plans, cost, 3000.0, {"v": "m"})
    assert seeds_cost(seeds, cost, {"v": "m"}) <= 3000.0
