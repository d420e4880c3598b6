"""The cube-seam metric on constructed predictions, and the oracle's face-anchored edge bias."""

import math

import pytest
import torch

from repro.evaluation.metrics import MetricAccumulator, compute_metrics
from repro.evaluation.seam import cube_border_angle, cube_border_band, seam_ratio
from repro.geometry import cube_to_equirect, equirect_directions, equirect_to_cube
from repro.teacher.oracle import OracleTeacher, face_radius_sq

H, W = 64, 128


def _smooth_depth() -> torch.Tensor:
    d = equirect_directions(H, W)
    return 2.5 + d[..., 0] + 0.5 * d[..., 1] + 0.3 * torch.sin(3 * d[..., 2])


def _face_index() -> torch.Tensor:
    ids = torch.arange(6, dtype=torch.float32).view(1, 6, 1, 1, 1).expand(1, 6, 1, 32, 32).contiguous()
    return cube_to_equirect(ids, H, W, mode="nearest")[0, 0].long()


def test_border_band_follows_the_cube_edges():
    angle = cube_border_angle(H, W)
    lon_cols = [round((lon / 360 + 0.5) * W - 0.5) for lon in (-135, -45, 45, 135)]
    equator = H // 2
    for c in lon_cols:  # side-face borders cross the equator at ±45°, ±135°
        assert angle[equator, c] < math.radians(2)
    assert angle[equator, W // 2] > math.radians(40)  # the front face's centre is ~45° from any border
    band = cube_border_band(H, W, band_px=2)
    assert band[equator, lon_cols].all() and not band[equator, W // 2]
    assert 0.1 < band.float().mean() < 0.3


def test_per_face_affine_artifact_scores_higher_than_smooth_error():
    gt = _smooth_depth()
    smooth = gt * (1 + 0.2 * torch.sin(torch.atan2(equirect_directions(H, W)[..., 0], equirect_directions(H, W)[..., 2])))
    idx = _face_index()
    scale = torch.tensor([1.0, 1.3, 0.8, 1.1, 0.9, 1.2])[idx]
    shift = torch.tensor([0.0, 0.05, 0.0, 0.02, 0.03, 0.0])[idx]
    seamy = 1 / (scale / gt + shift)  # each face's disparity under its own scale and shift
    assert seam_ratio(gt, gt) == pytest.approx(1.0)
    assert seam_ratio(smooth, gt) == pytest.approx(1.0, abs=0.15)
    assert seam_ratio(seamy, gt) > 5 * seam_ratio(smooth, gt)
    # a global scale changes nothing (the metric is on log errors)
    assert seam_ratio(3 * seamy, gt) == pytest.approx(seam_ratio(seamy, gt), rel=1e-4)


def test_face_edge_bias_scores_higher_and_invalid_pixels_are_ignored():
    gt = _smooth_depth()
    bias = cube_to_equirect((1 + 0.5 * face_radius_sq(32, 32)).expand(1, 6, 1, 32, 32).contiguous(), H, W)[0, 0]
    assert seam_ratio(gt / bias, gt) > 1.5
    valid = torch.ones(H, W, dtype=torch.bool)
    valid[:, :10] = False
    garbage = (gt / bias).clone()
    garbage[:, :10] = 1e3  # a wild prediction where the ground truth is invalid does not count
    assert seam_ratio(garbage, gt, valid) == pytest.approx(seam_ratio(gt / bias, gt, valid))


def test_seam_ratio_through_compute_metrics_and_the_accumulator():
    gt = _smooth_depth()
    idx = _face_index()
    disparity = torch.tensor([1.0, 1.5, 0.7, 1.2, 0.9, 1.3])[idx] / gt
    row = compute_metrics(disparity, gt, seam=True, crop_rows=4)
    assert row["seam_ratio"] > 5
    assert "seam_ratio" not in compute_metrics(disparity, gt)
    acc = MetricAccumulator(seam=True)
    acc.update(torch.stack([disparity, 1 / gt])[:, None], torch.stack([gt, gt])[:, None])
    res = acc.result()
    assert acc.rows[0]["seam_ratio"] > 5 and acc.rows[1]["seam_ratio"] == pytest.approx(1.0, abs=0.01)
    assert res["seam_ratio"] == pytest.approx((acc.rows[0]["seam_ratio"] + acc.rows[1]["seam_ratio"]) / 2)
    assert "cube-face borders" in acc.describe()["seam_ratio_definition"]


def test_oracle_edge_bias_survives_affine_normalisation():
    depth = 1 + torch.rand(4, 1, 16, 16)
    plain = OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0)
    biased = OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0, edge_bias=0.5)
    ratio = biased.raw_disparity(depth) / plain.raw_disparity(depth)
    assert torch.allclose(ratio, 1 + 0.5 * face_radius_sq(16, 16))
    assert ratio[..., 0, 0].min() > ratio[..., 8, 8].max()  # corners over the centre
    assert "edge bias" in biased.describe() and "edge bias" not in plain.describe()
    with pytest.raises(ValueError, match="edge_bias"):
        OracleTeacher(edge_bias=-1.5)
    # the equirect->cube->equirect round trip of a smooth map stays smooth (the metric sees no seams)
    faces = equirect_to_cube(_smooth_depth()[None, None], 32)
    back = cube_to_equirect(faces, H, W)[0, 0]
    assert seam_ratio(back, _smooth_depth()) < 1.5


