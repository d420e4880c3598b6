"""The pseudo-label path (paper §3.1–3.2): teacher and student meet on randomly rotated faces.

For an unlabeled batch (un-jittered RGB in [0, 1], its sky/watermark validity mask) and rotations R:

1. **Teacher faces.** The RGB is rotated by R and projected to perspective faces in one resampling
   (``repro.geometry``); the teacher predicts disparity per face, min–max normalised to [0, 1]. The
   mask goes through the same rotation and projection; a face pixel is valid only if its whole
   bilinear support was valid.
2. **Student faces.** The student's equirect disparity is rotated by the same R and projected with
   nearest sampling after converting disparity → ray distance; each face takes the *planar* depth
   ``z = distance · cos(angle to the face axis)`` the teacher sees, and z → disparity again.
3. **Loss.** The affine-invariant L1 (``repro.losses``), one alignment per face, on valid pixels.

Projection variants (paper Table 8 and Fig. 4): ``cube`` (default, 6 faces of 90°), ``tangent``
(20 icosahedral tangent images) and ``equirect_stitched`` (the teacher's faces stitched back into a
panorama and the loss taken there against the student's panorama — the failure case of Fig. 4:
every face carries its own scale and shift). ``rotation_max_deg = 0`` turns rotation off (Fig. 5).

``mask_mode`` names a difference between paper and released code:

* ``paper``: sky/watermark pixels are excluded (paper §3.1, A.1).
* ``released_code``: the released ``train.py`` builds its mask as ``depths > 0 & mask_cube_sky``,
  which Python parses as ``depths > (0 & mask_cube_sky)`` = ``depths > 0``: the sky mask is lost and
  only zero-disparity teacher pixels (each face's minimum after normalisation) are excluded.

Negative student disparity (an affine-invariant output may go below 0) is shifted up by the batch
minimum before the conversion to distance, as the released code does; pixels at zero disparity then
have no distance and stay 0 on the faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from repro.choices import MaskMode, Projection, check
from repro.geometry import (
    cube_to_equirect,
    equirect_depth_to_cube,
    equirect_depth_to_tangent,
    equirect_to_cube,
    equirect_to_tangent,
)
from repro.geometry.disparity import depth_to_disparity
from repro.losses import Reduction, affine_invariant_l1


def _check(projection: str, mask_mode: str) -> None:
    check(Projection, projection, "projection")
    check(MaskMode, mask_mode, "mask_mode")


def project(
    equi: torch.Tensor,
    face_size: int,
    projection: Projection,
    rotation: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """RGB panoramas (B,C,H,W) -> faces (B,N,C,w,w) and, with ``mask``, fully-valid face masks."""
    fn = equirect_to_tangent if projection == "tangent" else equirect_to_cube
    out = fn(equi, face_size, rotation=rotation, mask=mask)
    return out if mask is not None else (out, None)


def project_depth(
    distance: torch.Tensor, face_size: int, projection: Projection, rotation: torch.Tensor | None
) -> torch.Tensor:
    """Ray distance (B,1,H,W), 0 = invalid -> planar depth per face (B,N,1,w,w), nearest sampling."""
    fn = equirect_depth_to_tangent if projection == "tangent" else equirect_depth_to_cube
    return fn(distance, face_size, rotation=rotation)


def stitch(faces: torch.Tensor, height: int, width: int, rotation: torch.Tensor | None) -> torch.Tensor:
    """Cube faces of rotated panoramas (B,6,C,w,w) -> unrotated panoramas (B,C,H,W)."""
    return cube_to_equirect(faces, height, width, rotation=rotation)


@dataclass
class PseudoTargets:
    """The teacher's side of one batch: targets and masks shaped like the student side will be."""

    disparity: torch.Tensor  # (B,N,1,w,w) faces, or (B,1,H,W) for equirect_stitched
    mask: torch.Tensor  # bool, same shape
    rotation: torch.Tensor | None  # (B,3,3) or None (rotation off)
    projection: Projection
    face_size: int


@torch.no_grad()
def teacher_targets(
    teacher: Any,
    rgb: torch.Tensor,
    valid: torch.Tensor | None = None,
    rotation: torch.Tensor | None = None,
    *,
    projection: Projection = "cube",
    face_size: int = 256,
    mask_mode: MaskMode = "paper",
    depth: torch.Tensor | None = None,
) -> PseudoTargets:
    """Step 1: rotate, project, run the teacher on all B·N faces (chunked inside the teacher).

    ``rgb`` is the un-jittered RGB in [0, 1]; ``valid`` (B,1,H,W) the sky/watermark mask (None: all
    valid); ``depth`` (B,1,H,W) the true ray distance, needed only by the oracle teacher.
    """
    _check(projection, mask_mode)
    b, _, h, w = rgb.shape
    valid = torch.ones(b, 1, h, w, dtype=torch.bool, device=rgb.device) if valid is None else valid.bool()
    faces, face_valid = project(rgb, face_size, projection, rotation, mask=valid)
    n = faces.shape[1]
    depth_faces = project_depth(depth, face_size, projection, rotation) if depth is not None else None
    disp = teacher.predict_faces(
        faces.reshape(b * n, 3, face_size, face_size),
        depth=depth_faces.reshape(b * n, 1, face_size, face_size) if depth_faces is not None else None,
    ).reshape(b, n, 1, face_size, face_size)
    if mask_mode == "released_code":
        mask = disp > 0  # `depths > 0 & mask` == `depths > (0 & mask)`: the sky mask drops out
    else:
        mask = face_valid & torch.isfinite(disp)
        if depth_faces is not None:
            mask = mask & (depth_faces > 0)  # the oracle knows nothing where the world has no depth
    if projection == "equirect_stitched":
        disp = stitch(disp, h, w, rotation)
        stitched_valid = stitch(mask.to(disp.dtype), h, w, rotation) >= 1.0 - 1e-3
        mask = stitched_valid & (valid if mask_mode == "paper" else disp > 0)
    return PseudoTargets(disp, mask, rotation, projection, face_size)


def student_faces(pred: torch.Tensor, targets: PseudoTargets) -> torch.Tensor:
    """Step 2: the student's equirect disparity (B,1,H,W) brought into the teacher's frame.

    Differentiable w.r.t. ``pred``. For ``equirect_stitched`` the panorama itself is returned.
    """
    if pred.dim() != 4 or pred.shape[1] != 1:
        raise ValueError(f"student prediction must be (B,1,H,W), got {tuple(pred.shape)}")
    pred = pred.float()
    if targets.projection == "equirect_stitched":
        return pred
    shift = pred.min()
    disp = pred - shift if shift < 0 else pred  # disparity must be >= 0 to be a physical 1/distance
    distance = depth_to_disparity(disp)  # 1/x, 0 stays 0: the same map takes disparity to distance
    planar = project_depth(distance, targets.face_size, targets.projection, targets.rotation)
    return depth_to_disparity(planar)


def pseudo_label_loss(pred: torch.Tensor, targets: PseudoTargets, reduction: Reduction = "per_map") -> torch.Tensor:
    """Step 3: affine-invariant L1 per face (or per panorama for ``equirect_stitched``)."""
    return affine_invariant_l1(student_faces(pred, targets), targets.disparity, targets.mask, reduction=reduction)
