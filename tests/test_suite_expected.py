"""Expected numbers: transcription checks against the paper, and the acceptance rules."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest
from scipy import stats

from repro.config import ConfigError, load_yaml
from repro.suite.expected import Acceptance, ExpectedFile, judge_claims, judge_metric, load_expected

ROOT = Path(__file__).resolve().parents[1]
PAPER = Path(os.environ.get("REPRO_PAPER_TEXT", "/work/shared/paper/depth_anywhere.txt"))
TABLE5_COLUMNS = ["mae", "abs_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3"]
COLUMNS = ["abs_rel", "delta1", "delta2", "delta3"]
PAPER_FILES = sorted(p for p in (ROOT / "expected").glob("table*.yaml"))


def _row_numbers(row: str) -> list[str]:
    return [t for t in row.split() if re.fullmatch(r"-|\d\.\d+", t)]


@pytest.mark.parametrize("path", PAPER_FILES, ids=lambda p: p.stem)
def test_each_row_transcribes_its_numbers(path):
    """Each cell's `row` is the paper's row verbatim; its metrics are exactly the row's numbers."""
    exp = load_expected(path)
    assert exp.cells
    for name, cell in exp.cells.items():
        nums = _row_numbers(cell.row)
        columns = TABLE5_COLUMNS if len(nums) == 7 else COLUMNS
        assert len(nums) == len(columns), (name, cell.row)
        reported = {c: float(n) for c, n in zip(columns, nums, strict=True) if n != "-"}
        assert cell.metrics == reported, name
        assert sorted(cell.not_reported) == sorted(c for c, n in zip(columns, nums, strict=True) if n == "-"), name


@pytest.mark.skipif(not PAPER.is_file(), reason="paper text not available (set REPRO_PAPER_TEXT)")
@pytest.mark.parametrize("path", PAPER_FILES, ids=lambda p: p.stem)
def test_rows_appear_verbatim_in_the_paper(path):
    text = re.sub(r"\s+", " ", PAPER.read_text())
    for name, cell in load_expected(path).cells.items():
        assert re.sub(r"\s+", " ", cell.row) in text, name


def test_spot_values_from_the_paper():
    t3 = load_expected(ROOT / "expected" / "table3_zero_shot.yaml")
    assert t3.cells["bifusepp_m_all_st"].metrics == {
        "abs_rel": 0.082,
        "delta1": 0.931,
        "delta2": 0.979,
        "delta3": 0.991,
    }
    assert t3.cells["depth_anything"].metrics["delta3"] == 0.97  # printed with two decimals
    t5 = load_expected(ROOT / "expected" / "table5_metric_ft.yaml")
    assert t5.cells["unifuse_metric_ft"].metrics["rmse_log"] == 0.049
    assert t5.tolerance_for("unifuse_metric_ft", "rmse") == 0.025
    t4 = load_expected(ROOT / "expected" / "table4_structured3d.yaml")
    assert (
        t4.tolerance_for("unifuse_m_all", "abs_rel") == 0.010 and t4.tolerance_for("unifuse_m_all", "delta2") == 0.005
    )


def judge(values, paper=0.1, tol=0.005, direction="lower", mode="two_sided", method="band", **kw):
    return judge_metric(
        "abs_rel",
        values,
        paper=paper,
        tolerance=tol,
        direction=direction,
        mode=mode,
        acceptance=Acceptance(method),
        **kw,
    )


def test_band_two_sided_and_no_worse():
    assert judge([0.104]).status == "pass"
    assert judge([0.106]).status == "fail"
    assert judge([0.094]).status == "fail"  # much better is suspicious too
    assert judge([0.094], mode="no_worse").status == "pass"
    assert judge([0.106], mode="no_worse").status == "fail"
    higher = judge([0.85], paper=0.9, tol=0.01, direction="higher", mode="no_worse")
    assert higher.status == "fail" and higher.delta == pytest.approx(-0.05)


def test_broken_numbers_always_fail():
    assert judge([math.nan]).status == "fail"
    assert judge([-0.1]).status == "fail"
    assert judge([]).status == "missing" and judge([]).failed


