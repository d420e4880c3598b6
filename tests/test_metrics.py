import csv
import math

import pytest
import torch

from repro.evaluation.metrics import (
    METRIC_KEYS,
    PROTOCOLS,
    RELEASED_ZERO_SHOT_CROP,
    RMSE_LOG_VARIANTS,
    MetricAccumulator,
    compute_metrics,
    describe,
    scaled_crop_rows,
)

GT = torch.tensor([[1.0, 2.0], [4.0, 8.0]], dtype=torch.float64)


def expected(pred: list[float], gt: list[float], rmse_log: str = "ln") -> dict[str, float]:
    """Plain-Python metrics of already aligned depths (an independent reference)."""
    n = len(gt)
    e = [p - g for p, g in zip(pred, gt)]
    log_err = {
        "ln": [math.log(p) - math.log(g) for p, g in zip(pred, gt)],
        "released": [math.log10(g + 1) - math.log10(p + 1) for p, g in zip(pred, gt)],
        "log10": [math.log10(g) - math.log10(p) for p, g in zip(pred, gt)],
    }[rmse_log]
    ratio = [max(p / g, g / p) for p, g in zip(pred, gt)]
    return {
        "abs_rel": sum(abs(x) / g for x, g in zip(e, gt)) / n,
        "sq_rel": sum(x * x / g for x, g in zip(e, gt)) / n,
        "mae": sum(abs(x) for x in e) / n,
        "rmse": math.sqrt(sum(x * x for x in e) / n),
        "rmse_log": math.sqrt(sum(x * x for x in log_err) / n),
        "log10": sum(abs(math.log10(p / g)) for p, g in zip(pred, gt)) / n,
        **{f"delta{k}": sum(r < 1.25**k for r in ratio) / n for k in (1, 2, 3)},
    }


def assert_metrics(got: dict[str, float], want: dict[str, float]) -> None:
    for k in METRIC_KEYS:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), k


def image(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).reshape(1, -1)


def test_every_metric_by_hand_without_alignment():
    pred = torch.tensor([[1.0, 2 / 1.8], [4.0, 6.0]], dtype=torch.float64)  # ratios 1, 1.8, 1, 4/3
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
    assert_metrics(m, expected([1.0, 2 / 1.8, 4.0, 6.0], gt))


def test_rmse_log_variants():
    pred = torch.tensor([[1.0, 1.0], [4.0, 4.0]])
    kw = {"protocol": "none", "pred_is_disparity": False}
    # released: log10(gt + 1) - log10(pred + 1) -> errors log10(3/2), 0, log10(9/5) at pixels 2 and 4
    released = math.sqrt((math.log10(3 / 2) ** 2 + math.log10(9 / 5) ** 2) / 4)
    assert compute_metrics(pred, GT, rmse_log="released", **kw)["rmse_log"] == pytest.approx(released)
    assert compute_metrics(pred, GT, rmse_log="ln", **kw)["rmse_log"] == pytest.approx(math.log(2) / math.sqrt(2))
    assert compute_metrics(pred, GT, rmse_log="log10", **kw)["rmse_log"] == pytest.approx(math.log10(2) / math.sqrt(2))
    with pytest.raises(ValueError, match="rmse_log"):
        compute_metrics(pred, GT, rmse_log="log2", **kw)


def test_median_protocol_from_disparity():
    # depth [0.5, 1, 2, 4]: lower medians 1 (pred) and 2 (gt) -> scale 2 -> exact
    disp = torch.tensor([[2.0, 1.0], [0.5, 0.25]])
    m = compute_metrics(disp, GT, protocol="median")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-12) and m["delta1"] == 1.0
    # depth [1, 1, 1, 1] -> scaled to 2: errors [1, 0, 2, 6]
    m = compute_metrics(torch.ones(2, 2), GT, protocol="median")
    assert m["mae"] == pytest.approx(9 / 4)
    assert m["abs_rel"] == pytest.approx((1 + 0 + 0.5 + 0.75) / 4)
    assert_metrics(m, expected([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 4.0, 8.0]))


