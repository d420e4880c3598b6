"""Icosahedral tangent images (the projection ablation of the paper's Table 8).

Level 0 has one perspective image per icosahedron face (20); each further level splits every
face into four (20·4^level). Each camera looks at its face's centroid (projected on the sphere)
with the world's up (y) as up where possible; the default FoV is the smallest that keeps the
whole face triangle in the square image, plus 5 %, so the images jointly cover the sphere.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from repro.geometry.perspective import (
    equirect_depth_to_perspective,
    equirect_to_perspective,
    perspective_to_equirect,
)
from repro.geometry.sphere import Mode

_FOV_MARGIN = 1.05


@lru_cache(maxsize=8)
def _icosahedron64(level: int) -> torch.Tensor:
    phi = (1 + 5**0.5) / 2
    verts = []
    for a in (-1.0, 1.0):
        for b in (-phi, phi):
            verts += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    v = torch.tensor(verts, dtype=torch.float64)
    idx = [
        (i, j, k)
        for i in range(12)
        for j in range(i + 1, 12)
        for k in range(j + 1, 12)
        if all(abs((v[p] - v[q]).norm().item() - 2.0) < 1e-9 for p, q in ((i, j), (j, k), (i, k)))
    ]
    tri = v[torch.tensor(idx)]
    tri = tri / tri.norm(dim=-1, keepdim=True)
    for _ in range(level):
        a, b, c = tri.unbind(1)
        ab, bc, ca = (x / x.norm(dim=-1, keepdim=True) for x in (a + b, b + c, c + a))
        tri = torch.cat([torch.stack(t, 1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return tri


def icosahedron(level: int = 0) -> torch.Tensor:
    """Spherical triangles (20·4^level, 3, 3) of the (subdivided) icosahedron, unit vertices."""
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}")
    return _icosahedron64(level).clone()


def _rotations64(level: int) -> torch.Tensor:
    centres = icosahedron(level).mean(1)
    fwd = centres / centres.norm(dim=-1, keepdim=True)
    hint = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand_as(fwd).clone()
    hint[fwd[:, 1].abs() > 0.999] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    right = torch.linalg.cross(hint, fwd)
    right = right / right.norm(dim=-1, keepdim=True)
    up = torch.linalg.cross(fwd, right)
    return torch.stack((right, up, fwd), -1)


def tangent_rotations(
    level: int = 0, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """(N, 3, 3) camera rotations (columns right, up, forward) of the tangent images."""
    return _rotations64(level).to(device=device, dtype=dtype or torch.get_default_dtype())


def tangent_fov(level: int = 0) -> float:
    """Default FoV (degrees): the whole face triangle fits in the square image, plus 5 %."""
    local = torch.einsum("nji,nkj->nki", _rotations64(level), icosahedron(level))
    t = (local[..., :2].abs() / local[..., 2:]).max().item()
    return math.degrees(2 * math.atan(_FOV_MARGIN * t))


def equirect_to_tangent(
    equi: torch.Tensor,
    face_w: int,
    level: int = 0,
    fov_deg: float | None = None,
    rotation: torch.Tensor | None = None,
    mode: Mode = "bilinear",
    mask: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Panoramas (B,C,H,W) -> tangent images (B, N, C, w, w)."""
    fov = fov_deg if fov_deg is not None else tangent_fov(level)
    return equirect_to_perspective(equi, tangent_rotations(level), face_w, fov, rotation, mode, mask)


def equirect_depth_to_tangent(
    distance: torch.Tensor,
    face_w: int,
    level: int = 0,
    fov_deg: float | None = None,
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Ray distance (B,1,H,W) -> planar depth per tangent image (B, N, 1, w, w)."""
    fov = fov_deg if fov_deg is not None else tangent_fov(level)
    return equirect_depth_to_perspective(distance, tangent_rotations(level), face_w, fov, rotation)


def tangent_to_equirect(
    images: torch.Tensor,
    height: int,
    width: int,
    level: int = 0,
    fov_deg: float | None = None,
    mode: Mode = "bilinear",
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Tangent images (B, N, C, w, w) -> panoramas (B, C, H, W) (nearest camera per pixel)."""
    fov = fov_deg if fov_deg is not None else tangent_fov(level)
    return perspective_to_equirect(images, tangent_rotations(level), height, width, fov, mode, rotation)