def test_not_compared_at_other_scales_but_bounds_always_checked():
    assert judge([0.5], compare=False).status == "not_compared"
    assert judge([0.5], bounds=(0.0, 1.0), compare=False).status == "pass"
    assert judge([1.5], bounds=(0.0, 1.0), compare=False).status == "fail"


def test_t_test_matches_scipy():
    values = [0.101, 0.103, 0.099, 0.104]
    v = judge(values, method="t_test")
    p = stats.ttest_1samp(values, 0.1).pvalue
    assert f"p={p:.3g}" in v.test and v.status == ("pass" if p >= 0.05 else "fail")
    far = judge([0.120, 0.121, 0.119], method="t_test")
    assert far.status == "fail"


def test_tost_equivalence():
    assert judge([0.1005, 0.0995, 0.1002, 0.0998], method="tost").status == "pass"
    # mean inside the band but too noisy to show equivalence with 3 seeds
    assert judge([0.095, 0.106, 0.100], method="tost").status == "fail"
    assert judge([0.109, 0.110, 0.111], method="tost").status == "fail"
    one = judge([0.101], method="tost")  # one seed: falls back to the band, and says so
    assert one.status == "pass" and "needs ≥ 2 seeds" in one.test


def test_claims_direction():
    exp = ExpectedFile(source="s", directions={"abs_rel": "lower", "delta1": "higher"}, tolerance={}, rationale="r")
    from repro.suite.expected import Claim

    exp.claims = [Claim("b", "a", "abs_rel", test="mean"), Claim("b", "a", "delta1", test="mean"), Claim("c", "a", "abs_rel")]
    out = judge_claims(exp, {"a": {"abs_rel": 0.1, "delta1": 0.9}, "b": {"abs_rel": 0.09, "delta1": 0.89}})
    assert [c.status for c in out] == ["pass", "fail", "not_evaluated"]


def test_expected_file_errors_name_the_line(tmp_path):
    p = tmp_path / "e.yaml"
    p.write_text(
        "source: s\ndirections: {abs_rel: lower}\ntolerance: {abs_rel: 0.1}\nrationale: r\n"
        "cells:\n  a: {metrics: {delta9: 0.5}}\n"
    )
    with pytest.raises(ConfigError, match=r"e.yaml:6: key 'cells.a': metric 'delta9' has no direction"):
        load_expected(p)
    p.write_text(
        "source: s\ndirections: {abs_rel: lower}\ntolerance: {abs_rel: 0.1}\nrationale: r\n"
        "cells:\n  a: {metrics: {abs_rel: 0.5}}\nclaims:\n  - {cell: a, better_than: zz, metric: abs_rel}\n"
    )
    with pytest.raises(ConfigError, match=r"e.yaml:8: key 'claims\[0\]': claim names unknown cell 'zz'"):
        load_expected(p)
    assert load_yaml(p)["claims"][0]["better_than"] == "zz"


def test_directions_agree_with_the_metrics():
    exp = load_expected(ROOT / "expected" / "table3_zero_shot.yaml")
    assert exp.directions, "the expected file names no metric directions"
    for metric, direction in exp.directions.items():
        # only the δ accuracies are higher-is-better; every error metric is lower-is-better
        assert metric.startswith("delta") == (direction == "higher"), metric


def _claims_file(*claims):
    from repro.suite.expected import Claim

    exp = ExpectedFile(source="s", directions={"abs_rel": "lower", "delta1": "higher"}, tolerance={}, rationale="r")
    exp.claims = [Claim(**c) for c in claims]
    return exp


def test_paired_t_claim_reports_effect_spread_and_p():
    exp = _claims_file(
        {"cell": "b", "better_than": "a", "metric": "abs_rel", "test": "paired_t"},
        {"cell": "c", "better_than": "a", "metric": "abs_rel", "test": "paired_t"},
    )
    a = {"0": 0.30, "1": 0.20, "2": 0.25}  # large seed-to-seed spread ...
    b = {"0": 0.29, "1": 0.19, "2": 0.235}  # ... but b is better on every seed: the paired test sees it
    c = {"0": 0.29, "1": 0.21, "2": 0.24}  # better on average, worse on one seed
    good, noisy = judge_claims(exp, {"a": {"abs_rel": a}, "b": {"abs_rel": b}, "c": {"abs_rel": c}})
    assert good.status == "pass" and good.effect == pytest.approx(0.0117, abs=1e-4)
    assert good.spread == pytest.approx(0.0029, abs=1e-4) and "paired t-test over seeds, n=3" in good.test
    assert good.values["a"][2] == 3
    assert noisy.status == "fail" and "p=" in noisy.test


