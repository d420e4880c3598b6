"""Perspective cameras sharing the panorama's centre: the common core of cube and tangent images.

A camera set is ``N`` rotations ``R_i`` (columns: the camera's right, up and forward axes in the
world) and a field of view. Local pixel rays are ``(x, y, 1)`` on the grid
``x ∈ linspace(−t, t, w)``, ``y ∈ linspace(t', −t', h)`` with ``t = tan(fov/2)`` (py360convert's grid);
world rays are ``R_i (x, y, 1)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from repro.geometry.sphere import (
    Mode,
    _work_dtype,
    equirect_directions,
    inverse_rotate,
    sample_equirect,
)


def _half_extents(height: int, width: int, fov_deg: float) -> tuple[float, float]:
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    tx = math.tan(math.radians(fov_deg) / 2)
    ty = tx * (height - 1) / (width - 1) if width > 1 else tx
    return tx, ty


def perspective_rays(rotations: torch.Tensor, height: int, width: int, fov_deg: float) -> torch.Tensor:
    """World rays (N, h, w, 3) of each camera's pixel centres; length = 1/cos(angle to the axis)."""
    return camera_rays(rotations, height, width, fov_deg)[0]


def camera_rays(
    rotations: torch.Tensor, height: int, width: int, fov_deg: float, rotation: torch.Tensor | None = None
) -> torch.Tensor:
    """Rays (B', N, h, w, 3) of N cameras in B' panoramas rotated by ``rotation`` (B',3,3) (B' = 1: none).

    Sampling a panorama rotated by R along ``d`` samples the original along ``Rᵀ d``, so the
    rotation is folded into the cameras (``Rᵀ R_i``, 3×3 each) and costs nothing per pixel. A ray is
    ``M (x, y, 1)`` with x varying along columns and y along rows, i.e. an outer sum per
    component; the components are stored planar (the returned tensor is a view), which the
    trigonometry downstream reads fastest.
    """
    tx, ty = _half_extents(height, width, fov_deg)
    dtype, device = rotations.dtype, rotations.device
    x = torch.linspace(-tx, tx, width, dtype=dtype, device=device)
    y = torch.linspace(ty, -ty, height, dtype=dtype, device=device)
    axes = inverse_rotate(rotations.transpose(-1, -2), rotation)  # (B', N, axis, component): Rᵀ R_i
    # (B', axis, component, N, 1, 1), contiguous so the result below is laid out planar
    cols = axes.permute(0, 2, 3, 1).contiguous()[..., None, None]
    planar = cols[:, 0] * x + (cols[:, 1] * y[:, None] + cols[:, 2])  # (B', 3, N, h, w)
    return planar.permute(0, 2, 3, 4, 1)


def _as_faces(out: torch.Tensor) -> torch.Tensor:
    """(B, C, N, h, w) from the sampler -> (B, N, C, h, w)."""
    return out.permute(0, 2, 1, 3, 4)


def equirect_to_perspective(
    equi: torch.Tensor,
    rotations: torch.Tensor,
    size: int | tuple[int, int],
    fov_deg: float,
    rotation: torch.Tensor | None = None,
    mode: Mode = "bilinear",
    mask: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Project panoramas (B,C,H,W) into N perspective images -> (B, N, C, h, w).

    ``rotation`` (B,3,3) first rotates each panorama (folded into the rays: one resampling).
    With ``mask`` (B,1,H,W) returns ``(images, masks)``; see :func:`sample_equirect`.
    """
    h, w = (size, size) if isinstance(size, int) else size
    work = _work_dtype(equi.dtype)
    rays = camera_rays(rotations.to(device=equi.device, dtype=work), h, w, fov_deg, rotation)
    out = sample_equirect(equi, rays, mode=mode, mask=mask)
    if mask is None:
        return _as_faces(out)
    return _as_faces(out[0]), _as_faces(out[1])


def equirect_depth_to_perspective(
    distance: torch.Tensor,
    rotations: torch.Tensor,
    size: int | tuple[int, int],
    fov_deg: float,
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Panorama ray distance (B,1,H,W) -> planar z-depth per camera (B, N, 1, h, w).

    Nearest sampling, so an invalid (0) pixel stays 0 and never blends with valid ones.
    """
    if distance.dim() != 4 or distance.shape[1] != 1:
        raise ValueError(f"distance must be (B,1,H,W), got {tuple(distance.shape)}")
    h, w = (size, size) if isinstance(size, int) else size
    work = _work_dtype(distance.dtype)
    rays = camera_rays(rotations.to(device=distance.device, dtype=work), h, w, fov_deg, rotation)
    sampled = _as_faces(sample_equirect(distance, rays, mode="nearest"))
    cos = rays[0].norm(dim=-1).reciprocal().to(distance.dtype)  # (N, h, w): local z / |ray| (rotation-free)
    return sampled * cos[None, :, None]


def perspective_to_equirect(
    images: torch.Tensor,
    rotations: torch.Tensor,
    height: int,
    width: int,
    fov_deg: float,
    mode: Mode = "bilinear",
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Stitch N perspective images (B,N,C,h,w) into panoramas (B,C,H,W).

    Each panorama pixel is taken from the camera whose axis is closest to its ray (for the cube:
    the face it lies on). The images are stacked into one tall image and sampled with a single
    ``grid_sample``; coordinates are clamped inside each image so no face bleeds into the next.
    If the images were taken from panoramas rotated by ``rotation``, pass it to undo it.
    """
    if images.dim() != 5:
        raise ValueError(f"images must be (B,N,C,h,w), got {tuple(images.shape)}")
    b, n, c, h, w = images.shape
    if rotations.shape != (n, 3, 3):
        raise ValueError(f"rotations must be ({n},3,3) for {n} images, got {tuple(rotations.shape)}")
    work = _work_dtype(images.dtype)
    rots = rotations.to(device=images.device, dtype=work)
    dirs = equirect_directions(height, width, device=images.device, dtype=work)
    if rotation is not None:  # the content at d of the original sits at R d in the rotated panorama
        dirs = torch.einsum("bij,hwj->bhwi", rotation.to(device=images.device, dtype=work), dirs)
    else:
        dirs = dirs.unsqueeze(0)
    face = torch.einsum("bhwj,nj->bhwn", dirs, rots[:, :, 2]).argmax(-1)  # (B', H, W)
    local = torch.einsum("bhwji,bhwj->bhwi", rots[face], dirs)
    tx, ty = _half_extents(h, w, fov_deg)
    col = ((local[..., 0] / local[..., 2] / tx + 1) * 0.5 * (w - 1)).clamp(0, w - 1)
    row = ((1 - local[..., 1] / local[..., 2] / ty) * 0.5 * (h - 1)).clamp(0, h - 1)
    row = row + face.to(work) * h
    grid = torch.stack((col * (2.0 / max(w - 1, 1)) - 1, row * (2.0 / (n * h - 1)) - 1), -1).to(images.dtype)
    tall = images.permute(0, 2, 1, 3, 4).reshape(b, c, n * h, w)
    if grid.shape[0] == 1 and b > 1:
        tall = tall.reshape(1, b * c, n * h, w)
    out = F.grid_sample(tall, grid, mode=mode, padding_mode="border", align_corners=True)
    return out.reshape(b, c, height, width)