def test_median_protocol_uses_lower_medians():
    # pred depth [1, 2, 3, 4]: lower median 2 (the mean of the middle two would be 2.5); gt's is 2
    m = compute_metrics(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), GT, protocol="median", pred_is_disparity=False)
    assert m["abs_rel"] == pytest.approx((0 + 0 + 0.25 + 0.5) / 4)


def test_median_protocol_non_positive_disparity_is_a_gross_error():
    # disparity 0 -> depth 1e6 m; depths [0.5, 1, 1e6, 4], lower median 1, gt's 2 -> x2
    disp = torch.tensor([[2.0, 1.0], [0.0, 0.25]])
    m = compute_metrics(disp, GT, protocol="median")
    assert_metrics(m, expected([1.0, 2.0, 2e6, 8.0], [1.0, 2.0, 4.0, 8.0]))
    # with the released clamp the same pixel costs at most max_depth
    clamped = compute_metrics(disp, GT, protocol="median", clamp=True)
    assert_metrics(clamped, expected([1.0, 2.0, 10.0, 8.0], [1.0, 2.0, 4.0, 8.0]))


def test_lsq_disparity_protocol_by_hand():
    # disparity x = [0, 1, 2, 3] vs 1/gt = [1, 2, 2, 4]: slope Sxy/Sxx = 4.5/5 = 0.9, shift 2.25 - 1.35 = 0.9
    # fitted disparity [0.9, 1.8, 2.7, 3.6] -> depth [1/0.9, 1/1.8, 1/2.7, 1/3.6]; lower medians
    # 1/2.7 (pred) and 0.5 (gt) -> x1.35 -> [1.5, 0.75, 0.5, 0.375]; the clamps change nothing
    gt = image([1.0, 0.5, 0.5, 0.25])
    m = compute_metrics(image([0.0, 1.0, 2.0, 3.0]), gt, "lsq_disparity_median", rmse_log="released")
    assert m["abs_rel"] == pytest.approx(0.375)
    assert m["mae"] == pytest.approx(0.21875)
    assert_metrics(m, expected([1.5, 0.75, 0.5, 0.375], [1.0, 0.5, 0.5, 0.25], "released"))


def test_lsq_disparity_protocol_clip_and_clamp_by_hand():
    # x = [0, 2, 3, 5] vs 1/gt = [1/8, 1/8, 1/4, 4]: x̄ = 2.5, ȳ = 1.125, Sxx = 13, Sxy = 9.75
    # -> scale 0.75, shift -0.75, fitted [-0.75, 0.75, 1.5, 3] -> depth [-4/3, 4/3, 2/3, 1/3]
    # -> clip [0, 10]: [0, 4/3, 2/3, 1/3]; lower medians 1/3 and 4 -> x12 -> [0, 16, 8, 4]
    # -> clamp both to [0.1, 10]: pred [0.1, 10, 8, 4], gt [8, 8, 4, 0.25]
    gt = image([8.0, 8.0, 4.0, 0.25])
    pred = image([0.0, 2.0, 3.0, 5.0])
    m = compute_metrics(pred, gt, "lsq_disparity_median")
    assert m["abs_rel"] == pytest.approx((7.9 / 8 + 2 / 8 + 1 + 3.75 / 0.25) / 4)
    assert_metrics(m, expected([0.1, 10.0, 8.0, 4.0], [8.0, 8.0, 4.0, 0.25]))
    # without the clamp the depth-0 pixel is floored at 1e-6 m and 16 m stays 16 m
    unclamped = compute_metrics(pred, gt, "lsq_disparity_median", clamp=False)
    assert_metrics(unclamped, expected([1e-6, 16.0, 8.0, 4.0], [8.0, 8.0, 4.0, 0.25]))


def test_lsq_disparity_protocol_undoes_any_affine_disparity():
    g = torch.Generator().manual_seed(3)
    gt = torch.rand(16, 32, generator=g, dtype=torch.float64) * 8 + 0.5
    m = compute_metrics(3.7 * (1 / gt) - 0.05, gt, protocol="lsq_disparity_median")
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-9) and m["delta1"] == 1.0
    # a depth prediction is turned into disparity first
    m = compute_metrics(2.0 * gt, gt, protocol="lsq_disparity_median", pred_is_disparity=False)
    assert m["abs_rel"] == pytest.approx(0.0, abs=1e-9)


