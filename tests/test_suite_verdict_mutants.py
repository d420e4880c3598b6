"""Verdict and statistics code: cases that surviving mutants of repro/suite/ showed untested (issue 25)."""

from __future__ import annotations

import pytest

from repro.suite.expected import Acceptance, CellExpectation, Claim, ExpectedFile, judge_claims, judge_metric
from repro.suite.stats import paired_seeds, tost


def _exp(directions: dict[str, str], *claims: Claim, cells: tuple[str, ...] = ("a", "b")) -> ExpectedFile:
    metric = next(iter(directions))
    exp = ExpectedFile(source="s", directions=directions, tolerance={metric: 0.01}, rationale="r")
    exp.cells = {n: CellExpectation() for n in cells}
    exp.claims = list(claims)
    return exp


def _judge(exp: ExpectedFile, measured, **kw):
    return judge_claims(exp, measured, **kw)


def test_paired_t_with_exactly_two_seeds_is_a_t_test_not_a_mean_comparison():
    # gains 1.0 and 0.2: t = 0.6 / (0.566 / √2) = 1.5, one-sided p ≈ 0.187: not shown (means would pass)
    claim = Claim(cell="a", better_than="b", metric="abs_rel", test="paired_t")
    exp = _exp({"abs_rel": "lower"}, claim)
    (v,) = _judge(exp, {"a": {"abs_rel": {"0": 1.0, "1": 2.0}}, "b": {"abs_rel": {"0": 2.0, "1": 2.2}}})
    assert v.status == "fail" and v.seeds[0].n == 2
    assert v.seeds[0].p == pytest.approx(0.1872, abs=1e-3)
    assert "paired t-test" in v.test and "d_z=1.06" in v.test


def test_a_tie_on_a_higher_is_better_metric_is_not_strictly_better():
    claim = Claim(cell="a", better_than="b", metric="delta1", test="mean")
    exp = _exp({"delta1": "higher"}, claim)
    (tie,) = _judge(exp, {"a": {"delta1": {"0": 1.0}}, "b": {"delta1": {"0": 1.0}}})
    assert tie.status == "fail" and "1.0000 > 1.0000" in tie.test
    (better,) = _judge(exp, {"a": {"delta1": {"0": 0.91}}, "b": {"delta1": {"0": 0.9}}})
    (worse,) = _judge(exp, {"a": {"delta1": {"0": 0.89}}, "b": {"delta1": {"0": 0.9}}})
    assert (better.status, worse.status) == ("pass", "fail") and better.effect == pytest.approx(0.01)
    lower = _exp({"abs_rel": "lower"}, Claim(cell="a", better_than="b", metric="abs_rel", test="mean"))
    (tie_low,) = _judge(lower, {"a": {"abs_rel": {"0": 0.1}}, "b": {"abs_rel": {"0": 0.1}}})
    assert tie_low.status == "fail" and "0.1000 < 0.1000" in tie_low.test


def test_tost_with_zero_spread_is_equivalent_exactly_inside_the_margin():
    inside, outside = tost([0.01, 0.01, 0.01], 0.02, 0.05, "seeds"), tost([0.03, 0.03], 0.02, 0.05, "seeds")
    assert (inside.p, outside.p) == (0.0, 1.0) and inside.sd == 0.0 and inside.ci is None
    assert tost([-0.03, -0.03], 0.02, 0.05, "images").p == 1.0 and tost([0.01], 0.02, 0.05, "images").p is None
    claim = Claim(cells=["a", "b"], within=0.02, metric="abs_rel")
    (v,) = _judge(_exp({"abs_rel": "lower"}, claim),
                  {"a": {"abs_rel": {"0": 0.11, "1": 0.12}}, "b": {"abs_rel": {"0": 0.10, "1": 0.11}}})
    assert v.status == "pass" and v.seeds[0].p == 0.0
    (far,) = _judge(_exp({"abs_rel": "lower"}, claim),
                    {"a": {"abs_rel": {"0": 0.15, "1": 0.16}}, "b": {"abs_rel": {"0": 0.10, "1": 0.11}}})
    assert far.status == "fail" and far.seeds[0].p == 1.0
    # a cell's own TOST against the paper: zero spread inside the band passes, outside fails
    acc = Acceptance(method="tost")
    kw = {"paper": 0.1, "tolerance": 0.02, "direction": "lower", "mode": "two_sided", "acceptance": acc}
    assert judge_metric("abs_rel", [0.11, 0.11], **kw).status == "pass"
    assert judge_metric("abs_rel", [0.13, 0.13], **kw).status == "fail"


def test_paired_seeds_with_two_seeds_has_a_t_interval():
    st = paired_seeds([1.0, 0.2], 0.05)
    half = 12.706 * 0.5657 / 2**0.5  # t(1) quantile 0.975
    assert st.ci == pytest.approx((0.6 - half, 0.6 + half), rel=1e-3) and st.mde is not None


def test_a_within_claim_over_four_cells_checks_every_pair():
    # only the adjacent pair (a, b) is 0.3 apart; every other pair is within 0.25
    means = {"a": 0.0, "b": 0.3, "c": 0.1, "d": 0.2}
    claim = Claim(cells=list(means), within=0.25, metric="abs_rel", test="band")
    exp = _exp({"abs_rel": "lower"}, claim, cells=tuple(means))
    (v,) = _judge(exp, {n: {"abs_rel": {"0": m}} for n, m in means.items()})
    assert v.status == "fail" and v.effect == pytest.approx(0.3)
    # the same with TOST over two seeds per cell: six pairs, six tests
    tost_claim = Claim(cells=list(means), within=0.25, metric="abs_rel")
    exp = _exp({"abs_rel": "lower"}, tost_claim, cells=tuple(means))
    measured = {n: {"abs_rel": {"0": m, "1": m + 0.001 * i}} for i, (n, m) in enumerate(means.items())}
    (t,) = _judge(exp, measured)
    assert len(t.seeds) == 6 and t.status == "fail"
    assert sorted(round(abs(s.mean), 4) for s in t.seeds) == pytest.approx([0.1, 0.1, 0.1, 0.2, 0.2, 0.3], abs=2e-3)


def test_negative_measured_values_fail_the_sanity_check():
    kw = {"paper": None, "tolerance": None, "direction": None, "mode": "two_sided", "acceptance": Acceptance()}
    assert judge_metric("abs_rel", [-0.01], **kw).status == "fail"
    assert judge_metric("abs_rel", [0.05, -0.01], **kw).test == "not a finite non-negative number"
    assert judge_metric("abs_rel", [0.0], **kw).status == "not_compared"  # 0 is a valid value
    assert judge_metric("abs_rel", [float("inf")], **kw).status == "fail"


