"""Geometry: cases that surviving mutants of repro/geometry/ showed to be untested (issue 25)."""

import math
import re

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


# --- the released code's conventions (repro/geometry/released.py, issue 17), found by the full run


def test_released_planar_depth_with_a_folded_rotation_matches_the_analytic_scene():
    """Planar depth on the faces of a rotated view of a smooth scene: D(Rᵀd)·(d·f) per face ray d."""
    from repro.geometry.released import ReleasedProjection, draw_rotations, flip_frame, released_pixel_directions

    h, w, face = 64, 128, 16

    def field(d: torch.Tensor) -> torch.Tensor:  # ray distance of a smooth, not rotation-invariant scene
        return 2.0 + 0.8 * d[..., 0] + 0.4 * d[..., 1]

    distance = field(released_pixel_directions(h, w))[None, None].expand(2, 1, h, w)
    proj = ReleasedProjection(face)
    rot = draw_rotations(2, 45.0, torch.Generator().manual_seed(0), frame="y_down")
    rays = proj.rays / proj.rays.norm(dim=-1, keepdim=True)
    seen = torch.einsum("bji,nhwj->bnhwi", flip_frame(rot.double()), rays)  # each face ray in the scene's frame
    expected = (field(seen) * torch.einsum("nhwi,ni->nhw", rays, proj.axes)[None])[:, :, None]
    out = proj.project_planar_depth(distance, rot)
    assert out.shape == (2, 6, 1, face, face) and out.dtype == torch.float32
    err = (out - expected).abs()
    assert err.mean() < 0.03 and err.max() < 0.15  # nearest sampling: about half a panorama pixel
    # the two panoramas got different rotations, and without the rotation the faces are another view
    assert (out[0] - out[1]).abs().mean() > 0.1
    assert (proj.project_planar_depth(distance, None) - expected).abs().mean() > 0.1
    # a float64 rotation (random_rotation's default) is taken in the distance's dtype
    assert torch.allclose(proj.project_planar_depth(distance, rot.double()), out)
    # reduced precision stays in its dtype (a bf16 student prediction)
    assert proj.project_planar_depth(distance.bfloat16(), rot).dtype == torch.bfloat16


def test_released_planar_depth_refuses_a_map_that_is_not_one_channel():
    from repro.geometry.released import ReleasedProjection

    proj = ReleasedProjection(8)
    for bad in (torch.ones(1, 3, 16, 32), torch.ones(1, 16, 32)):
        with pytest.raises(ValueError, match=rf"distance must be \(B,1,H,W\), got {re.escape(str(tuple(bad.shape)))}"):
            proj.project_planar_depth(bad)


def test_draw_rotations_default_is_our_frame_in_float32():
    from repro.geometry.released import draw_rotations

    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # the draw's dtype must not follow the process default
    try:
        ours = draw_rotations(3, 30.0, torch.Generator().manual_seed(2))
        released = draw_rotations(2, 30.0, torch.Generator().manual_seed(2), frame="y_down")
    finally:
        torch.set_default_dtype(default)
    expected = random_rotation(3, 30.0, generator=torch.Generator().manual_seed(2), dtype=torch.float32)
    assert ours.dtype == torch.float32 and torch.equal(ours, expected)
    assert xyz_angles(ours.double()).abs().max() <= 30.0 + 1e-4
    assert released.dtype == torch.float32


