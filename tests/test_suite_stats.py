"""Paired statistics, Holm, power, and the verdict plumbing that uses them."""

from __future__ import annotations

import numpy as np
import pytest

from repro.suite.expected import CellExpectation, Claim, ExpectedFile, judge_cell, judge_claims
from repro.suite.stats import holm, mde, paired_image_diffs, paired_images, paired_seeds, tost


def test_holm_matches_the_step_down_definition():
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None], nan_ok=True)
    assert holm([0.5]) == [0.5]
    assert holm([0.02, 0.9]) == pytest.approx([0.04, 0.9])  # the running maximum caps nothing here


def test_mde_scales_with_spread_and_sample_size():
    assert mde(None, 10, 0.05) is None and mde(0.1, 1, 0.05) is None
    one = mde(0.01, 100, 0.05)
    assert one == pytest.approx((1.6449 + 0.8416) * 0.01 / 10, rel=1e-3)
    assert mde(0.01, 400, 0.05) == pytest.approx(one / 2)
    assert mde(0.01, 3, 0.05, df=2) > mde(0.01, 3, 0.05)  # few seeds: Student-t quantiles


def test_paired_images_sees_a_consistent_small_gain():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.05, 0.3, size=60)
    diffs = list(0.004 + rng.normal(0, 0.002, size=60))  # 0.004 gain, far below the images' own spread
    st = paired_images(diffs, 0.05)
    assert st.p < 1e-6 and st.ci[0] > 0 and st.mde < 0.004 and st.n == 60
    assert paired_images([0.0] * 5, 0.05).p is None  # nothing to rank: untestable, never "significant"
    noise = paired_images(list(rng.normal(0, 0.01, size=60)), 0.05)
    assert noise.p > 0.05 and noise.ci[0] < 0 < noise.ci[1]
    assert len(base) == 60


def test_paired_image_diffs_pair_by_seed_and_image():
    a = {"0": {"x": 0.10, "y": 0.20}, "1": {"x": 0.12, "y": 0.22}}
    b = {"0": {"x": 0.11, "y": 0.25, "z": 0.3}, "1": {"x": 0.14, "y": 0.24}, "2": {"x": 9.0}}
    assert paired_image_diffs(a, b) == pytest.approx([0.015, 0.035])  # x, y; seed 2 and image z unpaired
    assert paired_image_diffs(a, b, sign=-1) == pytest.approx([-0.015, -0.035])


def test_seed_test_and_tost():
    st = paired_seeds([0.01, 0.012, 0.011], 0.05)
    assert st.p < 0.01 and st.mde is not None
    assert paired_seeds([0.01], 0.05).p is None
    eq = tost(list(np.random.default_rng(1).normal(0, 0.001, 50)), 0.002, 0.05, "images")
    assert eq.p < 0.05 and eq.margin == 0.002
    assert tost([0.003, 0.004, 0.0035, 0.0032], 0.002, 0.05, "seeds").p > 0.05  # outside the margin


def _exp(**claims) -> ExpectedFile:
    exp = ExpectedFile(
        source="s", directions={"abs_rel": "lower"}, tolerance={"abs_rel": 0.005}, rationale="r", evaluator="released"
    )
    exp.cells = {
        "base": CellExpectation(metrics={"abs_rel": 0.090}),
        "plus": CellExpectation(metrics={"abs_rel": 0.086}),
        "other": CellExpectation(metrics={"abs_rel": 0.089}),
    }
    exp.claims = [Claim(**c) for c in claims.values()]
    return exp


def _images(mean: float, shift: float, n: int = 40, seed: int = 0) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    vals = mean + rng.normal(0, 0.03, n)
    return {"0": {f"i{k}": float(v + shift) for k, v in enumerate(vals)}}