def test_the_band_edge_passes_and_just_outside_fails():
    kw = {"paper": 0.5, "tolerance": 0.25, "direction": "lower", "acceptance": Acceptance()}
    assert judge_metric("abs_rel", [0.75], mode="two_sided", **kw).status == "pass"
    assert judge_metric("abs_rel", [0.25], mode="two_sided", **kw).status == "pass"
    assert judge_metric("abs_rel", [0.7500001], mode="two_sided", **kw).status == "fail"
    assert judge_metric("abs_rel", [0.75], mode="no_worse", **kw).status == "pass"
    assert judge_metric("abs_rel", [0.7500001], mode="no_worse", **kw).status == "fail"
    assert judge_metric("abs_rel", [0.1], mode="no_worse", **kw).status == "pass"  # better is never worse
    high = {**kw, "direction": "higher"}
    assert judge_metric("delta1", [0.25], mode="no_worse", **high).status == "pass"
    assert judge_metric("delta1", [0.2499999], mode="no_worse", **high).status == "fail"
    # bounds (synthetic runs): the edges are inside
    bkw = {**kw, "mode": "two_sided", "bounds": (0.1, 0.2)}
    assert [judge_metric("abs_rel", [x], **bkw).status for x in (0.1, 0.2, 0.0999, 0.2001)] == [
        "pass", "pass", "fail", "fail"]


def test_claims_given_as_lists_are_judged_as_unpaired_seeds():
    claim = Claim(cell="a", better_than="b", metric="abs_rel", test="mean")
    exp = _exp({"abs_rel": "lower"}, claim)
    (v,) = _judge(exp, {"a": {"abs_rel": [0.1, 0.12]}, "b": {"abs_rel": [0.2, 0.22]}})
    assert v.status == "pass" and v.values["a"] == pytest.approx((0.11, 0.01414, 2), rel=1e-3)
    (w,) = _judge(exp, {"a": {"abs_rel": [0.3, 0.32]}, "b": {"abs_rel": 0.2}})
    assert w.status == "fail" and w.values["b"] == (0.2, None, 1)
    (e,) = _judge(exp, {"a": {"abs_rel": []}, "b": {"abs_rel": [0.2]}})
    assert e.status == "not_evaluated" and e.test == "a cell has no measurement"


def test_paired_statistics_report_their_spread_and_t_based_power():
    from scipy import stats as sps

    from repro.suite.stats import PairedStats, paired_images

    im = paired_images([0.1, 0.3, 0.2], 0.05)
    assert im.sd == pytest.approx(0.1) and im.kind == "images" and im.mean == pytest.approx(0.2)
    st = paired_seeds([0.1, 0.3, 0.2], 0.05)
    want = (sps.t(2).ppf(0.95) + sps.t(2).ppf(0.8)) * 0.1 / 3**0.5
    assert st.mde == pytest.approx(want) and st.kind == "seeds"
    t = tost([0.1, 0.3, 0.2], 0.5, 0.05, "seeds")
    assert t.kind == "seeds" and t.margin == 0.5 and "TOST over seeds, n=3" in t.describe(0.05)
    empty = tost([], 0.1, 0.05, "images")
    assert empty.n == 0 and empty.p is None and empty.mean != empty.mean  # NaN
    holm_adjusted = PairedStats("seeds", "paired_t", 3, 0.2, 0.1, p=0.01, p_holm=0.2)
    assert not holm_adjusted.rejects(0.05) and PairedStats("seeds", "paired_t", 3, 0.2, p=0.01).rejects(0.05)
    assert holm_adjusted.describe(0.05) == (
        "one-sided paired t-test over seeds, n=3: mean +0.2, p=0.01, Holm-adjusted 0.2 ≥ α=0.05")
    assert PairedStats("seeds", "paired_t", 3, 0.2, p=0.01).describe(0.05).endswith("p=0.01 < α=0.05")


def test_paired_t_with_zero_spread_passes_only_a_gain_in_every_seed():
    claim = Claim(cell="a", better_than="b", metric="abs_rel", test="paired_t")
    exp = _exp({"abs_rel": "lower"}, claim)
    (v,) = _judge(exp, {"a": {"abs_rel": {"0": 0.1, "1": 0.2}}, "b": {"abs_rel": {"0": 0.15, "1": 0.25}}})
    assert v.status == "pass" and "zero spread, gain +0.05" in v.test
    (w,) = _judge(exp, {"a": {"abs_rel": {"0": 0.2, "1": 0.3}}, "b": {"abs_rel": {"0": 0.15, "1": 0.25}}})
    assert w.status == "fail"


def test_one_seed_paired_claims_say_the_training_variance_is_not_measured():
    claim = Claim(cell="a", better_than="b", metric="abs_rel")
    exp = _exp({"abs_rel": "lower"}, claim)
    images = {"a": {"abs_rel": {"0": {f"i{k}": 0.1 + 0.01 * k for k in range(8)}}},
              "b": {"abs_rel": {"0": {f"i{k}": 0.2 + 0.011 * k for k in range(8)}}}}
    (v,) = _judge(exp, {"a": {"abs_rel": {"0": 0.135}}, "b": {"abs_rel": {"0": 0.2385}}}, images=images)
    assert v.status == "pass" and v.test.startswith("one-sided Wilcoxon signed-rank over images, n=8")
    assert v.test.endswith("; 1 seed: training variance not measured")


def test_t_test_acceptance_with_zero_spread_passes_only_the_paper_value():
    kw = {"paper": 0.1, "tolerance": 0.02, "direction": "lower", "mode": "two_sided",
          "acceptance": Acceptance(method="t_test")}
    assert judge_metric("abs_rel", [0.1, 0.1], **kw).status == "pass"
    v = judge_metric("abs_rel", [0.11, 0.11], **kw)
    assert v.status == "fail" and v.test == "t-test undefined (zero spread over 2 seeds)"


def test_row_mde_from_the_image_and_the_seed_spread():
    from repro.suite.stats import mde, row_mde

    images = {"0": {"i1": 1.0, "i2": 2.0}, "1": {"i1": 1.2, "i2": 2.2}}  # image means 1.1, 2.1
    got = row_mde(images, [0.1, 0.2], 0.05)
    assert got == pytest.approx((mde(2**-0.5, 2, 0.05, sided=2), mde(0.1 * 2**-0.5, 2, 0.05, sided=2, df=1)))
    assert row_mde({"0": {"i1": 1.0}}, [0.1], 0.05) == (None, None)


