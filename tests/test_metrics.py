import math

import pytest
import torch

from repro.metrics import PROTOCOLS, MetricAccumulator, compute_metrics, released_zero_shot_crop

GT = torch.tensor([[1.0, 2.0], [4.0, 8.0]])


def test_every_metric_by_hand_without_alignment():
    pred = torch.tensor([[1.0, 2 / 1.8], [4.0, 6.0]])  # ratios 1, 1.8, 1, 4/3
    m = compute_metrics(pred, GT, protocol="none", pred_is_disparity=False)
    err = [0.0, 2 / 1.8 - 2, 0.0, -2.0]
    gt = [1.0, 2.0, 4.0, 8.0]
    assert m["abs_rel"] == pytest.approx(sum(abs(e) / g for e, g in zip(err, gt)) / 4)
    assert m["sq_rel"] == pytest.approx(sum(e * e / g for e, g in zip(err, gt)) / 4)
    assert m["mae"] == pytest.approx(sum(abs(e) for e in err) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in err) / 4))
    assert m["rmse_log"] == pytest.approx(math.sqrt((math.log(1.8) ** 2 + math.log(4 / 3) ** 2) / 4))
    assert m["log10"] == pytest.approx((math.log10(1.8) + math.log10(4 / 3)) / 4)
    assert (m["delta1"], m["delta2"], m["delta3"]) == (0.5, 0.75, 1.0)
    assert m["valid_pixels"] == 4


def test_released_rmse_log_variant():
    pred = torch.tensor([[1.0, 1.0], [4.0, 4.0]])
    m = compute_metrics(pred, GT, protocol="none", pred_is_disparity=False, rmse_log="released")
    expected = math.sqrt(((math.log10(3) - math.log10(2)) ** 2 + (math.log10(9) - math.log10(5)) ** 2) / 4)
    assert m["rmse_log"] == pytest.approx(expected)


def test_median_protocol_from_disparity():
    # depth [0.5, 1, 2, 4]: lower medians 1 (pred) and 2 (gt) -> scale 2 -> exact
    disp = torch.tensor([[2.0, 1.0], [0.5, 0.25]])
    m = compute_metrics(disp, GT, protocol="median")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-12) and m["delta1"] == 1.0
    # depth [1, 1, 1, 1] -> scaled to 2: errors [1, 0, 2, 6]
    m = compute_metrics(torch.ones(2, 2), GT, protocol="median")
    assert m["mae"] == pytest.approx(9 / 4)
    assert m["abs_rel"] == pytest.approx((1 + 0 + 0.5 + 0.75) / 4)


def test_lsq_disparity_protocol_undoes_any_affine_disparity():
    gt = torch.rand(16, 32) * 8 + 0.5
    pred = 3.7 * (1 / gt) - 0.05
    m = compute_metrics(pred, gt, protocol="lsq_disparity_median")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-6) and m["delta1"] == 1.0


def test_lsq_protocol_clamps_to_released_range():
    # gt 0.05 m is valid (> 0) but both sides are clamped to [0.1, 10]: a prediction of 0.1 is exact
    gt = torch.tensor([[0.05, 1.0], [2.0, 4.0]])
    pred_disp = torch.tensor([[10.0, 1.0], [0.5, 0.25]])  # depth [0.1, 1, 2, 4]
    assert compute_metrics(pred_disp, gt, protocol="lsq_disparity_median")["abs_rel"] > 0  # lsq sees 1/0.05
    exact = compute_metrics(1 / gt.clamp_min(0.1), gt.clamp_min(0.1), protocol="lsq_disparity_median")
    assert exact["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    clamped = compute_metrics(torch.tensor([[10.0, 1.0], [0.5, 0.25]]), gt, protocol="none")
    assert clamped["abs_rel"] == pytest.approx(0.25, rel=1e-6)  # unclamped: 0.1 vs 0.05 is a 100 % error on 1 of 4


def test_invalid_ground_truth_is_ignored():
    gt = torch.tensor([[0.0, 2.0], [12.0, float("nan")]])
    pred = torch.tensor([[5.0, 2.0], [1.0, 1.0]])
    m = compute_metrics(pred, gt, protocol="none", pred_is_disparity=False)
    assert m["valid_pixels"] == 1 and m["abs_rel"] == 0.0
    empty = compute_metrics(pred, torch.zeros(2, 2), protocol="none")
    assert empty["valid_pixels"] == 0 and math.isnan(empty["abs_rel"])


def test_crop_rows_drops_top_and_bottom():
    gt = torch.ones(6, 4)
    pred = torch.ones(6, 4)
    pred[0], pred[-1] = 3.0, 3.0
    assert compute_metrics(pred, gt, protocol="none", pred_is_disparity=False)["abs_rel"] > 0
    assert compute_metrics(pred, gt, protocol="none", pred_is_disparity=False, crop_rows=1)["abs_rel"] == 0
    assert released_zero_shot_crop(512) == 68 and released_zero_shot_crop(256) == 34
    with pytest.raises(ValueError, match="crop_rows"):
        compute_metrics(pred, gt, crop_rows=3)


def test_accumulator_is_batch_size_independent_and_per_image():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(6, 1, 8, 8, generator=g) * 9 + 0.5
    pred = torch.rand(6, 1, 8, 8, generator=g) + 0.1
    gt[0, :, :6] = 0  # image 0 has few valid pixels: per-image mean weighs it like the others
    results = []
    for bs in (1, 2, 6):
        acc = MetricAccumulator("median")
        for i in range(0, 6, bs):
            acc.update(pred[i : i + bs], gt[i : i + bs])
        results.append(acc.result())
    assert results[0] == results[1] == results[2]
    per_image = [compute_metrics(pred[i], gt[i])["abs_rel"] for i in range(6)]
    assert results[0]["abs_rel"] == pytest.approx(sum(per_image) / 6)
    assert results[0]["images"] == 6 and len(acc.rows) == 6


def test_protocols_are_documented():
    assert set(PROTOCOLS) == {"median", "lsq_disparity_median", "none"}
    assert all(p.source for p in PROTOCOLS.values())
    with pytest.raises(ValueError, match="unknown protocol"):
        compute_metrics(torch.ones(2, 2), GT, protocol="mean")