def test_released_draw_uses_three_uniforms_per_rotation_and_any_device():
    from repro.geometry.released import draw_rotations, euler_draw

    rot = draw_rotations(2, 45.0, torch.Generator().manual_seed(5), frame="y_down")
    u = torch.rand(2, 3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(rot, euler_draw(u, 45.0, "y_down"))  # row 2 uses numbers 4-6 of the stream
    torch.manual_seed(6)
    unseeded = draw_rotations(2, 45.0, frame="y_down")  # no generator: the global one, on the CPU
    torch.manual_seed(6)
    assert torch.equal(unseeded, euler_draw(torch.rand(2, 3), 45.0, "y_down"))
    for frame in ("y_up", "y_down"):  # drawn on the generator's device, returned on the one asked for
        assert draw_rotations(2, 45.0, torch.Generator().manual_seed(1), frame=frame, device="meta").is_meta


def test_normalize_01_stretches_a_map_whose_span_is_below_one():
    from repro.geometry.disparity import normalize_01

    x = torch.tensor([0.2, 0.5, 0.7]).reshape(1, 1, 1, 3)
    assert torch.allclose(normalize_01(x).flatten(), torch.tensor([0.0, 0.6, 1.0]))


def test_released_sampling_runs_on_the_inputs_device():
    """The meta device stands in for CUDA: every tensor a step builds must follow its input."""
    from repro.geometry.released import ReleasedProjection, draw_rotations, rotate_equirect_released

    x = torch.rand(2, 1, 8, 16, device="meta")
    rot = draw_rotations(2, 45.0, torch.Generator().manual_seed(0), frame="y_down")  # a CPU rotation
    proj = ReleasedProjection(4)
    assert rotate_equirect_released(x, rot).is_meta
    assert proj.project(x, rot).is_meta and proj.project(x).is_meta
    assert proj.project_planar_depth(x, rot).is_meta and proj.project_planar_depth(x).is_meta


def test_released_rotation_pass_checks_its_inputs_and_carries_a_mask():
    from repro.geometry.released import ReleasedProjection, draw_rotations, rotate_equirect_released

    x = torch.rand(3, 2, 8, 16)
    with pytest.raises(ValueError, match=r"^equirect input must be \(B,C,H,W\), got shape \(2, 8, 16\)$"):
        rotate_equirect_released(x[0], torch.eye(3)[None])
    with pytest.raises(ValueError, match="^rotation batch 2 does not match image batch 3$"):
        rotate_equirect_released(x, torch.eye(3).expand(2, 3, 3))
    one = draw_rotations(1, 45.0, torch.Generator().manual_seed(3), frame="y_down")
    shared = rotate_equirect_released(x, one)  # one rotation for the whole batch
    assert torch.allclose(shared[1:2], rotate_equirect_released(x[1:2], one))
    assert torch.allclose(rotate_equirect_released(x, one.double()), shared)  # float64 rotation accepted
    mask = torch.ones(3, 1, 8, 16, dtype=torch.bool)
    mask[:, :, :2] = False
    out, valid = rotate_equirect_released(x, one, mask=mask)
    assert torch.allclose(out, shared) and valid.dtype == torch.bool and 0 < valid.float().mean() < 1
    faces, face_valid = ReleasedProjection(4).project(x, one, mask=mask)
    assert faces.shape == (3, 6, 2, 4, 4) and face_valid.shape == (3, 6, 1, 4, 4)
    assert face_valid[:, 4].float().mean() < face_valid[:, 0].float().mean()  # the masked top rows: the up face


def test_rotate_equirect_by_a_quarter_turn_of_yaw_rolls_the_columns():
    """out(d) = equi(Rᵀd): a yaw of θ about the up axis moves content θ/2π·W columns to the right."""
    from repro.geometry.sphere import rotate_equirect

    x = torch.rand(2, 3, 8, 16, dtype=torch.float64)
    yaw = rotation_matrix(torch.tensor([[0.0, 90.0, 0.0]], dtype=torch.float64)).expand(2, 3, 3)
    rolled = torch.roll(x, 16 // 4, dims=-1)
    assert torch.equal(rotate_equirect(x, yaw, "nearest"), rolled)
    # float64 panoramas get float64 sampling coordinates: exact up to rounding, not float32's 1e-7
    assert (rotate_equirect(x, yaw) - rolled).abs().max() < 1e-10
    mask = torch.rand(2, 1, 8, 16) > 0.3
    out, valid = rotate_equirect(x, yaw, "nearest", mask=mask)
    assert torch.equal(out, rolled) and torch.equal(valid, torch.roll(mask, 4, dims=-1))
    odd = rotation_matrix(torch.tensor([[0.0, 7.0, 0.0]], dtype=torch.float64)).expand(2, 3, 3)
    nearest, bilinear = rotate_equirect(x, odd, "nearest"), rotate_equirect(x, odd)
    assert (nearest[..., None] == x.flatten()).any(-1).all()  # every value one of the input's
    assert not (bilinear[..., None] == x.flatten()).any(-1).all()
    assert rotate_equirect(x.to("meta"), yaw).is_meta


def test_tangent_projections_honour_an_explicit_fov_rotation_and_mask():
    from repro.geometry.perspective import (
        equirect_depth_to_perspective,
        equirect_to_perspective,
        perspective_to_equirect,
    )
    from repro.geometry.tangent import (
        equirect_depth_to_tangent,
        equirect_to_tangent,
        tangent_rotations,
        tangent_to_equirect,
    )

    x = torch.rand(1, 2, 16, 32)
    rot = random_rotation(1, 30.0, generator=torch.Generator().manual_seed(0))
    mask = torch.rand(1, 1, 16, 32) > 0.2
    cams = tangent_rotations(0)
    faces, valid = equirect_to_tangent(x, 8, fov_deg=70.0, rotation=rot, mask=mask)
    want, want_valid = equirect_to_perspective(x, cams, 8, 70.0, rot, "bilinear", mask)
    assert torch.equal(faces, want) and torch.equal(valid, want_valid)
    depth = x[:, :1] + 1
    assert torch.equal(equirect_depth_to_tangent(depth, 8, fov_deg=70.0, rotation=rot),
                       equirect_depth_to_perspective(depth, cams, 8, 70.0, rot))
    assert torch.equal(tangent_to_equirect(faces, 16, 32, fov_deg=70.0, rotation=rot),
                       perspective_to_equirect(faces, cams, 16, 32, 70.0, "bilinear", rot))
    assert not torch.equal(equirect_to_tangent(x, 8, fov_deg=70.0), equirect_to_tangent(x, 8))


def test_released_helpers_refuse_what_they_cannot_do_and_default_to_our_frame():
    from repro.geometry.released import ReleasedProjection, euler_draw, rotate_equirect_released

    u = torch.tensor([[0.1, 0.7, 0.35]])
    assert torch.equal(euler_draw(u, 45.0), euler_draw(u, 45.0, "y_up"))
    with pytest.raises(ValueError, match=r"^rotation frame must be one of \('y_up', 'y_down'\), got 'z_up'$"):
        euler_draw(u, 45.0, "z_up")
    with pytest.raises(ValueError, match=r"^mode must be 'bilinear' or 'nearest', got 'bicubic'$"):
        rotate_equirect_released(torch.rand(1, 1, 8, 16), torch.eye(3)[None], "bicubic")
    with pytest.raises(ValueError, match="got 'area'"):
        ReleasedProjection(4).project(torch.rand(1, 1, 8, 16), mode="area")


def test_released_projection_takes_other_cameras():
    from repro.geometry.released import ReleasedProjection
    from repro.geometry.tangent import tangent_rotations

    cams = tangent_rotations(0)
    proj = ReleasedProjection(8, fov_deg=60.0, cameras=cams)
    assert proj.rays.shape == (cams.shape[0], 8, 8, 3) and cams.shape[0] != 6
    assert proj.project(torch.rand(1, 1, 16, 32)).shape == (1, cams.shape[0], 1, 8, 8)


def test_our_cube_cameras_through_the_released_intrinsics_are_the_released_cube():
    from repro.geometry.cube import cube_rotations
    from repro.geometry.released import ReleasedProjection

    ours = ReleasedProjection(8, cameras=cube_rotations()).rays
    assert (ours - ReleasedProjection(8).rays).abs().max() < 1e-6  # cv2.Rodrigues' float32 residue: 9e-8


def test_rotation_helpers_check_their_inputs():
    with pytest.raises(ValueError, match=r"^invalid Euler convention 'XYW': use three of X/Y/Z, no two equal in a row$"):
        rotation_matrix((1.0, 2.0, 3.0), "XYW")
    with pytest.raises(ValueError, match=r"^angles_deg must have a last dimension of 3, got shape \(2,\)$"):
        rotation_matrix(torch.tensor([1.0, 2.0]))
    ints = rotation_matrix(torch.tensor([10, 20, 30]))  # integer degrees: the default float dtype
    assert ints.dtype == torch.get_default_dtype() and torch.equal(ints, rotation_matrix(torch.tensor([10.0, 20.0, 30.0])))
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match=rf"^max_deg must be a finite non-negative number, got {bad}$"):
            random_rotation(1, bad)
    u = torch.rand(2, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    zyx = random_rotation(2, 30.0, generator=torch.Generator().manual_seed(4), convention="ZYX", dtype=torch.float64)
    assert torch.allclose(zyx, rotation_matrix((u * 2 - 1) * 30.0, "ZYX"))
    assert random_rotation(2, 30.0, device="meta").is_meta


def test_as_maps_takes_a_single_map_and_cube_to_equirect_checks_and_rotates():
    from repro.geometry.disparity import as_maps
    from repro.geometry.perspective import perspective_to_equirect

    assert as_maps(torch.ones(1, 2, 3)).shape == (1, 6)
    with pytest.raises(ValueError, match=r"^expected maps shaped \(\.\.\., C, H, W\), got \(2, 3\)$"):
        as_maps(torch.ones(2, 3))
    faces = torch.rand(1, 6, 1, 8, 8)
    for bad in (torch.rand(1, 5, 1, 8, 8), torch.rand(6, 1, 8, 8)):
        with pytest.raises(ValueError, match=rf"^cube faces must be \(B,6,C,w,w\), got {re.escape(str(tuple(bad.shape)))}$"):
            cube_to_equirect(bad, 16, 32)
    rot = random_rotation(1, 30.0, generator=torch.Generator().manual_seed(0))
    from repro.geometry.cube import cube_rotations

    rotated = cube_to_equirect(faces, 16, 32, rotation=rot)
    assert torch.equal(rotated, perspective_to_equirect(faces, cube_rotations(), 16, 32, 90.0, "bilinear", rot))
    assert not torch.allclose(rotated, cube_to_equirect(faces, 16, 32))


def test_tangent_cameras_are_upright_right_handed_frames_on_the_face_centres():
    from repro.geometry.tangent import icosahedron, tangent_fov, tangent_rotations

    assert icosahedron().shape == (20, 3, 3) and tangent_fov() == tangent_fov(0) != tangent_fov(1)
    with pytest.raises(ValueError, match="^level must be >= 0, got -1$"):
        icosahedron(-1)
    for level in (0, 4):  # level 4 has faces within 2.6° of a pole, which take another hint
        rot = tangent_rotations(level, dtype=torch.float64)
        centres = icosahedron(level).mean(1)
        fwd = centres / centres.norm(dim=-1, keepdim=True)
        assert torch.allclose(rot.transpose(1, 2) @ rot, torch.eye(3, dtype=torch.float64).expand_as(rot), atol=1e-12)
        assert torch.allclose(torch.linalg.det(rot), torch.ones(len(rot), dtype=torch.float64))
        assert torch.allclose(rot[:, :, 2], fwd, atol=1e-12)
        upright = fwd[:, 1].abs() <= 0.999
        assert rot[upright, 1, 0].abs().max() < 1e-12  # the right axis is horizontal
        assert (rot[upright, 1, 1] > 0).all()  # and the up axis points up
    assert tangent_rotations(0).dtype == torch.get_default_dtype()
    assert tangent_rotations(0, device="meta").is_meta


def test_planar_depth_on_perspective_cameras_checks_shapes_and_keeps_precision():
    from repro.geometry.perspective import equirect_depth_to_perspective
    from repro.geometry.tangent import tangent_rotations

    cams = tangent_rotations(0)
    with pytest.raises(ValueError, match=r"^distance must be \(B,1,H,W\), got \(1, 2, 8, 16\)$"):
        equirect_depth_to_perspective(torch.ones(1, 2, 8, 16), cams, 4, 60.0)
    sphere = torch.full((1, 1, 16, 32), 2.0, dtype=torch.float64)
    out = equirect_depth_to_perspective(sphere, cams, (4, 6), 60.0)  # (h, w) may differ
    assert out.shape == (1, 20, 1, 4, 6) and out.dtype == torch.float64
    # float64 input is projected with float64 rays: not float32 rays' values cast up
    single = equirect_depth_to_perspective(sphere.float(), cams, (4, 6), 60.0).double()
    assert 0 < (out - single).abs().max() < 1e-6
    assert equirect_depth_to_perspective(sphere.bfloat16(), cams, 4, 60.0).dtype == torch.bfloat16
    assert equirect_depth_to_perspective(sphere.float().to("meta"), cams, 4, 60.0).is_meta


def test_perspective_round_trip_with_a_rotation_and_its_checks():
    from repro.geometry.cube import cube_rotations
    from repro.geometry.perspective import equirect_to_perspective, perspective_to_equirect

    cams = cube_rotations()
    lon = (torch.arange(64) + 0.5) / 64 * 2 * math.pi
    smooth = (torch.sin(lon)[None, :] * torch.linspace(0.5, 1.0, 32)[:, None]).expand(2, 1, 32, 64).contiguous()
    rot = random_rotation(2, 40.0, generator=torch.Generator().manual_seed(1))
    faces = equirect_to_perspective(smooth, cams, 16, 90.0, rot)  # default mode: bilinear
    assert faces.shape == (2, 6, 1, 16, 16)
    back = perspective_to_equirect(faces, cams, 32, 64, 90.0, rotation=rot)  # undo the rotation
    assert (back - smooth).abs().mean() < 0.02
    assert (perspective_to_equirect(faces, cams, 32, 64, 90.0) - smooth).abs().mean() > 0.1  # not undone
    assert torch.allclose(perspective_to_equirect(faces, cams, 32, 64, 90.0, rotation=rot.double()), back)
    nearest = perspective_to_equirect(faces, cams, 32, 64, 90.0, "nearest", rot)
    assert (nearest[..., None] == faces.flatten()).any(-1).all()  # every value one of the faces'
    assert perspective_to_equirect(faces.bfloat16(), cams, 32, 64, 90.0).dtype == torch.bfloat16
    assert perspective_to_equirect(faces.to("meta"), cams, 32, 64, 90.0, rotation=rot).is_meta
    assert equirect_to_perspective(smooth.to("meta"), cams, (8, 12), 90.0).shape == (2, 6, 1, 8, 12)
    f64 = perspective_to_equirect(faces.double(), cams, 32, 64, 90.0, rotation=rot.double())
    assert 0 < (f64 - back.double()).abs().max() < 1e-5  # float64 coordinates for float64 images
    g64 = equirect_to_perspective(smooth.double(), cams, 16, 90.0, rot.double())
    assert 0 < (g64 - faces.double()).abs().max() < 1e-5
    with pytest.raises(ValueError, match=r"^images must be \(B,N,C,h,w\), got \(6, 1, 16, 16\)$"):
        perspective_to_equirect(faces[0], cams, 32, 64, 90.0)
    with pytest.raises(ValueError, match=r"^rotations must be \(6,3,3\) for 6 images, got \(5, 3, 3\)$"):
        perspective_to_equirect(faces, cams[:5], 32, 64, 90.0)


def test_stitching_never_reads_a_neighbouring_image_outside_a_cameras_view():
    """Two 60° cameras (front, back): rays between them are clamped to the nearer image's edge."""
    from repro.geometry.perspective import perspective_to_equirect

    cams = torch.stack((torch.eye(3), torch.diag(torch.tensor([-1.0, 1.0, -1.0]))))  # front, back (yaw 180°)
    images = torch.stack((torch.full((1, 4, 2), 1.0), torch.full((1, 4, 2), 2.0)))[None]  # (1, 2, 1, h=4, w=2)
    pano = perspective_to_equirect(images, cams, 16, 32, 60.0)
    near = ((pano - 1).abs() < 1e-5) | ((pano - 2).abs() < 1e-5)
    assert near.all() and (pano > 1.5).any() and (pano < 1.5).any()  # no blend of the two, no padding zeros
    ramp = torch.tensor([0.0, 1.0]).expand(1, 2, 1, 4, 2)  # w = 2: left column 0, right column 1
    assert perspective_to_equirect(ramp, cams, 16, 32, 60.0).max() == pytest.approx(1.0)


def test_sample_equirect_checks_inputs_and_follows_the_inputs_device_and_dtype():
    from repro.geometry.sphere import equirect_directions, sample_equirect

    x = torch.rand(3, 2, 8, 16, dtype=torch.float64)
    rays = equirect_directions(8, 16, dtype=torch.float64)[None]  # every pixel centre
    assert (sample_equirect(x, rays) - x).abs().max() < 1e-12  # default bilinear, float64 coordinates
    odd = rays[:, :1, :3]  # three rays: any count works
    assert sample_equirect(x, odd).shape == (3, 2, 1, 3)
    assert sample_equirect(x.float().to("meta"), rays.float()).is_meta
    with pytest.raises(ValueError, match=r"^equirect input must be \(B,C,H,W\), got shape \(2, 8, 16\)$"):
        sample_equirect(x[0], rays)
    with pytest.raises(ValueError, match="^rays batch 2 does not match image batch 3$"):
        sample_equirect(x, rays.expand(2, -1, -1, -1))
    with pytest.raises(ValueError, match=r"^mask must be \(B,1,H,W\) = \(3, 1, 8, 16\), got \(3, 2, 8, 16\)$"):
        sample_equirect(x, rays, mask=torch.ones(3, 2, 8, 16, dtype=torch.bool))
    mask = torch.ones(3, 1, 8, 16, dtype=torch.bool)
    mask[:, :, 4, 5] = False
    values, valid = sample_equirect(x.float(), rays.float(), mask=mask)
    assert torch.equal(valid, mask) and (values - x.float()).abs().max() < 1e-4