def _seed(value: float, images: dict[str, float] | None = None) -> dict:
    rec = {"seed": 0, "evaluators": {"paper": {"abs_rel": value}}, "cell_evaluator": "paper"}
    if images is not None:
        rec["per_image"] = {"paper": {"images": list(images), "abs_rel": list(images.values())}}
    return rec


def test_claim_images_and_judge_result_read_the_files_evaluator():
    from repro.suite.verdicts import claim_images, judge_result

    claim = Claim(cell="a", better_than="b", metric="abs_rel")
    exp = _exp({"abs_rel": "lower"}, claim)
    exp.cells["a"].metrics = {"abs_rel": 0.1}
    results = {"a": {"status": "ok", "seeds": [_seed(0.15, {"x": 0.1, "y": 0.2})]},
               "b": {"status": "failed"}, "c": {"status": "ok", "seeds": [_seed(0.2)]}}
    assert claim_images(results, exp) == {"a": {"abs_rel": {"0": {"x": 0.1, "y": 0.2}}}}
    (v,) = judge_result(exp, "a", results["a"], compare=True)
    assert (v.status, v.evaluator, v.by_evaluator) == ("fail", "paper", {"paper": 0.15})
    (cited,) = judge_result(exp, "a", {"status": "cited"}, compare=True)
    assert (cited.status, cited.paper) == ("cited", 0.1)
    exp.cells["a"].evaluator = "released"  # this row is judged under an evaluator the seeds lack
    (missing,) = judge_result(exp, "a", results["a"], compare=True)
    assert missing.status == "missing"
    assert missing.test == "evaluator 'released' not recorded in this result (re-run its evaluation)"


def test_cited_rows_and_claim_errors():
    from repro.suite.expected import judge_cell

    exp = _exp({"abs_rel": "lower", "delta1": "higher"})
    exp.cells["a"].metrics, exp.cells["a"].not_reported = {"abs_rel": 0.1}, ["delta1"]
    assert [v.status for v in judge_cell(exp, "a", None)] == ["cited", "not_reported"]
    with pytest.raises(ValueError, match="^a better_than claim needs cell:$"):
        Claim(better_than="b", metric="abs_rel")


def test_a_claim_cell_without_a_result_and_a_metric_not_measured():
    from repro.suite.verdicts import claim_images, judge_result

    claim = Claim(cell="a", better_than="b", metric="abs_rel")
    exp = _exp({"abs_rel": "lower", "delta1": "higher"}, claim)
    exp.cells["a"].metrics, exp.tolerance["delta1"] = {"abs_rel": 0.15, "delta1": 0.9}, 0.01
    a = {"status": "ok", "seeds": [_seed(0.15, {"x": 0.1})]}
    assert claim_images({"a": a}, exp) == {"a": {"abs_rel": {"0": {"x": 0.1}}}}  # b never ran
    abs_rel, delta1 = judge_result(exp, "a", a, compare=True)
    assert abs_rel.status == "pass" and (delta1.status, delta1.test) == ("missing", "no measurement")


# --- the full mutation run's survivors in repro/suite/expected.py


def test_band_edges_are_inside_in_both_modes():
    kw = {"paper": 0.1, "tolerance": 0.25, "acceptance": Acceptance()}  # 0.25: exact in binary
    assert judge_metric("abs_rel", [0.35], direction="lower", mode="two_sided", **kw).status == "pass"
    assert judge_metric("abs_rel", [0.35], direction="lower", mode="one_sided", **kw).status == "pass"
    assert judge_metric("abs_rel", [0.3501], direction="lower", mode="one_sided", **kw).status == "fail"
    assert judge_metric("abs_rel", [-5.0 + 5.0], direction="lower", mode="one_sided", **kw).status == "pass"


def test_tost_acceptance_edges_and_its_record():
    from scipy import stats

    acc = Acceptance(method="tost", alpha=0.05)
    kw = {"paper": 0.5, "tolerance": 0.25, "direction": "lower", "mode": "two_sided", "acceptance": acc}
    flat = judge_metric("abs_rel", [0.75, 0.75], **kw)  # zero spread, |Δ| = tol exactly: not inside
    assert flat.status == "fail" and flat.test == "TOST degenerate (zero spread over 2 seeds): |Δ| ≥ 0.25"
    inside = judge_metric("abs_rel", [0.5, 0.5], **kw)
    assert inside.status == "pass" and inside.test == "TOST degenerate (zero spread over 2 seeds): |Δ| < 0.25"
    values = [0.45, 0.52, 0.55]
    p = max(stats.ttest_1samp(values, 0.25, alternative="greater").pvalue,
            stats.ttest_1samp(values, 0.75, alternative="less").pvalue)
    v = judge_metric("abs_rel", values, **kw)
    assert v.status == "pass" and v.test == f"TOST ±0.25, n=3: p={p:.3g} < α=0.05"
    at_alpha = judge_metric("abs_rel", values, **{**kw, "acceptance": Acceptance(method="tost", alpha=p)})
    assert at_alpha.status == "fail" and at_alpha.test.endswith(f"≥ α={p:g}")  # p < α, strictly
    low = judge_metric("abs_rel", [0.26, 0.27, 0.30], **kw)  # near the lower edge: not shown
    assert low.status == "fail"


def test_t_test_acceptance_edges_and_its_record():
    from scipy import stats

    values = [0.12, 0.125, 0.13]
    p = float(stats.ttest_1samp(values, 0.1).pvalue)  # ≈ 0.013
    kw = {"paper": 0.1, "tolerance": 0.01, "direction": "lower", "mode": "two_sided"}
    v = judge_metric("abs_rel", values, acceptance=Acceptance(method="t_test", alpha=0.05), **kw)
    assert v.status == "fail" and v.test == f"one-sample t-test, n=3: p={p:.3g} < α=0.05"
    ok = judge_metric("abs_rel", values, acceptance=Acceptance(method="t_test", alpha=0.01), **kw)
    assert ok.status == "pass" and ok.test == f"one-sample t-test, n=3: p={p:.3g} ≥ α=0.01"
    edge = judge_metric("abs_rel", values, acceptance=Acceptance(method="t_test", alpha=p), **kw)
    assert edge.status == "pass"  # p ≥ α passes, the edge included
    near = judge_metric("abs_rel", [0.1 + 1e-13, 0.1 + 1e-13], acceptance=Acceptance(method="t_test"), **kw)
    assert near.status == "pass"  # zero spread: equal to the paper up to 1e-12


