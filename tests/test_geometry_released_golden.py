"""repro.geometry.released against the released code's own outputs (tests/fixtures/released_golden.pt,
written by ``RELEASED_SRC=... python -m benchmarks.parity.golden``): the released conventions stay
pinned where the released code is not at hand. The full-size comparison is benchmarks/parity."""

from pathlib import Path

import pytest
import torch

from repro.geometry.disparity import disparity_to_depth
from repro.geometry.released import RELEASED_TO_OURS, ReleasedProjection, draw_rotations, rotate_equirect_released

GOLDEN = torch.load(Path(__file__).parent / "fixtures" / "released_golden.pt", weights_only=True)
SEED = 3  # benchmarks/parity/golden.py
ORDER = list(RELEASED_TO_OURS)  # released faces (B D F L R U) -> ours (F R B L U D)


@pytest.fixture(scope="module")
def rotation() -> torch.Tensor:
    return draw_rotations(1, 45.0, torch.Generator().manual_seed(SEED), frame="y_down")


def test_the_released_draw_gives_the_same_angles():
    u = torch.rand(1, 3, generator=torch.Generator().manual_seed(SEED))
    assert torch.equal(((u - 0.5) * 90)[0], GOLDEN["rot_vec"])


def test_rotation_pass_matches_the_released_equirec_rotate(rotation):
    ours = rotate_equirect_released(GOLDEN["rgb"], rotation)
    assert (ours - GOLDEN["rotated_bilinear"]).abs().max() < 1e-5
    assert torch.equal(rotate_equirect_released(GOLDEN["disparity"], rotation, "nearest"), GOLDEN["rotated_nearest"])


def test_faces_match_the_released_equirec2cube():
    proj = ReleasedProjection(GOLDEN["rgb"].shape[-2] // 2)
    faces = proj.project(GOLDEN["rotated_bilinear"])
    assert faces.shape == (2, 6, 3, 16, 16)
    assert (faces - GOLDEN["faces_bilinear"][:, ORDER]).abs().max() < 1e-5
    assert torch.equal(proj.project(GOLDEN["rotated_nearest"], mode="nearest"), GOLDEN["faces_nearest"][:, ORDER])


def test_the_sky_mask_path_matches_pixel_for_pixel(rotation):
    proj = ReleasedProjection(16)
    # the released code rotates the mask as a float image and thresholds once, after the projection
    rotated_mask = rotate_equirect_released(GOLDEN["mask"].float(), rotation)
    _, sky = proj.project(rotate_equirect_released(GOLDEN["rgb"], rotation), mask=rotated_mask)
    assert torch.equal(sky, GOLDEN["sky_faces"][:, ORDER])
    assert 0 < sky.float().mean() < 1


def test_planar_depth_matches_the_released_process_output(rotation):
    proj = ReleasedProjection(16)
    distance = disparity_to_depth(rotate_equirect_released(GOLDEN["disparity"], rotation, "nearest"))
    planar = proj.project_planar_depth(distance)
    cube_disparity = torch.where(planar != 0, 1.0 / torch.where(planar != 0, planar, 1.0), 0.0)
    expected = GOLDEN["cube_disparity"][:, ORDER]
    assert (cube_disparity - expected).abs().max() <= 1e-6 * expected.abs().max()
    assert (expected == 0).any() and (expected > 0).any()  # the invalid rows reach the faces
