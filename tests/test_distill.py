"""The pseudo-label path on a synthetic box room whose exact depth is known."""

from __future__ import annotations

import math

import pytest
import torch

from repro.distill import pseudo_label_loss, student_faces, teacher_targets
from repro.geometry import equirect_directions, random_rotation, rotation_matrix
from repro.geometry.disparity import normalize_01
from repro.teacher import OracleTeacher

H, W, FACE = 32, 64, 16


def box_room(h: int = H, w: int = W, lo=(-2.0, -1.2, -2.5), hi=(3.0, 1.5, 2.0)) -> torch.Tensor:
    """Ray distance (1,1,h,w) from a camera inside an axis-aligned box room (walls at lo/hi)."""
    d = equirect_directions(h, w, dtype=torch.float64)
    wall = torch.where(d > 0, torch.tensor(hi, dtype=torch.float64), torch.tensor(lo, dtype=torch.float64))
    safe = torch.where(d.abs() > 1e-9, d, torch.ones_like(d))
    t = torch.where(d.abs() > 1e-9, wall / safe, torch.full_like(d, math.inf))
    return t.amin(-1).float()[None, None]


def latitude(h: int = H, w: int = W) -> torch.Tensor:
    return torch.asin(equirect_directions(h, w)[..., 1].clamp(-1, 1))


def exact_oracle() -> OracleTeacher:
    return OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0)


@pytest.fixture(scope="module")
def scene():
    distance = box_room().repeat(2, 1, 1, 1)
    rgb = torch.rand(2, 3, H, W, generator=torch.Generator().manual_seed(1))
    rotation = random_rotation(2, 45.0, generator=torch.Generator().manual_seed(0))
    return distance, rgb, rotation