def test_judge_cell_records_cited_rows_modes_bounds_and_forms():
    from repro.suite.expected import judge_cell

    exp = _exp({"abs_rel": "lower", "delta1": "higher", "rmse_log": "lower"})
    exp.mode = "one_sided"
    exp.tolerance = {"abs_rel": 0.01, "delta1": 0.01, "rmse_log": 0.01}
    exp.cells["a"] = CellExpectation(metrics={"abs_rel": 0.1, "rmse_log": 0.2}, not_reported=["delta1"],
                                     bounds={"delta1": (0.0, 1.0)}, mode="two_sided", forms={"rmse_log": "log10"})
    cited = judge_cell(exp, "a", None)
    assert [(v.metric, v.status, v.paper, v.direction, v.test) for v in cited] == [
        ("abs_rel", "cited", 0.1, "lower", "cited"), ("rmse_log", "cited", 0.2, "lower", "cited"),
        ("delta1", "not_reported", None, "higher", "cited")]
    # the row's own mode (two-sided) applies: 0.08 is better than the paper by more than the band
    abs_rel, rmse_log, delta1 = judge_cell(exp, "a", {"abs_rel": [0.08], "rmse_log": [0.5], "delta1": [1.5]},
                                           forms={"rmse_log": "ln"})
    assert abs_rel.status == "fail" and abs_rel.tolerance == 0.01
    assert rmse_log.status == "not_compared" and rmse_log.test == "paper's rmse_log is the log10 form, measured: ln"
    assert delta1.status == "fail" and delta1.bounds == (0.0, 1.0) and delta1.tolerance is None  # out of bounds
    in_bounds = judge_cell(exp, "a", {"abs_rel": [0.1], "delta1": [0.5]})
    assert [(v.metric, v.status) for v in in_bounds] == [("abs_rel", "pass"), ("rmse_log", "missing"),
                                                         ("delta1", "pass")]  # in its sanity bounds
    exp.cells["b"] = CellExpectation(metrics={"abs_rel": 0.1}, not_reported=["delta1"])
    shown = judge_cell(exp, "b", {"abs_rel": [0.1], "delta1": [0.5]})[1]
    assert (shown.status, shown.test) == ("not_reported", "the paper prints '-'")
    exp.cells["a"].mode = None  # the file's mode (one-sided): better than the paper passes
    assert judge_cell(exp, "a", {"abs_rel": [0.08]})[0].status == "pass"
    worse = judge_cell(exp, "a", {"rmse_log": [0.5]}, forms={"rmse_log": "log10"})
    assert worse[1].status == "fail"  # the same form: compared, and 0.5 is far from 0.2


def test_override_evaluator_replaces_every_rows_own_evaluator():
    from repro.suite.expected import override_evaluator

    exp = _exp({"abs_rel": "lower"})
    exp.cells["a"].evaluator = "released"
    out = override_evaluator(exp, "paper", "the suite")
    assert (out.evaluator, out.evaluator_why) == (
        "paper", "set by the suite (verdict_evaluator); the expected file's choice was cell")
    assert all(c.evaluator is None for c in out.cells.values()) and exp.cells["a"].evaluator == "released"


def test_an_unknown_evaluator_is_named_with_the_choices(tmp_path):
    from repro.config import ConfigError
    from repro.suite.expected import EVALUATOR_NAMES, load_expected

    choices = ", ".join(EVALUATOR_NAMES)
    head = "source: s\ndirections: {abs_rel: lower}\ntolerance: {abs_rel: 0.1}\nrationale: r\n"
    p = tmp_path / "e.yaml"
    p.write_text(head + "evaluator: bogus\ncells:\n  a: {metrics: {abs_rel: 0.5}}\n")
    with pytest.raises(ConfigError, match=rf"key 'evaluator': unknown evaluator 'bogus' \(choose from {choices}\)$"):
        load_expected(p)
    p.write_text(head + "cells:\n  a: {metrics: {abs_rel: 0.5}, evaluator: nope}\n")
    with pytest.raises(ConfigError, match=rf"key 'cells.a.evaluator': unknown evaluator 'nope' \(choose from {choices}\)$"):
        load_expected(p)


def test_suite_cells_and_expectations_must_match_both_ways():
    from pathlib import Path

    from repro.config import ConfigError
    from repro.suite.expected import check_cells_match

    exp = _exp({"abs_rel": "lower"}, cells=("a", "b"))
    exp.path = "expected/t.yaml"
    check_cells_match(exp, ["a", "b"], Path("suites/t.yaml"))  # the same cells: nothing raised
    with pytest.raises(ConfigError, match=r"^expected/t.yaml:0: no expectation for cells: c, d$"):
        check_cells_match(exp, ["a", "b", "c", "d"], Path("suites/t.yaml"))
    with pytest.raises(ConfigError, match=r"^expected/t.yaml:0: expectations for cells not in suites/t.yaml: b$"):
        check_cells_match(exp, ["a"], Path("suites/t.yaml"))


def test_a_claims_design_reads_as_power_at_seeds():
    from repro.suite.expected import ClaimDesign

    assert ClaimDesign().describe() == "not designed"
    assert ClaimDesign(seeds=3, power=0.8, pilot_effect=0.0123).describe() == "80% at 3 seeds (pilot effect +0.0123)"
    assert ClaimDesign(power=0.5).describe() == "50% at the seed cap"


def test_judge_result_compares_only_the_form_the_paper_states():
    from repro.suite.verdicts import judge_result

    exp = _exp({"rmse_log": "lower"}, cells=("a",))
    exp.evaluator = "paper"
    exp.cells["a"] = CellExpectation(metrics={"rmse_log": 0.2}, forms={"rmse_log": "log10"})

    def result(form: str) -> dict:
        return {"status": "ok", "seeds": [{"seed": 0, "evaluators": {"paper": {"rmse_log": 0.5}},
                                           "evaluations": {"paper": {"rmse_log": form}}}]}

    (other,) = judge_result(exp, "a", result("ln"), compare=True)
    assert other.status == "not_compared" and other.test == "paper's rmse_log is the log10 form, measured: ln"
    (same,) = judge_result(exp, "a", result("log10"), compare=True)
    assert same.status == "fail"  # the same form: compared (0.5 against 0.2)