def test_oracle_per_face_edge_bias_jumps_across_every_cube_edge():
    """A list of per-face strengths (opposite faces alike) makes the factor differ on the two sides
    of every shared cube edge, so the stitched teacher error jumps there; a single value does not."""
    b = [0.9, 0.1, 0.9, 0.1, 0.5, 0.5]
    depth = torch.ones(2 * 6, 1, 32, 32)  # two panoramas' faces, F R B L U D each
    oracle = OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0, edge_bias=b)
    factor = oracle.raw_disparity(depth)  # true disparity is 1: the factor itself
    for i in range(12):
        assert torch.allclose(factor[i, 0], 1 + b[i % 6] * face_radius_sq(32, 32))
    pano = cube_to_equirect(factor[:6][None], H, W)[0, 0]
    same = cube_to_equirect(OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0, edge_bias=0.5)
                            .raw_disparity(depth[:6])[None], H, W)[0, 0]
    gt = torch.ones(H, W)
    assert seam_ratio(1 / pano, gt) > 2 * seam_ratio(1 / same, gt)  # jumps, not bends
    assert "per face" in oracle.describe() and oracle.provenance()["edge_bias"] == b
    with pytest.raises(ValueError, match="edge_bias"):
        OracleTeacher(edge_bias=[0.5, -1.0])


def test_dataset_seam_field_keeps_pixel_anchored_error_and_averages_scene_error_out():
    """seam_ratio_dataset: a seam at the same pixels in every image survives the mean; per-image
    errors at random places do not; a per-image global scale is no seam."""
    from repro.evaluation.seam import SeamField

    gt = _smooth_depth()
    idx = _face_index()
    seamy = torch.tensor([1.0, 1.2, 0.9, 1.1, 0.95, 1.15])[idx]
    anchored, scattered = SeamField(), SeamField()
    g = torch.Generator().manual_seed(0)
    for i in range(12):
        anchored.add(gt * seamy * (1 + 0.3 * i), gt)
        shift = int(torch.randint(0, W, (), generator=g))
        scattered.add(gt * (1 + 0.02 * torch.randn(H, W, generator=g)) * torch.roll(seamy, shift, dims=1), gt)
    assert anchored.ratio() > 5
    assert scattered.ratio() < 0.5 * anchored.ratio()
    assert math.isnan(SeamField().ratio())
    acc = MetricAccumulator(seam=True)
    acc.update(torch.stack([1 / (gt * seamy), 1 / gt])[:, None], torch.stack([gt, gt])[:, None])
    res = acc.result()
    assert res["seam_ratio_dataset"] > 2 and "seam_ratio_dataset" not in acc.rows[0]
    assert "seam_ratio_dataset" not in MetricAccumulator().result()
