"""The released code's sampling conventions as named options (issue 17), without the released code."""

import math

import torch

from repro.distill import project, project_depth, teacher_targets
from repro.geometry import equirect_to_cube, rotation_matrix
from repro.geometry.released import (
    ReleasedProjection,
    draw_rotations,
    euler_draw,
    flip_frame,
    released_face_rays,
    rotate_equirect_released,
)
from repro.run_settings import DistillSpec, MaskSpec, Schedule

H, W, FACE = 32, 64, 16


def test_y_down_angles_are_negated_x_and_z_in_our_frame():
    u = torch.tensor([[0.1, 0.7, 0.35]])
    deg = (u - 0.5) * 90
    down = euler_draw(u, 45.0, "y_down")
    ours = rotation_matrix(deg * torch.tensor([-1.0, 1.0, -1.0])).float()
    assert torch.allclose(down, ours, atol=1e-6)
    assert not torch.allclose(down, euler_draw(u, 45.0, "y_up"), atol=1e-3)


def test_released_draw_is_float32_rand_of_the_generator():
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    rot = draw_rotations(1, 45.0, g1, frame="y_down")
    u = torch.rand(1, 3, generator=g2)
    assert torch.equal(rot, flip_frame(euler_draw(u, 45.0, "y_up")))
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3)[None], atol=1e-6)


def test_released_intrinsics_are_f_half_w():
    rays = released_face_rays(FACE)  # F face first, y-down frame
    front = rays[0] / rays[0][..., 2:]
    # K = [[w/2, 0, (w-1)/2], ...]: pixel 0 sits at x = -(w-1)/w, one half pixel inside the border
    assert math.isclose(float(front[0, 0, 0]), -(FACE - 1) / FACE, rel_tol=1e-9)
    assert math.isclose(float(front[0, -1, 0]), (FACE - 1) / FACE, rel_tol=1e-9)
    assert float(front[0, 0, 1]) < 0  # top row looks up (y down is negative)


def test_identity_rotation_pass_moves_pixels_but_not_content_far():
    x = torch.rand(1, 1, H, W)
    out = rotate_equirect_released(x, torch.eye(3)[None])
    assert not torch.allclose(out, x)  # the align_corners grid shifts pixel centres
    ramp = torch.linspace(0, 1, W).expand(1, 1, H, W)
    moved = rotate_equirect_released(ramp, torch.eye(3)[None])
    assert (moved - ramp).abs().max() < 1.0 / W  # ...by less than a pixel


def test_released_faces_follow_our_face_order():
    # a panorama whose value is the world x coordinate of each pixel's direction
    lon = (torch.arange(W) + 0.5) / W * 2 * math.pi - math.pi
    lat = math.pi / 2 - (torch.arange(H) + 0.5) / H * math.pi
    x = (torch.cos(lat)[:, None] * torch.sin(lon)[None]).expand(1, 1, H, W).contiguous()
    ours = equirect_to_cube(x, FACE)
    released = ReleasedProjection(FACE).project(x)
    centre = slice(FACE // 2 - 1, FACE // 2 + 1)
    assert torch.allclose(released[..., centre, centre].mean((-1, -2)), ours[..., centre, centre].mean((-1, -2)), atol=0.05)


def test_separate_pass_equals_rotate_then_project():
    rgb = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 8), (H, W), mode="bilinear")  # smooth
    rot = draw_rotations(1, 45.0, torch.Generator().manual_seed(1), frame="y_down")
    faces, _ = project(rgb, FACE, "cube", rot, sampling="released_code", rotation_pass="separate")
    expected = ReleasedProjection(FACE).project(rotate_equirect_released(rgb, rot))
    assert torch.equal(faces, expected)
    folded, _ = project(rgb, FACE, "cube", rot, sampling="released_code", rotation_pass="folded")
    assert (folded - faces).abs().mean() < 0.05 and not torch.equal(folded, faces)


def test_planar_depth_of_a_sphere_is_its_cosine():
    distance = torch.full((1, 1, H, W), 2.0)
    planar = project_depth(distance, FACE, "cube", None, sampling="released_code")
    assert planar.shape == (1, 6, 1, FACE, FACE)
    assert planar.max() <= 2.0 + 1e-5 and planar.min() > 2.0 / math.sqrt(3) - 0.1


class _MeanTeacher:
    def predict_faces(self, faces, depth=None):
        from repro.geometry.disparity import normalize_01

        return normalize_01(faces.mean(1, keepdim=True) + torch.linspace(0, 1, faces.shape[-1]))


def test_released_mask_is_all_ones_without_a_mask_file():
    rgb = torch.rand(2, 3, H, W)
    valid = torch.ones(2, 1, H, W, dtype=torch.bool)
    valid[:, :, :4] = False
    has = torch.tensor([True, False])
    t = teacher_targets(_MeanTeacher(), rgb, valid, None, face_size=FACE, mask_mode="released_code", has_mask=has)
    assert t.mask[1].all()  # no mask file: every pixel counts
    assert not t.mask[0].all() and t.mask[0].float().mean() > 0.9  # the slip: only `disp > 0`
    none = teacher_targets(_MeanTeacher(), rgb, None, None, face_size=FACE, mask_mode="released_code")
    assert none.mask.all()


def test_settings_carry_the_released_options():
    spec = DistillSpec(sampling="released_code", rotation_pass="separate", rotation_frame="y_down")
    assert spec.sampling == "released_code"
    masks = MaskSpec(masked_datasets=["spatialaudiogen"], min_valid_fraction=0.0)
    assert masks.applies_to("spatialaudiogen") and not masks.applies_to("structured3d")
    assert Schedule(betas=(0.9, 0.999), weight_decay=0.0, scheduler="constant").scheduler == "constant"