def test_judge_result_reads_every_seeds_evaluators_and_sizes_the_row():
    from repro.suite.stats import row_mde
    from repro.suite.verdicts import evaluators_recorded, judge_result

    exp = _exp({"abs_rel": "lower"}, cells=("a",))
    exp.evaluator = "paper"
    exp.cells["a"].metrics = {"abs_rel": 0.1}
    images = [{"x": 0.1, "y": 0.2, "z": 0.12}, {"x": 0.11, "y": 0.18, "z": 0.1}]
    seeds = [{"seed": s, "evaluators": {"paper": {"abs_rel": 0.1 + 0.01 * s}, **({"released": {"abs_rel": 0.3}} if s else {})},
              "per_image": {"paper": {"images": list(im), "abs_rel": list(im.values())}}} for s, im in enumerate(images)]
    result = {"status": "ok", "seeds": seeds}
    assert evaluators_recorded(result) == ["paper", "released"]  # released only in the second seed
    (v,) = judge_result(exp, "a", result, compare=True)
    assert v.by_evaluator == pytest.approx({"paper": 0.105, "released": 0.3})
    want = row_mde({"0": images[0], "1": images[1]}, [0.1, 0.11], 0.05)
    assert (v.mde_images, v.mde_seeds) == pytest.approx(want) and None not in want


def test_a_cell_evaluator_without_numbers_is_missing_not_unrecorded():
    from repro.suite.verdicts import judge_result

    exp = _exp({"abs_rel": "lower"}, cells=("a",))
    exp.cells["a"].metrics = {"abs_rel": 0.1}
    (v,) = judge_result(exp, "a", {"status": "ok", "seeds": [{"seed": 0}]}, compare=True)
    assert (v.status, v.test, v.evaluator) == ("missing", "no measurement", "cell")


def test_claim_images_skip_a_failed_cell_and_read_the_next():
    from repro.suite.verdicts import claim_images

    exp = _exp({"abs_rel": "lower"}, Claim(cell="a", better_than="b", metric="abs_rel"))
    exp.evaluator = "paper"
    rec = {"seed": 0, "evaluators": {"paper": {"abs_rel": 0.1}},
           "per_image": {"paper": {"images": ["x"], "abs_rel": [0.1]}}}
    got = claim_images({"a": {"status": "failed"}, "b": {"status": "ok", "seeds": [rec]}}, exp)
    assert got == {"b": {"abs_rel": {"0": {"x": 0.1}}}}


def test_tost_near_the_lower_edge_uses_a_one_sided_test():
    from scipy import stats

    values = [0.3, 0.35, 0.4]  # mean 0.35, band 0.5 ± 0.25: the lower test decides (p ≈ 0.037)
    p = stats.ttest_1samp(values, 0.25, alternative="greater").pvalue
    v = judge_metric("abs_rel", values, paper=0.5, tolerance=0.25, direction="lower", mode="two_sided",
                     acceptance=Acceptance(method="tost"))
    assert v.status == "pass" and f"p={p:.3g}" in v.test and p < 0.05 < 2 * p


def test_a_row_without_its_own_mode_takes_the_files():
    exp = _exp({"abs_rel": "lower"})
    exp.mode = "two_sided"
    exp.cells["a"].metrics = {"abs_rel": 0.1}
    assert exp.mode_for("a") == "two_sided"
    from repro.suite.expected import judge_cell

    assert judge_cell(exp, "a", {"abs_rel": [0.05]})[0].status == "fail"  # much better: outside a two-sided band


def test_t_test_at_its_edges():
    kw = {"tolerance": 0.01, "direction": "lower", "mode": "two_sided", "acceptance": Acceptance(method="t_test")}
    assert judge_metric("abs_rel", [1e-13, 1e-13], paper=0.0, **kw).status == "pass"  # zero spread, |Δ| ≤ 1e-12
    assert judge_metric("abs_rel", [1e-11, 1e-11], paper=0.0, **kw).status == "fail"
    from scipy import stats

    values = [0.12, 0.125, 0.13]
    p = float(stats.ttest_1samp(values, 0.1).pvalue)
    edge = judge_metric("abs_rel", values, paper=0.1, **{**kw, "acceptance": Acceptance(method="t_test", alpha=p)})
    assert edge.test.endswith(f"≥ α={p:g}")


def test_a_mean_claims_record_is_the_two_means():
    claim = Claim(cell="a", better_than="b", metric="abs_rel", test="mean")
    (v,) = _judge(_exp({"abs_rel": "lower"}, claim), {"a": {"abs_rel": {"0": 0.1}}, "b": {"abs_rel": {"0": 0.2}}})
    assert (v.status, v.test) == ("pass", "means 0.1000 < 0.2000")


def test_tost_statistics_record_p_interval_and_mde_by_kind():
    import math

    from scipy import stats as sps

    from repro.suite.stats import POWER

    diffs = [0.01, 0.02, -0.005, 0.015]
    n, mean, sd = 4, sum(diffs) / 4, float(sps.tstd(diffs))
    seeds = tost(diffs, 0.05, 0.05, "seeds")
    p = max(sps.ttest_1samp(diffs, -0.05, alternative="greater").pvalue,
            sps.ttest_1samp(diffs, 0.05, alternative="less").pvalue)
    half = sps.t(n - 1).ppf(0.95) * sd / math.sqrt(n)
    assert seeds.p == pytest.approx(p) and seeds.ci == pytest.approx((mean - half, mean + half))
    assert seeds.mde == pytest.approx((sps.t(n - 1).ppf(0.95) + sps.t(n - 1).ppf(POWER)) * sd / math.sqrt(n))
    images = tost(diffs, 0.05, 0.05, "images")  # many images: normal quantiles
    assert images.mde == pytest.approx((sps.norm.ppf(0.95) + sps.norm.ppf(POWER)) * sd / math.sqrt(n))
    assert images.kind == "images" and images.margin == 0.05
    assert tost([0.05, 0.05], 0.05, 0.05, "seeds").p == 1.0  # zero spread on the margin: not inside
    assert tost([0.04, 0.04], 0.05, 0.05, "seeds").p == 0.0
    empty = tost([], 0.05, 0.05, "seeds")
    assert empty.n == 0 and math.isnan(empty.mean) and empty.p is None and empty.mde is None
    assert math.isnan(paired_seeds([], 0.05).mean)