def test_paired_claims_use_images_holm_and_warn_about_power():
    exp = _exp(
        a={"cell": "plus", "better_than": "base", "metric": "abs_rel"},
        b={"cell": "other", "better_than": "base", "metric": "abs_rel"},
    )
    images = {
        "base": {"abs_rel": _images(0.09, 0.0)},
        "plus": {"abs_rel": _images(0.09, -0.004)},  # the same images, 0.004 better on each
        "other": {"abs_rel": _images(0.09, 0.0)},  # no gain at all
    }
    means = {n: {"abs_rel": {"0": float(np.mean(list(v["abs_rel"]["0"].values())))}} for n, v in images.items()}
    real, none = judge_claims(exp, means, images=images)
    assert real.status == "pass" and real.images[0].p_holm is not None and real.images[0].mean == pytest.approx(0.004)
    assert "1 seed" in real.power and real.paper_effect == pytest.approx(0.004)
    assert none.status == "fail"
    (no_data,) = judge_claims(_exp(a={"cell": "plus", "better_than": "base", "metric": "abs_rel"}), means)
    assert no_data.status == "not_evaluated" and "no paired data" in no_data.test  # never a bare comparison of means


def test_within_claims_are_tost_on_images():
    exp = _exp(w={"cells": ["plus", "other"], "within": 0.002, "metric": "abs_rel"})
    same = {"plus": {"abs_rel": _images(0.09, 0.0)}, "other": {"abs_rel": _images(0.09, 0.0005)}}
    far = {"plus": {"abs_rel": _images(0.09, 0.0)}, "other": {"abs_rel": _images(0.09, 0.01)}}
    for images, status in ((same, "pass"), (far, "fail")):
        means = {n: {"abs_rel": {"0": float(np.mean(list(v["abs_rel"]["0"].values())))}} for n, v in images.items()}
        (v,) = judge_claims(exp, means, images=images)
        assert v.status == status and v.images and v.images[0].test == "tost" and v.margin == 0.002


def test_rmse_log_of_another_form_is_not_compared():
    exp = ExpectedFile(source="s", directions={"rmse_log": "lower"}, tolerance={"rmse_log": 0.01}, rationale="r")
    exp.cells = {"c": CellExpectation(metrics={"rmse_log": 0.072}, forms={"rmse_log": "log10"})}
    (v,) = judge_cell(exp, "c", {"rmse_log": [0.072]}, forms={"rmse_log": "ln"})
    assert v.status == "not_compared" and "log10 form" in v.test
    (ok,) = judge_cell(exp, "c", {"rmse_log": [0.072]}, forms={"rmse_log": "log10"})
    assert ok.status == "pass"


def test_validate_warns_when_a_band_is_wider_than_the_papers_gap():
    from repro.suite.power import tolerance_warnings

    exp = _exp(a={"cell": "plus", "better_than": "base", "metric": "abs_rel"})
    (warning,) = tolerance_warnings(exp)
    assert "plus.abs_rel" in warning and "0.004" in warning
    exp.cells["plus"].tolerance = {"abs_rel": 0.002}
    assert tolerance_warnings(exp) == []


def test_suite_verdict_evaluator_overrides_the_expected_file(tmp_path):
    from pathlib import Path

    from repro.config import ConfigError
    from repro.suite.expected import load_expected, override_evaluator
    from repro.suite.schema import load_suite

    root = Path(__file__).resolve().parents[1]
    exp = load_expected(root / "expected" / "table5_metric_ft.yaml")
    assert exp.evaluator == "released" and exp.evaluator_for("unifuse_sf_metric") == "paper"
    over = override_evaluator(exp, "paper", "suite x")
    assert over.evaluator_for("unifuse_metric_ft") == "paper" and "suite x" in over.evaluator_why
    (tmp_path / "s.yaml").write_text("suite: s\nverdict_evaluator: eq9\ncells: {a: {kind: cited}}\n")
    with pytest.raises(ConfigError, match="verdict_evaluator"):
        load_suite(tmp_path / "s.yaml")
