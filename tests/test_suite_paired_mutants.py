"""Per-image paired comparison of two evaluations (repro.suite.paired): cases from mutants (issue 25)."""

from __future__ import annotations

import math

import pytest

from repro.suite.paired import PairedResult, compare, read_per_image


def test_read_per_image_keeps_scored_finite_rows(tmp_path):
    path = tmp_path / "per_image.csv"
    path.write_text(
        "image,valid_pixels,abs_rel\n"
        "a.png,10,0.1\n"
        "b.png,0,0.2\n"  # no valid pixel
        "c.png,5.0,nan\n"  # not finite
        "d.png,3,\n"  # empty
        "e.png,1,0.0\n"
        "f.png,,0.3\n"  # no pixel count: not scored
    )
    assert read_per_image(path, "abs_rel") == {"a.png": 0.1, "e.png": 0.0}
    assert read_per_image(path, "delta1") == {}


def test_compare_pairs_by_name_in_the_claimed_direction():
    a = {f"i{k}": 0.10 + 0.001 * k for k in range(12)}
    b = {f"i{k}": 0.12 + 0.001 * k + 0.0005 * (k % 3) for k in range(12)} | {"only_b": 9.0}
    r = compare(a, b, lower_is_better=True)
    assert r.n == 12 and r.mean_a == pytest.approx(0.1055) and r.mean_b == pytest.approx(0.126)
    assert r.improvement == pytest.approx(0.0205) and r.ci[0] > 0 and r.p < 0.001 and r.holds()
    flipped = compare(a, b, lower_is_better=False)
    assert flipped.improvement == pytest.approx(-0.0205) and flipped.p > 0.99 and not flipped.holds()
    assert not r.holds(alpha=r.p)  # p < alpha is strict
    with pytest.raises(ValueError, match="same test images"):
        compare({"x": 1.0}, {"y": 1.0}, lower_is_better=True)


def test_compare_without_spread_or_pairs_is_not_a_pass():
    same = compare({"x": 0.1, "y": 0.2}, {"x": 0.1, "y": 0.2}, lower_is_better=True)
    assert same.p is None and same.improvement == 0.0 and not same.holds()
    one = compare({"x": 0.1}, {"x": 0.2}, lower_is_better=True)
    assert one.n == 1 and one.ci == (pytest.approx(0.1), pytest.approx(0.1)) and one.p is None
    assert not PairedResult(5, 0.1, 0.2, -0.01, (math.nan, math.nan), 0.001).holds()


def test_holds_needs_a_strict_gain_and_p_below_5_percent_by_default():
    assert PairedResult(5, 0.1, 0.2, 0.01, (0.0, 0.02), 0.04).holds()
    assert not PairedResult(5, 0.1, 0.2, 0.01, (0.0, 0.02), 0.06).holds()
    assert not PairedResult(5, 0.1, 0.1, 0.0, (0.0, 0.0), 0.001).holds()  # no gain
    assert not PairedResult(5, 0.1, 0.2, 0.01, (0.0, 0.02), None).holds()


def test_read_per_image_reads_back_a_name_with_a_line_break(tmp_path):
    import torch

    from repro.evaluation.metrics import MetricAccumulator

    acc = MetricAccumulator("median")
    name = "odd\r\nname.png"
    acc.update(torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0), names=[name])
    assert read_per_image(acc.write_csv(tmp_path / "per_image.csv"), "abs_rel") == {name: 0.0}