def test_within_claims_band_edge_kinds_and_worst_test():
    band = Claim(cells=["a", "b", "c"], within=0.25, metric="abs_rel", test="band")
    exp = _exp({"abs_rel": "lower"}, band, cells=("a", "b", "c"))
    measured = {"a": {"abs_rel": {"0": 0.5}}, "b": {"abs_rel": {"0": 0.75}}, "c": {"abs_rel": {"0": 0.625}}}
    (v,) = _judge(exp, measured)
    assert v.status == "pass" and v.test == "max |Δ mean| 0.25 ≤ 0.25"  # the edge is inside
    rel = Claim(cells=["a", "b"], within=0.5, metric="abs_rel", test="band", relative_to=["a", "b"])
    (r,) = _judge(_exp({"abs_rel": "lower"}, rel), measured)
    assert r.test == "max |Δ mean| 0.25 > 0.125 [margin = 0.5 × |Δ| of a vs b]" and r.status == "fail"

    tost_claim = Claim(cells=["a", "b"], within=0.05, metric="abs_rel")
    exp = _exp({"abs_rel": "lower"}, tost_claim)
    seeds = {"a": {"abs_rel": {"0": 0.10, "1": 0.11}}, "b": {"abs_rel": {"0": 0.10, "1": 0.13}}}
    images = {"a": {"abs_rel": {"0": {"x": 0.1, "y": 0.2}, "1": {"x": 0.1, "y": 0.2}}},
              "b": {"abs_rel": {"0": {"x": 0.1, "y": 0.2}, "1": {"x": 0.101, "y": 0.202}}}}
    (t,) = _judge(exp, seeds, images=images)
    assert [s.kind for s in t.seeds] == ["seeds"] and [s.kind for s in t.images] == ["images"]  # two of each: tested
    worst = max([*t.images, *t.seeds], key=lambda s: s.p)
    assert worst is t.seeds[0] and worst.describe(0.05) in t.test  # the seeds' test is the worse one here
    (none,) = _judge(exp, {"a": {"abs_rel": {"0": 0.1}}, "b": {"abs_rel": {"0": 0.12}}})
    assert none.status == "not_evaluated"
    assert none.test == "TOST needs per-image values or ≥ 2 shared seeds; max |Δ mean| 0.02 ≤ 0.05"


def test_paired_t_falls_back_and_handles_zero_spread():
    claim = Claim(cell="a", better_than="b", metric="abs_rel", test="paired_t")
    exp = _exp({"abs_rel": "lower"}, claim)
    (one,) = _judge(exp, {"a": {"abs_rel": {"0": 0.1}}, "b": {"abs_rel": {"0": 0.2}}})
    assert (one.status, one.test) == ("pass", "means 0.1000 < 0.2000 (paired_t needs ≥ 2 shared seeds)")
    (tie,) = _judge(exp, {"a": {"abs_rel": {"0": 0.1, "1": 0.2}}, "b": {"abs_rel": {"0": 0.1, "1": 0.2}}})
    assert (tie.status, tie.test) == ("fail", "paired, n=2: zero spread, gain +0 (t-test undefined)")
    (gain,) = _judge(exp, {"a": {"abs_rel": {"0": 0.1, "1": 0.2}}, "b": {"abs_rel": {"0": 0.35, "1": 0.45}}})
    assert gain.status == "pass" and gain.test.startswith("paired, n=2: zero spread, gain +0.25")


def test_paired_claims_record_both_tests_and_the_sign_of_a_higher_is_better_metric():
    claim = Claim(cell="a", better_than="b", metric="delta1")  # default: paired (Wilcoxon + t over seeds)
    exp = _exp({"delta1": "higher"}, claim)
    seeds = {"a": {"delta1": {"0": 0.9, "1": 0.92}}, "b": {"delta1": {"0": 0.8, "1": 0.85}}}
    imgs = {"a": {"delta1": {"0": {f"i{k}": 0.9 + 0.001 * k for k in range(8)}}},
            "b": {"delta1": {"0": {f"i{k}": 0.8 + 0.002 * k for k in range(8)}}}}
    (v,) = _judge(exp, seeds, images=imgs)
    assert len(v.images) == 1 and v.images[0].mean > 0  # a is better image by image: positive differences
    assert len(v.seeds) == 1 and v.spread == pytest.approx(0.0212132, abs=1e-6)  # two gains: 0.1, 0.07
    assert v.test == f"{v.images[0].describe(0.05)}; {v.seeds[0].describe(0.05)}"
    two = {"a": {"delta1": {"0": {"x": 0.9, "y": 0.95}}}, "b": {"delta1": {"0": {"x": 0.8, "y": 0.9}}}}
    (w,) = _judge(exp, {"a": {"delta1": {"0": 0.9}}, "b": {"delta1": {"0": 0.8}}}, images=two)
    assert len(w.images) == 1 and w.test.endswith("; 1 seed: training variance not measured")  # 2 images suffice
    (none,) = _judge(exp, {"a": {"delta1": {"0": 0.9}}, "b": {"delta1": {"0": 0.8}}})
    assert (none.status, none.test) == ("not_evaluated", "no paired data: needs per-image values or ≥ 2 shared seeds")


def test_judge_metric_records_its_inputs_and_says_which_rule_applied():
    acc = Acceptance()
    kw = {"paper": 0.1, "tolerance": 0.01, "direction": "lower", "mode": "two_sided", "acceptance": acc}
    missing = judge_metric("abs_rel", None, bounds=(0.0, 1.0), **kw)
    assert (missing.metric, missing.status, missing.test) == ("abs_rel", "missing", "no measurement")
    assert (missing.paper, missing.tolerance, missing.bounds, missing.direction) == (0.1, 0.01, (0.0, 1.0), "lower")
    bounded = judge_metric("abs_rel", [0.5], bounds=(0.0, 1.0), **kw)
    assert (bounded.status, bounded.test) == ("pass", "within [0, 1]")
    for missing_key in ("direction", "tolerance", "paper"):
        v = judge_metric("abs_rel", [0.1], **{**kw, missing_key: None})
        assert (v.status, v.test) == ("not_compared", "no paper value"), missing_key
    assert judge_metric("abs_rel", [0.1], compare=False, **kw).test == "not compared at this scale"
    assert judge_metric("abs_rel", [0.1], **kw).test == "|Δ| ≤ 0.01"  # one seed, band: nothing added
    t = judge_metric("abs_rel", [0.1], **{**kw, "acceptance": Acceptance(method="t_test")})
    assert (t.status, t.test) == ("pass", "|Δ| ≤ 0.01 (t_test needs ≥ 2 seeds)")


