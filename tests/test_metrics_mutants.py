"""Metrics: cases that surviving mutants of repro/evaluation/metrics.py showed to be untested (issue 25)."""

import pytest
import torch

from repro.evaluation.metrics import (
    METRIC_KEYS,
    PROTOCOLS,
    RMSE_LOG_VARIANTS,
    MetricAccumulator,
    _lsq_scale_shift,
    compute_metrics,
)
from repro.evaluation.seam import SEAM_BAND_PX


def test_a_ground_truth_batch_larger_than_the_prediction_batch_is_refused():
    acc = MetricAccumulator("none", pred_is_disparity=False)
    with pytest.raises(ValueError, match="^batch sizes differ: pred 1, gt 2$"):
        acc.update(torch.ones(1, 1, 2, 2), torch.ones(2, 1, 2, 2))
    with pytest.raises(ValueError, match="^batch sizes differ: pred 2, gt 1$"):
        acc.update(torch.ones(2, 1, 2, 2), torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="mask 3"):
        acc.update(torch.ones(2, 1, 2, 2), torch.ones(2, 1, 2, 2), mask=torch.ones(3, 1, 2, 2, dtype=torch.bool))
    assert acc.rows == []  # nothing half-added


def test_the_accumulator_counts_ground_truth_up_to_10_m_by_default():
    gt = torch.tensor([[[[10.0, 10.5], [0.0, 2.0]]]])  # 10 m is valid, 10.5 m and 0 are not
    acc = MetricAccumulator("none", pred_is_disparity=False)
    (row,) = acc.update(torch.full_like(gt, 2.0), gt)
    assert row["valid_pixels"] == 2 and row["abs_rel"] == pytest.approx((0.8 + 0.0) / 2)
    assert acc.describe()["max_depth"] == 10.0 and acc.describe()["min_depth"] == 0.0
    assert compute_metrics(torch.full((2, 2), 2.0), gt[0, 0], "none", False)["valid_pixels"] == 2


def test_least_squares_alignment_treats_a_nearly_constant_prediction_as_singular():
    # two points 1000 and 1000 + δ: det = δ², the tolerance 1e-12 · n · Σx² ≈ 4e-6
    y = torch.tensor([0.5, 0.25], dtype=torch.float64)
    s, t = _lsq_scale_shift(torch.tensor([1000.0, 1000.0 + 1e-3], dtype=torch.float64), y)
    assert s.item() == 0.0 and t.item() == 0.0
    s, t = _lsq_scale_shift(torch.tensor([1000.0, 1000.01], dtype=torch.float64), y)
    assert s.item() == pytest.approx(-25.0, rel=1e-4) and t.item() == pytest.approx(25000.5, rel=1e-4)
    s, t = _lsq_scale_shift(torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    assert (s.item(), t.item()) == (0.0, 0.0)  # det = 0 = tolerance: singular, not 0/0
    s, t = _lsq_scale_shift(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([5.0, 7.0, 9.0]))
    assert (s.item(), t.item()) == pytest.approx((2.0, 3.0))


def test_crop_rows_on_a_batch_of_b_1_h_w_images():
    gt = torch.ones(2, 1, 6, 4)
    pred = torch.ones(2, 1, 6, 4)
    pred[:, :, 0], pred[:, :, -1] = 3.0, 3.0  # wrong only in the cropped rows
    pred[1, :, 1] = 2.0  # image 1: one kept row off by 1
    acc = MetricAccumulator("none", pred_is_disparity=False, crop_rows=1)
    rows = acc.update(pred, gt)
    assert [r["valid_pixels"] for r in rows] == [16, 16]
    assert [r["abs_rel"] for r in rows] == pytest.approx([0.0, 4 / 16])
    assert acc.result()["abs_rel"] == pytest.approx(0.125)


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"^gt must be one \(H, W\) image"):
        compute_metrics(torch.ones(2, 2), torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match=r"^pred must be one \(H, W\) image"):
        compute_metrics(torch.ones(2, 2, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"^mask must be one \(H, W\) image"):
        compute_metrics(torch.ones(2, 2), torch.ones(2, 2), mask=torch.ones(2, 2, 2, dtype=torch.bool))


def test_the_accumulator_averages_the_seam_ratio_with_seam_on():
    g = torch.Generator().manual_seed(3)
    gt = torch.rand(2, 1, 16, 32, generator=g, dtype=torch.float64) * 5 + 1
    pred = gt * (1 + 0.1 * torch.rand(2, 1, 16, 32, generator=g, dtype=torch.float64))
    acc = MetricAccumulator("none", pred_is_disparity=False, seam=True)
    rows = acc.update(pred, gt)
    result = acc.result()
    assert acc.keys[-1] == "seam_ratio" and result["seam_ratio"] > 0
    assert result["seam_ratio"] == pytest.approx((rows[0]["seam_ratio"] + rows[1]["seam_ratio"]) / 2)


def test_the_accumulators_defaults_are_the_papers_protocol_and_its_record_names_every_setting():
    acc = MetricAccumulator()
    assert acc.keys == METRIC_KEYS and acc.seam_field is None
    assert acc.describe() == {
        "protocol": "median", "protocol_source": PROTOCOLS["median"].source, "clamp": None,
        "rmse_log": "ln", "rmse_log_definition": RMSE_LOG_VARIANTS["ln"], "crop_rows": 0,
        "pred_is_disparity": True, "min_depth": 0.0, "max_depth": 10.0,
    }
    gt = torch.tensor([[[[2.0, 4.0]]]])
    (row,) = acc.update(1 / gt, gt)  # disparity by default, median-aligned: exact
    assert row["abs_rel"] == pytest.approx(0.0, abs=1e-12)


def test_the_record_of_a_seam_run_defines_both_seam_numbers():
    record = MetricAccumulator(seam=True).describe()
    assert set(record) - set(MetricAccumulator().describe()) == {
        "seam_ratio_definition", "seam_ratio_dataset_definition"}
    assert f"within {SEAM_BAND_PX} px of the un-rotated cube-face borders" in record["seam_ratio_definition"]
    assert record["seam_ratio_dataset_definition"] == (
        "seam_ratio of the mean (per-image centred) log-error field over the dataset's images "
        "(repro.evaluation.seam.SeamField)")


def test_the_record_states_the_clamp_actually_applied_at_the_runs_max_depth():
    assert MetricAccumulator("median", clamp=True, max_depth=8.0).describe()["clamp"] == (0.1, 8.0)
    assert MetricAccumulator("median").describe()["clamp"] is None


def test_per_image_csv_keeps_a_name_with_line_breaks_and_uses_crlf(tmp_path):
    """The csv module's own contract (newline=''): quoted fields keep their \\r\\n, rows end in \\r\\n."""
    import csv

    acc = MetricAccumulator("median")
    name = "odd\r\nname.png"  # a legal file name on Linux
    acc.update(torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0), names=[name])
    path = acc.write_csv(tmp_path / "per_image.csv")
    with open(path, newline="") as fh:
        assert [r["image"] for r in csv.DictReader(fh)] == [name]
    assert path.read_bytes().endswith(b"\r\n") and path.read_bytes().count(b"\r\n") == 3  # header, row, name


