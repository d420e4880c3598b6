"""Geometry against independent references: py360convert, analytic scenes and scipy rotations."""

import math

import numpy as np
import py360convert
import pytest
import torch
from scipy.spatial.transform import Rotation

from repro.geometry import (
    cube_rotations,
    cube_to_equirect,
    equirect_depth_to_cube,
    equirect_depth_to_tangent,
    equirect_directions,
    equirect_to_cube,
    equirect_to_tangent,
    perspective_rays,
    random_rotation,
    rotate_equirect,
    rotation_matrix,
    tangent_rotations,
    tangent_to_equirect,
)
from repro.geometry.tangent import icosahedron, tangent_fov


def smooth(d: torch.Tensor) -> torch.Tensor:
    """A smooth 3-channel function of the ray direction (..., 3) -> (3, ...)."""
    x, y, z = d.unbind(-1)
    return torch.stack([torch.sin(3 * x) + y**2, torch.cos(2 * z + y), x * z + 0.3 * y], 0)


def smooth_equirect(h: int, w: int, dtype=torch.float32) -> torch.Tensor:
    return smooth(equirect_directions(h, w, dtype=torch.float64)).to(dtype)[None]


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True)


def analytic_faces(rotations: torch.Tensor, w: int, fov: float) -> torch.Tensor:
    rays = unit(perspective_rays(rotations.double(), w, w, fov))
    return smooth(rays).permute(1, 0, 2, 3)[None].float()  # (1, N, 3, w, w)


@pytest.mark.parametrize("h,face_w", [(64, 32), (128, 48)])
def test_equirect_to_cube_matches_py360convert(h, face_w):
    img = smooth_equirect(h, 2 * h)
    ours = equirect_to_cube(img, face_w)
    ref = py360convert.e2c(img[0].permute(1, 2, 0).numpy(), face_w=face_w, mode="bilinear", cube_format="list")
    ref = torch.from_numpy(np.stack(ref)).permute(0, 3, 1, 2)
    assert ours.shape == (1, 6, 3, face_w, face_w)
    assert (ours[0] - ref).abs().max().item() <= 1e-3  # every pixel, borders included


def test_equirect_to_cube_nearest_matches_py360convert():
    # odd sizes: with even ones, symmetric rays land exactly on half-pixels (rounding ties)
    img = torch.rand(1, 1, 65, 129)
    ours = equirect_to_cube(img, 37, mode="nearest")[0, :, 0]
    ref = np.stack(py360convert.e2c(img[0, 0].numpy(), face_w=37, mode="nearest", cube_format="list"))
    agree = (ours - torch.from_numpy(ref)).abs() < 1e-6
    assert agree.float().mean().item() > 0.995  # only exact rounding ties may differ