def test_a_claims_power_note_compares_the_papers_gain_with_the_runs_mde():
    claim = Claim(cell="a", better_than="b", metric="abs_rel", test="paired_t")
    exp = _exp({"abs_rel": "lower"}, claim)
    exp.cells["a"].metrics, exp.cells["b"].metrics = {"abs_rel": 0.10}, {"abs_rel": 0.11}
    noisy = {"a": {"abs_rel": {"0": 0.10, "1": 0.15, "2": 0.08}}, "b": {"abs_rel": {"0": 0.12, "1": 0.11, "2": 0.13}}}
    (v,) = _judge(exp, noisy)
    assert v.paper_effect == pytest.approx(0.01) and v.mde == pytest.approx(v.seeds[0].mde) and v.mde > 0.01
    assert v.power == (f"this run cannot resolve the paper's gain of {v.paper_effect:.4g} (MDE {v.mde:.4g}); "
                       "add seeds or test images")
    quiet = {"a": {"abs_rel": {"0": 0.10, "1": 0.1001, "2": 0.0999}}, "b": {"abs_rel": {"0": 0.11, "1": 0.1101, "2": 0.1098}}}
    (q,) = _judge(exp, quiet)
    assert q.mde < 0.01 and q.power == ""  # resolvable: no note
    (one,) = _judge(exp, {"a": {"abs_rel": {"0": 0.1}}, "b": {"abs_rel": {"0": 0.11}}})
    assert one.power == ("1 seed: the run-to-run spread is not measured, so the paper's gain of 0.01 "
                         "cannot be told from training noise; add seeds")
    imgs = {"a": {"abs_rel": {"0": {"x": 0.1, "y": 0.2, "z": 0.3}}}, "b": {"abs_rel": {"0": {"x": 0.2, "y": 0.25, "z": 0.5}}}}
    (by_images,) = _judge(_exp({"abs_rel": "lower"}, Claim(cell="a", better_than="b", metric="abs_rel")),
                          {"a": {"abs_rel": {"0": 0.2}}, "b": {"abs_rel": {"0": 0.3}}}, images=imgs)
    assert by_images.mde == pytest.approx(by_images.images[0].mde) and by_images.mde is not None


def test_paired_statistics_describe_and_reject_at_the_edge():
    from repro.suite.stats import PairedStats, _spread

    st = PairedStats("seeds", "paired_t", 3, 0.1, 0.05, ci=(0.01, 0.2), p=0.05)
    assert st.describe(0.05) == "one-sided paired t-test over seeds, n=3: mean +0.1, 95% CI [+0.01, +0.2], p=0.05 ≥ α=0.05"
    assert not st.rejects(0.05) and st.rejects(0.051)  # p < α, strictly
    flat = PairedStats("seeds", "paired_t", 2, 0.0, 0.0)
    assert flat.describe(0.05) == "one-sided paired t-test over seeds, n=2: mean +0, untestable (no spread)"
    assert _spread([(0.3 - 0.1) * 1e6, 0.2e6]) == 0.0  # rounding noise, relative to the values' size
    assert _spread([0.0, 2e-12]) == pytest.approx(2e-12 / 2**0.5)  # a real spread above 1e-12 is kept


def test_judge_claims_scale_text_families_and_missing_cells():
    a_better = {"a": {"abs_rel": {"0": 0.1, "1": 0.12, "2": 0.11}}, "b": {"abs_rel": {"0": 0.2, "1": 0.25, "2": 0.21}}}
    first = Claim(cell="c", better_than="b", metric="abs_rel", test="paired_t")  # c has no measurement
    second = Claim(cell="a", better_than="b", metric="abs_rel", test="paired_t")
    exp = _exp({"abs_rel": "lower"}, first, second, cells=("a", "b", "c"))
    v1, v2 = _judge(exp, a_better)
    assert (v1.status, v1.test) == ("not_evaluated", "a cell has no measurement")
    assert v2.status == "pass" and v2.seeds[0].p_holm is None and "Holm" not in v2.test  # one test: no adjustment
    (shown,) = judge_claims(_exp({"abs_rel": "lower"}, second), a_better, compare=False)
    assert shown.status == "not_evaluated" and shown.test.startswith("not judged at scale 'full' (statistics shown")
    # a judged claim and a shown-only one are separate Holm families
    judged = Claim(cell="a", better_than="b", metric="abs_rel", test="paired_t", scales=["tiny"])
    other = Claim(cell="b", better_than="a", metric="abs_rel", test="paired_t")
    both = judge_claims(_exp({"abs_rel": "lower"}, judged, other), a_better, compare=False, scale="tiny")
    assert both[0].status == "pass" and both[0].seeds[0].p_holm is None and both[1].seeds[0].p_holm is None
    twice = judge_claims(_exp({"abs_rel": "lower"}, other, Claim(cell="b", better_than="a", metric="abs_rel",
                                                                 test="paired_t")), a_better, compare=False)
    assert all(v.seeds[0].p_holm is not None for v in twice)  # two shown-only claims: adjusted together
    assert exp.evaluator_for("no such cell") == exp.evaluator


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cell": "a", "better_than": "b", "metric": ""}, "a claim needs a metric"),
    ({"cell": "a", "better_than": "b", "cells": ["a", "b"], "within": 0.1, "metric": "m"},
     "a claim has either cell + better_than, or cells + within"),
    ({"metric": "m"}, "a claim has either cell + better_than, or cells + within"),
    ({"better_than": "b", "metric": "m"}, "a better_than claim needs cell:"),
    ({"cell": "a", "better_than": "b", "metric": "m", "test": "tost"},
     "a better_than claim is tested by paired, mean or paired_t, not tost"),
    ({"cells": ["a"], "within": 0.1, "metric": "m"}, "a within claim needs cells: (two or more), a positive within:, and no cell:"),
    ({"cells": ["a", "b"], "metric": "m"}, "a within claim needs cells: (two or more), a positive within:, and no cell:"),
    ({"cells": ["a", "b"], "within": 0.0, "metric": "m"}, "a within claim needs cells: (two or more), a positive within:, and no cell:"),
    ({"cells": ["a", "b"], "within": 0.1, "cell": "a", "metric": "m"},
     "a within claim needs cells: (two or more), a positive within:, and no cell:"),
    ({"cells": ["a", "b"], "within": 0.1, "metric": "m", "relative_to": ["a"]},
     "relative_to names two cells: the band is within × |mean(a) − mean(b)|"),
    ({"cells": ["a", "b"], "within": 0.1, "metric": "m", "test": "paired"}, "a within claim is tested by band or tost, not paired"),
    ({"cell": "a", "better_than": "b", "metric": "m", "alpha": 1.0}, "alpha must be in (0, 1), got 1.0"),
    ({"cell": "a", "better_than": "b", "metric": "m", "alpha": 0.0}, "alpha must be in (0, 1), got 0.0"),
])
def test_a_claim_refuses_what_it_cannot_test(kwargs, message):
    import re

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Claim(**kwargs)


def test_claim_defaults_and_names():
    assert Claim(cell="a", better_than="b", metric="m").test == "paired"
    within = Claim(cells=["a", "b"], within=0.1, metric="m", relative_to=["c", "a"])
    assert within.test == "tost" and within.names == ["a", "b", "c"]
    assert Claim(cells=["a", "b", "c"], within=0.1, metric="m").names == ["a", "b", "c"]