def test_lsq_protocol_constant_prediction_is_finite():
    # singular system -> scale = shift = 0 -> depth 0 everywhere -> alignment skipped -> clamp 0.1
    m = compute_metrics(torch.full((2, 2), 0.3), GT, protocol="lsq_disparity_median")
    assert_metrics(m, expected([0.1] * 4, [1.0, 2.0, 4.0, 8.0]))


def test_none_protocol_optional_clamp_by_hand():
    pred = torch.tensor([[0.05, 12.0], [2.0, 4.0]], dtype=torch.float64)
    m = compute_metrics(pred, GT, protocol="none", pred_is_disparity=False, clamp=True)
    assert_metrics(m, expected([0.1, 10.0, 2.0, 4.0], [1.0, 2.0, 4.0, 8.0]))
    m = compute_metrics(pred, GT, protocol="none", pred_is_disparity=False)
    assert_metrics(m, expected([0.05, 12.0, 2.0, 4.0], [1.0, 2.0, 4.0, 8.0]))
    # metric disparity is inverted without alignment
    m = compute_metrics(1 / pred, GT, protocol="none")
    assert_metrics(m, expected([0.05, 12.0, 2.0, 4.0], [1.0, 2.0, 4.0, 8.0]))


def test_invalid_ground_truth_is_ignored_and_nan_predictions_are_not():
    gt = torch.tensor([[0.0, 2.0], [12.0, float("nan")]])
    pred = torch.tensor([[5.0, 2.0], [1.0, 1.0]])
    m = compute_metrics(pred, gt, protocol="none", pred_is_disparity=False)
    assert m["valid_pixels"] == 1 and m["abs_rel"] == 0.0
    m = compute_metrics(pred, GT, protocol="none", pred_is_disparity=False, mask=torch.tensor([[0, 1], [0, 0]]).bool())
    assert m["valid_pixels"] == 1 and m["abs_rel"] == 0.0
    empty = compute_metrics(pred, torch.zeros(2, 2), protocol="none")
    assert empty["valid_pixels"] == 0 and all(math.isnan(empty[k]) for k in METRIC_KEYS)
    nan_pred = torch.tensor([[1.0, float("nan")], [4.0, 8.0]])
    broken = compute_metrics(nan_pred, GT, protocol="none", pred_is_disparity=False)
    assert math.isnan(broken["abs_rel"])


def test_crop_rows_drops_top_and_bottom():
    gt = torch.ones(6, 4)
    pred = torch.ones(6, 4)
    pred[0], pred[-1] = 3.0, 3.0
    kw = {"protocol": "none", "pred_is_disparity": False}
    assert compute_metrics(pred, gt, **kw)["abs_rel"] == pytest.approx(2 * 2 / 6)
    cropped = compute_metrics(pred, gt, crop_rows=1, **kw)
    assert cropped["abs_rel"] == 0 and cropped["valid_pixels"] == 16
    pred[1] = 5.0  # row 1 survives a 1-row crop
    assert compute_metrics(pred, gt, crop_rows=1, **kw)["abs_rel"] == pytest.approx(4 * 4 / 16)
    assert scaled_crop_rows(RELEASED_ZERO_SHOT_CROP, 512) == 68 and scaled_crop_rows(RELEASED_ZERO_SHOT_CROP, 256) == 34
    assert scaled_crop_rows(68, 1024) == 136 and scaled_crop_rows(68, 500) == 66
    with pytest.raises(ValueError, match="crop_rows"):
        compute_metrics(pred, gt, crop_rows=3)
    with pytest.raises(ValueError, match="crop_rows"):
        compute_metrics(pred, gt, crop_rows=-1)


def test_shapes_are_checked():
    assert compute_metrics(GT[None, None], GT[None], "none", False)["abs_rel"] == 0.0
    with pytest.raises(ValueError, match="one \\(H, W\\) image"):
        compute_metrics(torch.ones(2, 2, 2), torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match="differ"):
        compute_metrics(torch.ones(2, 3), GT)