def test_the_accumulator_checks_its_clamp_names_rows_and_uses_masks():
    import math

    with pytest.raises(ValueError, match="clamp range must satisfy 0 < lo < hi"):
        MetricAccumulator("median", clamp=(0.5, 0.2))  # refused when built, not at the first image
    acc = MetricAccumulator("none", pred_is_disparity=False)
    gt = torch.full((2, 1, 2, 2), 2.0)
    pred = gt.clone()
    pred[:, :, 0, 0] = 4.0  # one wrong pixel per image
    mask = torch.ones(2, 1, 2, 2, dtype=torch.bool)
    mask[:, :, 0, 0] = False  # ... which the mask removes
    rows = acc.update(pred, gt, mask=mask)  # a batch of two with a mask
    assert [r["image"] for r in rows] == ["0", "1"] and all(r["abs_rel"] == 0.0 for r in rows)
    assert acc.update(pred[:1], gt[:1])[0]["image"] == "2"  # numbered on across batches
    assert acc.rows[2]["abs_rel"] == pytest.approx(0.25)  # unmasked: the wrong pixel counts
    empty = MetricAccumulator("none", pred_is_disparity=False)
    empty.update(pred[:1], torch.zeros(1, 1, 2, 2))
    res = empty.result()
    assert math.isnan(res["abs_rel"]) and (res["images"], res["images_skipped"]) == (0, 1)


def test_a_seam_run_reports_the_datasets_seam_ratio():
    import math

    acc = MetricAccumulator("median", pred_is_disparity=False, seam=True)
    g = torch.Generator().manual_seed(0)
    gt = 1.0 + torch.rand(2, 1, 32, 64, generator=g)
    acc.update(gt * (1 + 0.1 * torch.rand(2, 1, 32, 64, generator=g)), gt)
    res = acc.result()
    assert math.isfinite(res["seam_ratio_dataset"]) and res["seam_ratio_dataset"] > 0
    assert "seam_ratio_dataset" not in MetricAccumulator("median").result()


def test_compute_metrics_defaults_its_clamp_to_max_depth_and_keeps_invalid_gt_out_under_a_mask():
    gt = torch.tensor([[1.0, 2.0], [0.0, 9.0]])  # one invalid pixel (0 m)
    out = compute_metrics(torch.ones(2, 2), gt, "median", pred_is_disparity=False, mask=torch.ones(2, 2, dtype=torch.bool))
    assert set(out) == set(METRIC_KEYS) | {"valid_pixels"} and out["valid_pixels"] == 3  # no seam metric by default
    pred = torch.tensor([[1.0, 2.0], [1.0, 20.0]])  # metric depth: 20 m is clamped to max_depth (8 m here)
    clamped = compute_metrics(pred, torch.tensor([[1.0, 2.0], [1.0, 8.0]]), "none", pred_is_disparity=False,
                              clamp=True, max_depth=8.0)
    assert clamped["abs_rel"] == pytest.approx(0.0)