WRONG = {
    "inverted": lambda d: d,  # depth instead of disparity
    "upside_down": lambda d: 1 / d.flip(-2),  # floor and ceiling swapped
    "turned": lambda d: 1 / d.roll(d.shape[-1] // 4, -1),  # the room turned by 90°
}


@pytest.mark.parametrize("projection", ["cube", "tangent"])
@pytest.mark.parametrize("rotate", [False, True])
def test_true_depth_gives_zero_loss_wrong_depth_does_not(scene, projection, rotate):
    distance, rgb, rotation = scene
    targets = teacher_targets(
        exact_oracle(), rgb, None, rotation if rotate else None, projection=projection, face_size=FACE, depth=distance
    )
    n = 6 if projection == "cube" else 20
    assert targets.disparity.shape == (2, n, 1, FACE, FACE) and targets.mask.all()
    assert pseudo_label_loss(1 / distance, targets) < 1e-4
    assert pseudo_label_loss(2.5 / distance, targets) < 1e-4  # the student's scale is free
    for name, wrong in WRONG.items():
        assert pseudo_label_loss(wrong(distance), targets) > 0.2, name  # >1000× the true depth's


def test_equirect_stitched_is_the_misaligned_baseline(scene):
    """Fig. 4: faces stitched back keep their own [0, 1] scales, so even the true depth keeps a large
    loss (the cube variant's is ~0) and a wrong depth is barely worse: the failure the paper shows."""
    distance, rgb, rotation = scene
    targets = teacher_targets(
        exact_oracle(), rgb, None, rotation, projection="equirect_stitched", face_size=FACE, depth=distance
    )
    assert targets.disparity.shape == (2, 1, H, W)
    true = pseudo_label_loss(1 / distance, targets)
    cube = teacher_targets(exact_oracle(), rgb, None, rotation, projection="cube", face_size=FACE, depth=distance)
    assert true > 0.1 > 1000 * pseudo_label_loss(1 / distance, cube)
    for name, wrong in WRONG.items():
        assert pseudo_label_loss(wrong(distance), targets) > true, name
    assert pseudo_label_loss(distance, targets) > 2 * true  # depth instead of disparity


def test_oracle_distortion_and_noise(scene):
    distance, rgb, rotation = scene
    affine = OracleTeacher(scale_range=(0.5, 2), shift_range=(0, 0.3), noise_std=0)
    targets = teacher_targets(affine, rgb, None, rotation, face_size=FACE, depth=distance)
    assert pseudo_label_loss(1 / distance, targets) < 1e-4  # per-face affine distortion is removed
    noisy = teacher_targets(OracleTeacher(noise_std=0.05), rgb, None, rotation, face_size=FACE, depth=distance)
    err = pseudo_label_loss(1 / distance, noisy)
    assert 0.01 < err < pseudo_label_loss(torch.ones_like(distance), noisy)


def test_student_faces_are_planar_disparity_and_differentiable(scene):
    distance, rgb, rotation = scene
    targets = teacher_targets(exact_oracle(), rgb, None, rotation, face_size=FACE, depth=distance)
    pred = (1 / distance).clone().requires_grad_(True)
    faces = student_faces(pred, targets)
    # the front face's centre looks straight ahead: planar depth = distance there (no rotation)
    plain = teacher_targets(exact_oracle(), rgb, None, None, face_size=FACE, depth=distance)
    centre = student_faces(1 / distance, plain)[0, 0, 0, FACE // 2, FACE // 2]
    assert centre.item() == pytest.approx(1 / 2.0, rel=0.05)  # front wall at z = 2
    # per-face normalisation of the student's faces is the teacher target exactly
    assert torch.allclose(normalize_01(faces.detach()), targets.disparity, atol=1e-5)
    loss = pseudo_label_loss(pred * 1.3 + 0.01 * torch.randn_like(pred), targets)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_negative_student_disparity_is_shifted():
    targets = teacher_targets(exact_oracle(), torch.rand(1, 3, H, W), face_size=FACE, depth=box_room())
    pred = 1 / box_room() - 0.3  # part of it below zero
    faces = student_faces(pred, targets)
    assert (faces >= 0).all() and torch.isfinite(faces).all()


class MeanTeacher:
    """A fake teacher: the faces' mean colour as 'disparity' (nonzero everywhere, sky included)."""

    def predict_faces(self, faces, depth=None):
        return normalize_01(faces.mean(1, keepdim=True))


def sky_mask(cap_deg: float = 45.0) -> torch.Tensor:
    return (latitude() < math.radians(cap_deg))[None, None].repeat(2, 1, 1, 1)


def test_mask_goes_through_rotation_and_projection(scene):
    _, rgb, _ = scene
    rotation = rotation_matrix(torch.tensor([[30.0, -20.0, 10.0], [0.0, 0.0, 0.0]]))
    valid = sky_mask(45.0)
    targets = teacher_targets(MeanTeacher(), rgb, valid, rotation, face_size=FACE)
    # a face pixel's ray in the original panorama is R^T d: its latitude decides validity
    from repro.geometry import cube_rotations
    from repro.geometry.perspective import perspective_rays

    rays = perspective_rays(cube_rotations(), FACE, FACE, 90.0)
    rays = rays / rays.norm(dim=-1, keepdim=True)
    for b in range(2):
        orig = torch.einsum("ji,nhwj->nhwi", rotation[b], rays)  # R^T d
        lat = torch.asin(orig[..., 1].clamp(-1, 1))
        mask = targets.mask[b, :, 0]
        margin = math.radians(8)
        assert mask[lat < math.radians(45) - margin].all()
        assert not mask[lat > math.radians(45) + margin].any()
    assert not targets.mask[1, 4, 0, 4:-4, 4:-4].any()  # unrotated: the up face's centre is sky
    assert targets.mask[1, 5].all()  # and the down face is all valid


def test_mask_modes_paper_vs_released_code(scene):
    _, rgb, rotation = scene
    valid = sky_mask(45.0)
    paper = teacher_targets(MeanTeacher(), rgb, valid, rotation, face_size=FACE, mask_mode="paper")
    released = teacher_targets(MeanTeacher(), rgb, valid, rotation, face_size=FACE, mask_mode="released_code")
    assert torch.equal(paper.disparity, released.disparity)
    assert paper.mask.float().mean() < 0.9
    # released code: the sky mask is lost; only zero-disparity pixels (each face's minimum) drop out
    assert torch.equal(released.mask, released.disparity > 0)
    assert released.mask.float().mean() > 0.98
    stitched = teacher_targets(MeanTeacher(), rgb, valid, rotation, face_size=FACE, projection="equirect_stitched")
    assert not (stitched.mask & ~valid).any()


def test_rotation_switch_and_reproducibility(scene):
    distance, rgb, _ = scene
    assert teacher_targets(exact_oracle(), rgb, None, None, face_size=FACE, depth=distance).rotation is None

    def make():
        rotation = random_rotation(rgb.shape[0], 45.0, generator=torch.Generator().manual_seed(3))
        return teacher_targets(exact_oracle(), rgb, None, rotation, face_size=FACE, depth=distance)

    a, b = make(), make()
    assert a.rotation is not None and torch.equal(a.rotation, b.rotation) and torch.equal(a.disparity, b.disparity)
    angles_ok = torch.linalg.det(a.rotation).sub(1).abs().max() < 1e-5
    assert angles_ok
    with pytest.raises(ValueError, match="projection"):
        teacher_targets(exact_oracle(), rgb, projection="sphere", depth=distance)


def test_depth_anything_teacher_end_to_end():
    """The real teacher class (tiny random weights) through the whole path, with a sky mask."""
    from repro.teacher import build_teacher

    torch.manual_seed(0)
    teacher = build_teacher("tiny", random_init=True, input_size=28, chunk_size=5)
    rgb = torch.rand(2, 3, H, W)
    rotation = random_rotation(2, 45.0, generator=torch.Generator().manual_seed(0))
    targets = teacher_targets(teacher, rgb, sky_mask(45.0), rotation, face_size=FACE)
    assert targets.disparity.shape == (2, 6, 1, FACE, FACE)
    flat = targets.disparity.flatten(2)
    assert torch.allclose(flat.amin(-1), torch.zeros(2, 6)) and torch.allclose(flat.amax(-1), torch.ones(2, 6))
    pred = torch.rand(2, 1, H, W, requires_grad=True)
    loss = pseudo_label_loss(pred, targets)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0 and pred.grad.abs().sum() > 0