def test_within_claims_band_and_tost():
    cells = ["r1", "r2", "r4"]
    m = {"r1": {"0": 0.20, "1": 0.21}, "r2": {"0": 0.205, "1": 0.212}, "r4": {"0": 0.203, "1": 0.214}}
    measured = {n: {"abs_rel": v} for n, v in m.items()}
    band, tight = judge_claims(
        _claims_file(
            {"cells": cells, "within": 0.01, "metric": "abs_rel", "test": "band"},
            {"cells": cells, "within": 0.002, "metric": "abs_rel", "test": "band"},
        ),
        measured,
    )
    assert band.status == "pass" and band.effect == pytest.approx(0.0035)
    assert tight.status == "fail" and "0.0035 > 0.002" in tight.test
    (tost,) = judge_claims(_claims_file({"cells": cells, "within": 0.02, "metric": "abs_rel", "test": "tost"}), measured)
    assert tost.status == "pass" and "TOST on every pair" in tost.test
    (loose,) = judge_claims(_claims_file({"cells": cells, "within": 0.006, "metric": "abs_rel", "test": "tost"}), measured)
    assert loose.status == "fail"  # means within the band, but two seeds cannot show it


def test_claim_scales_and_validation():
    exp = _claims_file(
        {"cell": "b", "better_than": "a", "metric": "abs_rel", "scales": ["ci"], "test": "mean"},
        {"cell": "b", "better_than": "a", "metric": "abs_rel", "test": "mean"},
    )
    measured = {"a": {"abs_rel": 0.2}, "b": {"abs_rel": 0.1}}
    at_ci = judge_claims(exp, measured, compare=False, scale="ci")
    assert [c.status for c in at_ci] == ["pass", "not_evaluated"]
    # a claim not judged at this scale still shows its statistics, without a verdict
    assert at_ci[1].effect == pytest.approx(0.1) and "not judged at scale 'ci'" in at_ci[1].test
    assert "means 0.1000 < 0.2000" in at_ci[1].test
    paired = _claims_file({"cell": "b", "better_than": "a", "metric": "abs_rel", "test": "paired_t"})
    seeds = {"a": {"abs_rel": {"0": 0.2, "1": 0.22}}, "b": {"abs_rel": {"0": 0.1, "1": 0.11}}}
    (pilot,) = judge_claims(paired, seeds, compare=False, scale="pilot")
    assert pilot.status == "not_evaluated" and pilot.seeds and pilot.seeds[0].p is not None
    from repro.suite.expected import Claim

    with pytest.raises(ValueError, match="either cell"):
        Claim(cell="a", better_than="b", cells=["a", "b"], metric="abs_rel")
    with pytest.raises(ValueError, match="within claim needs"):
        Claim(cells=["a", "b"], metric="abs_rel")
    with pytest.raises(ValueError, match="tested by paired, mean or paired_t"):
        Claim(cell="a", better_than="b", metric="abs_rel", test="tost")


def test_within_band_relative_to_a_gain():
    measured = {
        "gt": {"abs_rel": {"0": 0.30, "1": 0.32}},
        "r1": {"abs_rel": {"0": 0.20, "1": 0.22}},
        "r2": {"abs_rel": {"0": 0.24, "1": 0.25}},
    }
    claim = {"cells": ["r1", "r2"], "within": 0.5, "relative_to": ["gt", "r1"], "metric": "abs_rel", "test": "band"}
    (ok,) = judge_claims(_claims_file(claim), measured)  # band 0.5 × 0.10 = 0.05 ≥ |0.245 − 0.21|
    assert ok.status == "pass" and "margin = 0.5 × |Δ| of gt vs r1" in ok.test
    (tight,) = judge_claims(_claims_file({**claim, "within": 0.2}), measured)  # band 0.02 < 0.035
    assert tight.status == "fail"
    assert set(ok.values) == {"gt", "r1", "r2"}