def test_cube_faces_look_where_documented():
    # the centre pixel of each face sees its axis: F +z, R +x, B -z, L -x, U +y, D -y
    h, w = 64, 128
    d = equirect_directions(h, w)
    faces = equirect_to_cube(d.permute(2, 0, 1)[None], 33)[0, :, :, 16, 16]
    expected = torch.tensor([[0, 0, 1], [1, 0, 0], [0, 0, -1], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=torch.float32)
    assert torch.allclose(unit(faces), expected, atol=0.03)
    # upright: the top row of a side face looks up, the top row of U looks towards the back
    top = equirect_to_cube(d.permute(2, 0, 1)[None], 33)[0, :, :, 0, 16]
    assert (top[:4, 1] > 0.5).all()
    assert top[4, 2] < -0.5 and top[5, 2] > 0.5


def test_cube_to_equirect_matches_analytic_and_converges():
    errs = []
    for h in (64, 256):
        faces = analytic_faces(cube_rotations(), h // 2, 90.0)
        ours = cube_to_equirect(faces, h, 2 * h)
        errs.append((ours - smooth_equirect(h, 2 * h)).abs().max().item())
    assert errs[0] < 1e-2
    assert errs[1] < errs[0] / 4  # bilinear: error falls ~quadratically with resolution


def test_cube_round_trip():
    faces = analytic_faces(cube_rotations(), 32, 90.0)
    back = equirect_to_cube(cube_to_equirect(faces, 256, 512), 32)
    assert (back - faces).abs().max().item() < 2e-2
    img = smooth_equirect(64, 128)
    again = cube_to_equirect(equirect_to_cube(img, 64), 64, 128)
    assert (again - img).abs().max().item() < 2e-2


def test_rotation_matrix_matches_scipy_intrinsic_xyz():
    angles = torch.tensor([[10.0, -20.0, 30.0], [44.0, 5.0, -45.0]], dtype=torch.float64)
    ours = rotation_matrix(angles, "XYZ")
    ref = Rotation.from_euler("XYZ", angles.numpy(), degrees=True).as_matrix()
    assert np.allclose(ours.numpy(), ref, atol=1e-12)
    zyx = rotation_matrix(angles, "ZYX")
    assert np.allclose(zyx.numpy(), Rotation.from_euler("ZYX", angles.numpy(), degrees=True).as_matrix(), atol=1e-12)


def test_rotation_matrix_rejects_bad_convention():
    with pytest.raises(ValueError, match="convention"):
        rotation_matrix(torch.zeros(3), "XXY")


def test_random_rotation_range_and_seed():
    g = torch.Generator().manual_seed(3)
    r = random_rotation(512, max_deg=45.0, generator=g, dtype=torch.float64)
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(512, 3, 3), atol=1e-12)
    angles = Rotation.from_matrix(r.numpy()).as_euler("XYZ", degrees=True)
    assert np.abs(angles).max() <= 45.0 + 1e-9
    assert np.abs(angles).max() > 40.0  # the range is actually used
    again = random_rotation(512, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.equal(r, again)
    assert torch.allclose(random_rotation(4, max_deg=0.0), torch.eye(3).expand(4, 3, 3))


def test_identity_rotation_is_a_no_op():
    img = torch.rand(2, 3, 32, 64)
    out = rotate_equirect(img, torch.eye(3).expand(2, 3, 3))
    assert (out - img).abs().max().item() < 1e-5


def test_rotations_compose_and_invert():
    img = smooth_equirect(128, 256)
    g = torch.Generator().manual_seed(0)
    r1, r2 = random_rotation(1, generator=g), random_rotation(1, generator=g)
    two_step = rotate_equirect(rotate_equirect(img, r1), r2)
    one_step = rotate_equirect(img, r2 @ r1)
    assert (two_step - one_step).abs()[..., 8:-8, :].max().item() < 2e-2
    back = rotate_equirect(rotate_equirect(img, r1), r1.transpose(1, 2))
    assert (back - img).abs()[..., 8:-8, :].max().item() < 2e-2


def test_rotated_projection_equals_projection_of_rotated_content():
    rot = random_rotation(2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    img = smooth_equirect(256, 512).expand(2, -1, -1, -1)
    faces = equirect_to_cube(img, 32, rotation=rot.float())
    # out(d) = img(Rᵀ d): the analytic rotated content along each face ray
    rays = unit(perspective_rays(cube_rotations(dtype=torch.float64), 32, 32, 90.0))
    for b in range(2):
        truth = smooth(torch.einsum("ji,nhwj->nhwi", rot[b], rays)).permute(1, 0, 2, 3).float()
        assert (faces[b] - truth).abs().max().item() < 5e-3


def test_no_seam_at_the_back():
    # the back face straddles lon = ±180°: its error must be no worse than the front face's
    img = smooth_equirect(128, 256)
    faces = equirect_to_cube(img, 48)
    truth = analytic_faces(cube_rotations(), 48, 90.0)
    err = (faces - truth).abs()[0].amax(dim=(1, 2, 3))
    assert err[2] < 2 * err[0] + 1e-4
    assert err.max() < 5e-3


def test_planar_wall_has_constant_face_depth():
    # a room whose walls are the planes |x|, |y|, |z| = 2: every face should see depth 2
    h, w = 512, 1024
    d = equirect_directions(h, w, dtype=torch.float64)
    distance = 2.0 / d.abs().amax(-1)
    faces = equirect_depth_to_cube(distance[None, None], 32)
    assert faces.shape == (1, 6, 1, 32, 32)
    assert (faces - 2.0).abs().max().item() < 0.05
    assert abs(faces.mean().item() - 2.0) < 2e-3


def test_face_depth_rotates_with_the_scene():
    # rotating a box room: planar depth on each face equals the analytic ray-box distance × cos
    h, w = 512, 1024
    rot = rotation_matrix(torch.tensor([20.0, -30.0, 10.0], dtype=torch.float64))
    half = torch.tensor([3.0, 1.5, 2.0], dtype=torch.float64)
    d = equirect_directions(h, w, dtype=torch.float64)
    distance = (half / d.abs().clamp_min(1e-12)).amin(-1)
    faces = equirect_depth_to_cube(distance[None, None], 24, rotation=rot)
    rays = perspective_rays(cube_rotations(dtype=torch.float64), 24, 24, 90.0)  # local z = 1
    src = torch.einsum("ji,nhwj->nhwi", rot[0], unit(rays))  # Rᵀ d
    truth = (half / src.abs().clamp_min(1e-12)).amin(-1) / rays.norm(dim=-1)
    rel = ((faces[0, :, 0] - truth).abs() / truth)
    assert rel.median().item() < 0.01
    assert rel.quantile(0.95).item() < 0.05  # nearest sampling: outliers only at room edges


def test_invalid_depth_never_blends():
    distance = torch.full((1, 1, 64, 128), 3.0)
    distance[..., 20:30, 50:70] = 0.0
    faces = equirect_depth_to_cube(distance, 32)
    vals = faces[faces > 0]
    assert torch.allclose(vals / vals, torch.ones_like(vals))  # no value between 0 and the valid ones
    assert (faces == 0).any()
    cos_min = 1 / math.sqrt(3)
    assert vals.min().item() >= 3.0 * cos_min - 1e-5 and vals.max().item() <= 3.0 + 1e-5


def test_mask_travels_with_bilinear_samples():
    img = torch.rand(1, 3, 64, 128)
    mask = torch.ones(1, 1, 64, 128, dtype=torch.bool)
    faces, face_mask = equirect_to_cube(img, 32, mask=mask)
    assert face_mask.shape == (1, 6, 1, 32, 32) and face_mask.all()
    mask[..., 28:36, 60:68] = False  # a hole straight ahead
    _, face_mask = equirect_to_cube(img, 32, mask=mask)
    assert not face_mask[0, 0].all() and face_mask[0, 1:4].all()
    # any output pixel marked valid has only valid pixels in its support: check with a poison value
    poisoned = img.clone()
    poisoned[..., 28:36, 60:68] = 1e6
    faces_p, _ = equirect_to_cube(poisoned, 32, mask=mask)
    assert (faces_p[face_mask.expand_as(faces_p)] <= 1.0 + 1e-5).all()
    _, nearest_mask = equirect_to_cube(img, 32, mode="nearest", mask=mask)
    assert nearest_mask.sum() >= face_mask.sum()


def test_gradcheck_float64():
    img = torch.rand(1, 2, 8, 16, dtype=torch.float64, requires_grad=True)
    rot = rotation_matrix(torch.tensor([10.0, 20.0, -5.0], dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x: equirect_to_cube(x, 4, rotation=rot), (img,))
    faces = torch.rand(1, 6, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: cube_to_equirect(f, 8, 16), (faces,))
    assert torch.autograd.gradcheck(lambda x: rotate_equirect(x, rot), (img,))


def test_dtype_and_batch_are_preserved():
    img = torch.rand(3, 2, 16, 32, dtype=torch.float64)
    faces = equirect_to_cube(img, 8, rotation=random_rotation(3, dtype=torch.float64))
    assert faces.dtype == torch.float64 and faces.shape == (3, 6, 2, 8, 8)
    # batched call equals per-image calls
    single = torch.cat([equirect_to_cube(img[i : i + 1], 8) for i in range(3)])
    assert torch.allclose(equirect_to_cube(img, 8), single)


def test_icosahedron_tiles_the_sphere():
    for level, n in ((0, 20), (1, 80)):
        tri = icosahedron(level)
        assert tri.shape == (n, 3, 3)
        assert torch.allclose(tri.norm(dim=-1), torch.ones(n, 3, dtype=torch.float64))
        r = tangent_rotations(level, dtype=torch.float64)
        assert torch.allclose(r.transpose(1, 2) @ r, torch.eye(3, dtype=torch.float64).expand(n, 3, 3), atol=1e-12)
        assert torch.allclose(torch.linalg.det(r), torch.ones(n, dtype=torch.float64))
    assert 74.8 < tangent_fov(0) < 85.0  # must exceed twice the 37.4° centre-to-vertex angle


def test_tangent_round_trip_and_face_depth():
    img = smooth_equirect(128, 256)
    patches = equirect_to_tangent(img, 48)
    assert patches.shape == (1, 20, 3, 48, 48)
    rays = unit(perspective_rays(tangent_rotations(dtype=torch.float64), 48, 48, tangent_fov(0)))
    assert (patches[0] - smooth(rays).permute(1, 0, 2, 3)).abs().max().item() < 5e-3
    back = tangent_to_equirect(patches, 128, 256)
    assert (back - img).abs().max().item() < 2e-2
    d = equirect_directions(256, 512, dtype=torch.float64)
    depth = equirect_depth_to_tangent((2.0 / d.abs().amax(-1))[None, None], 16)
    assert depth.shape == (1, 20, 1, 16, 16) and (depth > 0).all()