def test_every_row_states_every_column_of_its_table(tmp_path):
    from repro.config import ConfigError
    from repro.suite.expected import load_expected

    head = "source: s\ndirections: {abs_rel: lower, delta1: higher}\ntolerance: {abs_rel: 0.1, delta1: 0.1}\nrationale: r\n"
    p = tmp_path / "e.yaml"
    p.write_text(head + "cells:\n  a: {metrics: {abs_rel: 0.5, delta1: 0.9}}\n  b: {metrics: {abs_rel: 0.4}}\n")
    with pytest.raises(ConfigError, match=r"e.yaml:7: key 'cells.b': metric\(s\) delta1 missing from this row while "
                                          r"other rows of the table state them: give the value, or list them under not_reported$"):
        load_expected(p)
    p.write_text(head + "cells:\n  a: {metrics: {abs_rel: 0.5}, not_reported: [delta1]}\n"
                        "  b: {metrics: {delta1: 0.9}, table: T2}\n  c: {metrics: {abs_rel: 0.4}}\n")
    with pytest.raises(ConfigError, match=r"key 'cells.c': metric\(s\) delta1 missing .* rows of the table state"):
        load_expected(p)  # a's not_reported column counts for its table; b is another table
    p.write_text(head + "cells:\n  a: {metrics: {abs_rel: 0.5, delta1: 0.9}, table: T2}\n  b: {metrics: {abs_rel: 0.4}, table: T2}\n")
    with pytest.raises(ConfigError, match=r"rows of T2 state them"):
        load_expected(p)
    p.write_text(head + "cells:\n  a: {metrics: {abs_rel: 0.5, delta1: 0.9}}\n  b: {metrics: {abs_rel: 0.4}, not_reported: [delta1]}\n"
                        "  c: {bounds: {abs_rel: [0, 1]}}\n")
    assert set(load_expected(p).cells) == {"a", "b", "c"}  # a '-' and a bounds-only row are fine


_HEAD = "source: s\ndirections: {abs_rel: lower, delta1: higher, rmse_log: lower}\ntolerance: {abs_rel: 0.1}\nrationale: r\n"


@pytest.mark.parametrize(("body", "message"), [
    ("evaluator: bogus\ncells:\n  a: {metrics: {abs_rel: 0.5}}\n",
     "e.yaml:5: key 'evaluator': unknown evaluator 'bogus'"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5, delta1: 0.9}}\n", "e.yaml:6: key 'cells.a': metric 'delta1' has no tolerance"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5}, evaluator: nope}\n", "e.yaml:6: key 'cells.a.evaluator': unknown evaluator 'nope'"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5}, forms: {rmse_log: ln2}}\n",
     "e.yaml:6: key 'cells.a.forms': forms: only rmse_log, one of ln, log10, released"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5}, forms: {abs_rel: ln}}\n",
     "e.yaml:6: key 'cells.a.forms': forms: only rmse_log, one of ln, log10, released"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5}, bounds: {delta1: [1.0, 0.0]}}\n",
     "e.yaml:6: key 'cells.a.bounds': bounds of 'delta1' are reversed: [1.0, 0.0]"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5}}\n  b: {metrics: {abs_rel: 0.4}}\nclaims:\n  - {cell: a, better_than: b, metric: zz}\n",
     "e.yaml:9: key 'claims[0]': claim metric 'zz' has no direction"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5}}\n  b: {metrics: {abs_rel: 0.4}}\nclaims:\n"
     "  - {cell: a, better_than: b, metric: abs_rel, design: {margin_of: [a, zz]}}\n",
     "e.yaml:9: key 'claims[0].design': claim design names unknown cell 'zz'"),
    ("cells:\n  a: {metrics: {abs_rel: 0.5}}\n  b: {metrics: {abs_rel: 0.4}, not_reported: [delta1]}\n",
     "e.yaml:6: key 'cells.a': metric(s) delta1 missing from this row"),
])
def test_expected_file_errors_name_file_line_key_and_problem(tmp_path, body, message):
    import re

    from repro.config import ConfigError
    from repro.suite.expected import load_expected

    p = tmp_path / "e.yaml"
    p.write_text(_HEAD + body)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_expected(p)
    assert str(err.value).startswith(f"{p}:")


def test_expected_file_accepts_row_tolerances_equal_bounds_and_records_its_path(tmp_path):
    from repro.suite.expected import load_expected

    p = tmp_path / "e.yaml"
    p.write_text(_HEAD + "cells:\n  a: {metrics: {abs_rel: 0.5, delta1: 0.9}, tolerance: {delta1: 0.01},"
                         " bounds: {rmse_log: [0.5, 0.5]}}\nclaims:\n"
                         "  - {cell: a, better_than: a, metric: abs_rel, design: {margin_of: [a, a]}}\n")
    exp = load_expected(p)
    assert exp.path == str(p) and exp.tolerance_for("a", "delta1") == 0.01


def test_stats_helpers_at_their_edges():
    import math

    import numpy as np
    from scipy import stats as sps

    from repro.suite.stats import N_RESAMPLES, POWER, _bootstrap_ci, holm, mde, paired_images

    assert mde(1.0, 4, 0.05, sided=2) == pytest.approx((sps.norm.ppf(0.975) + sps.norm.ppf(POWER)) / 2)
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    values = np.array([0.1, 0.4, 0.2, 0.9])
    want = sps.bootstrap((values,), np.mean, n_resamples=N_RESAMPLES, confidence_level=0.95, method="percentile",
                         rng=np.random.default_rng(0)).confidence_interval
    assert _bootstrap_ci(values) == pytest.approx((want.low, want.high))  # seeded: reproducible
    assert _bootstrap_ci(np.array([1.0, 2.0])) != (1.5, 1.5)  # two values are resampled
    assert _bootstrap_ci(np.array([0.3, 0.3, 0.3])) == (0.3, 0.3) and _bootstrap_ci(np.array([0.5])) == (0.5, 0.5)
    assert _bootstrap_ci(np.array([])) is None
    two = paired_images([0.1, 0.2], 0.05)
    assert two.n == 2 and two.sd == pytest.approx(0.0707107, abs=1e-6) and two.p is not None  # two images: tested
    assert two.p == pytest.approx(sps.wilcoxon([0.1, 0.2], alternative="greater").pvalue)
    empty = paired_images([], 0.05)
    assert empty.n == 0 and math.isnan(empty.mean) and empty.sd is None and empty.p is None
