"""Geometry: cases that surviving mutants of repro/geometry/ showed to be untested (issue 25)."""

import math

import pytest
import torch

from repro.geometry.cube import cube_to_equirect, equirect_to_cube
from repro.geometry.rotation import random_rotation, rotation_matrix
from repro.geometry.sphere import _pad_equirect


def xyz_angles(r: torch.Tensor) -> torch.Tensor:
    """Euler angles (degrees) of R = Rx(a) Ry(b) Rz(c), |b| < 90°."""
    a = torch.atan2(-r[..., 1, 2], r[..., 2, 2])
    b = torch.asin(r[..., 0, 2].clamp(-1, 1))
    c = torch.atan2(-r[..., 0, 1], r[..., 0, 0])
    return torch.rad2deg(torch.stack((a, b, c), -1))


def test_euler_angles_round_trip_through_the_matrix():
    angles = torch.tensor([[10.0, -20.0, 30.0], [-44.0, 44.0, 5.0]], dtype=torch.float64)
    assert torch.allclose(xyz_angles(rotation_matrix(angles)), angles, atol=1e-9)


def test_random_rotation_draws_each_angle_over_the_whole_range():
    g = torch.Generator().manual_seed(0)
    angles = xyz_angles(random_rotation(4000, 45.0, generator=g, dtype=torch.float64))
    assert angles.abs().max() <= 45.0 + 1e-9
    lo, hi = angles.min(0).values, angles.max(0).values
    assert (lo < -44.0).all() and (hi > 44.0).all()  # each of the three, both ends of [-45°, 45°]
    assert angles.mean(0).abs().max() < 1.5  # symmetric: mean 0 (σ of the mean ≈ 0.4°)
    assert (angles[:, 0] < -22.5).float().mean().item() == pytest.approx(0.25, abs=0.03)  # uniform
    small = xyz_angles(random_rotation(500, 10.0, generator=g, dtype=torch.float64))
    assert small.abs().max() <= 10.0 + 1e-9 and small.abs().max() > 9.5
    assert torch.equal(random_rotation(3, 0.0), torch.eye(3).expand(3, 3, 3))


def test_cube_to_equirect_keeps_a_batch_of_two_apart_without_rotation():
    g = torch.Generator().manual_seed(1)
    pano = torch.rand(2, 3, 16, 32, generator=g, dtype=torch.float64)
    faces = equirect_to_cube(pano, 8)
    both = cube_to_equirect(faces, 16, 32)
    for i in range(2):
        alone = cube_to_equirect(faces[i : i + 1], 16, 32)
        assert torch.equal(both[i : i + 1], alone)
    assert not torch.allclose(both[0], both[1])
    # a constant face per image stitches back to that constant
    flat = torch.stack([torch.full((6, 1, 4, 4), 1.0), torch.full((6, 1, 4, 4), 7.0)]).double()
    out = cube_to_equirect(flat, 8, 16)
    assert torch.allclose(out[0], torch.ones(1, dtype=out.dtype)) and torch.allclose(out[1], torch.full((1,), 7.0, dtype=out.dtype))


def test_the_row_beyond_each_pole_is_the_pole_row_half_a_turn_away():
    x = torch.arange(2 * 4 * 8, dtype=torch.float64).reshape(1, 2, 4, 8)
    p = _pad_equirect(x)
    assert p.shape == (1, 2, 6, 10)
    assert torch.equal(p[:, :, 1:-1, 1:-1], x)
    assert torch.equal(p[:, :, 0, 1:-1], torch.roll(x[:, :, 0], 4, dims=-1))  # beyond the north pole
    assert torch.equal(p[:, :, -1, 1:-1], torch.roll(x[:, :, -1], 4, dims=-1))  # beyond the south pole
    assert torch.equal(p[:, :, :, 0], p[:, :, :, -2]) and torch.equal(p[:, :, :, -1], p[:, :, :, 1])
    assert p[0, 0, 0, 1].item() == 4.0 and p[0, 0, 0, 0].item() == 3.0  # corner: wrapped and rolled
    assert not math.isnan(p.sum().item())


def test_half_precision_masks_use_a_looser_threshold():
    from repro.geometry.sphere import _mask_threshold

    assert _mask_threshold(torch.float16) == _mask_threshold(torch.bfloat16) == 1e-2
    assert _mask_threshold(torch.float32) == _mask_threshold(torch.float64) == 1e-4


def test_the_released_projection_is_a_90_degree_cube_by_default():
    from repro.geometry.released import ReleasedProjection, released_face_rays

    assert torch.equal(ReleasedProjection(8).rays, released_face_rays(8, 90.0))
    assert not torch.equal(ReleasedProjection(8).rays, ReleasedProjection(8, 91.0).rays)