def test_accumulator_is_batch_size_independent_and_per_image():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(6, 1, 8, 8, generator=g) * 9 + 0.5
    pred = torch.rand(6, 1, 8, 8, generator=g) + 0.1
    gt[0, :, :6] = 0  # image 0 has few valid pixels: per-image mean weighs it like the others
    gt[4] = 0  # image 4 has none: skipped
    results = []
    for bs in (1, 2, 4, 6):
        acc = MetricAccumulator("lsq_disparity_median", rmse_log="released")
        for i in range(0, 6, bs):
            acc.update(pred[i : i + bs], gt[i : i + bs])
        results.append(acc.result())
    assert all(r == results[0] for r in results)
    per_image = [compute_metrics(pred[i], gt[i], "lsq_disparity_median")["abs_rel"] for i in (0, 1, 2, 3, 5)]
    assert results[0]["abs_rel"] == pytest.approx(sum(per_image) / 5, rel=1e-12)
    assert results[0]["images"] == 5 and results[0]["images_skipped"] == 1 and len(acc.rows) == 6
    # pooling the pixels of a batch (what the released evaluator does for batch > 1) differs
    pooled = compute_metrics(pred[:4].transpose(0, 2).reshape(8, -1), gt[:4].transpose(0, 2).reshape(8, -1),
                             "lsq_disparity_median")
    assert pooled["abs_rel"] != pytest.approx(results[0]["abs_rel"])


def test_accumulator_rows_csv_and_description(tmp_path):
    acc = MetricAccumulator("median", crop_rows=0, rmse_log="ln")
    rows = acc.update(torch.ones(2, 2, 2), torch.stack([GT, torch.zeros(2, 2)]), names=["a.png", "b.png"])
    assert [r["image"] for r in rows] == ["a.png", "b.png"] and rows[1]["valid_pixels"] == 0
    assert acc.result()["abs_rel"] == pytest.approx((1 + 0 + 0.5 + 0.75) / 4)
    path = acc.write_csv(tmp_path / "sub" / "per_image.csv")
    with open(path, newline="") as fh:
        read = list(csv.DictReader(fh))
    assert [r["image"] for r in read] == ["a.png", "b.png"]
    assert float(read[0]["abs_rel"]) == pytest.approx(rows[0]["abs_rel"])
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp file left behind
    info = acc.describe()
    assert info["protocol"] == "median" and "eq. 8" in info["protocol_source"] and info["clamp"] is None
    with pytest.raises(ValueError, match="names"):
        acc.update(torch.ones(2, 2, 2), torch.ones(2, 2, 2), names=["only-one"])


def test_protocols_are_documented():
    assert set(PROTOCOLS) == {"median", "lsq_disparity_median", "none"}
    assert all(p.source for p in PROTOCOLS.values()) and all(RMSE_LOG_VARIANTS.values())
    assert "utils/metric.py" in describe("lsq_disparity_median", "released", 68)["protocol_source"]
    assert describe("lsq_disparity_median", "released", 68)["clamp"] == (0.1, 10.0)
    assert describe("lsq_disparity_median", "released", 68, clamp=False)["clamp"] is None
    assert describe("median", "ln", 0, clamp=[0.5, 5], max_depth=8)["clamp"] == (0.5, 5.0)
    with pytest.raises(ValueError, match="unknown protocol"):
        compute_metrics(torch.ones(2, 2), GT, protocol="mean")
    with pytest.raises(ValueError, match="unknown protocol"):
        MetricAccumulator("mean")


def test_clamp_range_and_gt_validity_bounds():
    pred = torch.tensor([[0.05, 12.0], [2.0, 4.0]], dtype=torch.float64)
    kw = {"protocol": "none", "pred_is_disparity": False}
    m = compute_metrics(pred, GT, clamp=(0.5, 6.0), **kw)  # gt is clamped too: 8 -> 6
    assert_metrics(m, expected([0.5, 6.0, 2.0, 4.0], [1.0, 2.0, 4.0, 6.0]))
    with pytest.raises(ValueError, match="clamp range"):
        compute_metrics(pred, GT, clamp=(5.0, 1.0), **kw)
    # min_depth / max_depth bound the valid ground truth: 1 < gt <= 4 keeps pixels 2 and 3
    m = compute_metrics(pred, GT, min_depth=1.0, max_depth=4.0, **kw)
    assert m["valid_pixels"] == 2
    assert_metrics(m, expected([12.0, 2.0], [2.0, 4.0]))
