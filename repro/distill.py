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
  only zero-disparity teacher pixels (each face's minimum after normalisation) are excluded. An
  image without a mask file (``has_mask`` False) gets an all-ones mask, as there.

``sampling`` and ``rotation_pass`` name the released code's sampling geometry (f = w/2 faces sampled
with ``align_corners=True``; a separate ``EquirecRotate`` pass before the projection); see
:mod:`repro.geometry.released`. The defaults keep py360convert's conventions and one resampling.

Negative student disparity (an affine-invariant output may go below 0) is shifted up by the batch
minimum before the conversion to distance, as the released code does; pixels at zero disparity then
have no distance and stay 0 on the faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import torch

from repro.choices import MaskMode, Projection, RotationPass, Sampling, check
from repro.geometry import (
    cube_to_equirect,
    equirect_depth_to_cube,
    equirect_depth_to_tangent,
    equirect_to_cube,
    equirect_to_tangent,
    rotate_equirect,
)
from repro.geometry.disparity import depth_to_disparity
from repro.geometry.released import ReleasedProjection, rotate_equirect_released
from repro.geometry.tangent import tangent_fov, tangent_rotations
from repro.losses import Reduction, affine_invariant_l1

#: teacher images per panorama (tangent: the 20 icosahedral faces of level 0)
FACES_PER_PANORAMA: dict[str, int] = {"cube": 6, "equirect_stitched": 6, "tangent": 20}


def _check(projection: str, mask_mode: str, sampling: str = "py360convert", rotation_pass: str = "folded") -> None:
    check(Projection, projection, "projection")
    check(MaskMode, mask_mode, "mask_mode")
    check(Sampling, sampling, "sampling")
    check(RotationPass, rotation_pass, "rotation_pass")


@lru_cache(maxsize=8)
def _released_projection(face_size: int, projection: Projection) -> ReleasedProjection:
    if projection == "tangent":
        return ReleasedProjection(face_size, tangent_fov(0), tangent_rotations(0, dtype=torch.float64))
    return ReleasedProjection(face_size)


def _rotate(
    x: torch.Tensor, rotation: torch.Tensor, sampling: Sampling, mode: Literal["bilinear", "nearest"]
) -> torch.Tensor:
    """The separate rotation pass (``rotation_pass="separate"``) in the given sampling convention."""
    fn = rotate_equirect_released if sampling == "released_code" else rotate_equirect
    return fn(x, rotation, mode=mode)  # type: ignore[return-value]


def project(
    equi: torch.Tensor,
    face_size: int,
    projection: Projection,
    rotation: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    sampling: Sampling = "py360convert",
    rotation_pass: RotationPass = "folded",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """RGB panoramas (B,C,H,W) -> faces (B,N,C,w,w) and, with ``mask``, fully-valid face masks.

    With ``rotation_pass="separate"`` the panorama (and the mask, as a value, thresholded only
    once after projection, as the released code does) is rotated first, then projected.
    """
    if rotation is not None and rotation_pass == "separate":
        c = equi.shape[1]
        stacked = equi if mask is None else torch.cat((equi, mask.to(equi.dtype)), 1)
        rotated = _rotate(stacked, rotation, sampling, "bilinear")
        equi, mask, rotation = rotated[:, :c], (rotated[:, c:] if mask is not None else None), None
    if sampling == "released_code":
        out = _released_projection(face_size, projection).project(equi, rotation, mask=mask)
    else:
        fn = equirect_to_tangent if projection == "tangent" else equirect_to_cube
        out = fn(equi, face_size, rotation=rotation, mask=mask)
    return out if mask is not None else (out, None)  # type: ignore[return-value]


def project_depth(
    distance: torch.Tensor,
    face_size: int,
    projection: Projection,
    rotation: torch.Tensor | None,
    sampling: Sampling = "py360convert",
    rotation_pass: RotationPass = "folded",
) -> torch.Tensor:
    """Ray distance (B,1,H,W), 0 = invalid -> planar depth per face (B,N,1,w,w), nearest sampling."""
    if rotation is not None and rotation_pass == "separate":
        distance, rotation = _rotate(distance, rotation, sampling, "nearest"), None
    if sampling == "released_code":
        return _released_projection(face_size, projection).project_planar_depth(distance, rotation)
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
    sampling: Sampling = "py360convert"
    rotation_pass: RotationPass = "folded"


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
    sampling: Sampling = "py360convert",
    rotation_pass: RotationPass = "folded",
    has_mask: torch.Tensor | None = None,
) -> PseudoTargets:
    """Step 1: rotate, project, run the teacher on all B·N faces (chunked inside the teacher).

    ``rgb`` is the un-jittered RGB in [0, 1]; ``valid`` (B,1,H,W) the sky/watermark mask (None: all
    valid); ``depth`` (B,1,H,W) the true ray distance, needed only by the oracle teacher.
    ``has_mask`` (B,) says which images had a mask file (default: all of them when ``valid`` is
    given, none otherwise); only ``mask_mode="released_code"`` reads it (see the module docstring).
    """
    _check(projection, mask_mode, sampling, rotation_pass)
    b, _, h, w = rgb.shape
    if has_mask is None:
        has_mask = torch.full((b,), valid is not None, dtype=torch.bool, device=rgb.device)
    valid = torch.ones(b, 1, h, w, dtype=torch.bool, device=rgb.device) if valid is None else valid.bool()
    geometry = {"sampling": sampling, "rotation_pass": rotation_pass}
    faces, face_valid = project(rgb, face_size, projection, rotation, mask=valid, **geometry)
    n = faces.shape[1]
    depth_faces = project_depth(depth, face_size, projection, rotation, **geometry) if depth is not None else None
    disp = teacher.predict_faces(
        faces.reshape(b * n, 3, face_size, face_size),
        depth=depth_faces.reshape(b * n, 1, face_size, face_size) if depth_faces is not None else None,
    ).reshape(b, n, 1, face_size, face_size)
    if mask_mode == "released_code":
        # `depths > 0 & mask` == `depths > (0 & mask)`: the sky mask drops out; without a mask file
        # the released code uses an all-ones mask
        mask = (disp > 0) | ~has_mask.to(disp.device).view(b, 1, 1, 1, 1)
    else:
        mask = face_valid & torch.isfinite(disp)
        if depth_faces is not None:
            mask = mask & (depth_faces > 0)  # the oracle knows nothing where the world has no depth
    if projection == "equirect_stitched":
        disp = stitch(disp, h, w, rotation)
        stitched_valid = stitch(mask.to(disp.dtype), h, w, rotation) >= 1.0 - 1e-3
        released = (disp > 0) | ~has_mask.to(disp.device).view(b, 1, 1, 1)
        mask = stitched_valid & (valid if mask_mode == "paper" else released)
    return PseudoTargets(disp, mask, rotation, projection, face_size, sampling, rotation_pass)


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
    planar = project_depth(
        distance, targets.face_size, targets.projection, targets.rotation, targets.sampling, targets.rotation_pass
    )
    return depth_to_disparity(planar)


def pseudo_label_loss(pred: torch.Tensor, targets: PseudoTargets, reduction: Reduction = "per_map") -> torch.Tensor:
    """Step 3: affine-invariant L1 per face (or per panorama for ``equirect_stitched``)."""
    return affine_invariant_l1(student_faces(pred, targets), targets.disparity, targets.mask, reduction=reduction)
