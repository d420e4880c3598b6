"""Cube maps: six 90° perspective faces in py360convert's order and orientation (F R B L U D)."""

from __future__ import annotations

import torch

from repro.geometry.perspective import (
    equirect_depth_to_perspective,
    equirect_to_perspective,
    perspective_to_equirect,
)
from repro.geometry.sphere import Mode

CUBE_FACES: tuple[str, ...] = ("F", "R", "B", "L", "U", "D")
CUBE_FOV_DEG = 90.0

# Columns are each face's right, up and forward axes in the world (x right, y up, z forward),
# chosen so faces are upright exactly as py360convert's ``xyzcube`` lays them out.
_CUBE_ROTATIONS = (
    ((1, 0, 0), (0, 1, 0), (0, 0, 1)),  # F: looks at +z
    ((0, 0, 1), (0, 1, 0), (-1, 0, 0)),  # R: looks at +x
    ((-1, 0, 0), (0, 1, 0), (0, 0, -1)),  # B: looks at -z
    ((0, 0, -1), (0, 1, 0), (1, 0, 0)),  # L: looks at -x
    ((1, 0, 0), (0, 0, 1), (0, -1, 0)),  # U: looks at +y, top row towards -z
    ((1, 0, 0), (0, 0, -1), (0, 1, 0)),  # D: looks at -y, top row towards +z
)


def cube_rotations(device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """(6, 3, 3) camera rotations of the cube faces in F, R, B, L, U, D order."""
    return torch.tensor(_CUBE_ROTATIONS, device=device, dtype=dtype or torch.get_default_dtype())


def equirect_to_cube(
    equi: torch.Tensor,
    face_w: int,
    rotation: torch.Tensor | None = None,
    mode: Mode = "bilinear",
    mask: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Panoramas (B,C,H,W) -> cube faces (B, 6, C, w, w), optionally of the rotated panoramas."""
    return equirect_to_perspective(equi, cube_rotations(), face_w, CUBE_FOV_DEG, rotation, mode, mask)


def equirect_depth_to_cube(distance: torch.Tensor, face_w: int, rotation: torch.Tensor | None = None) -> torch.Tensor:
    """Ray distance (B,1,H,W) -> planar z-depth on each cube face (B, 6, 1, w, w)."""
    return equirect_depth_to_perspective(distance, cube_rotations(), face_w, CUBE_FOV_DEG, rotation)


def cube_to_equirect(
    faces: torch.Tensor,
    height: int,
    width: int,
    mode: Mode = "bilinear",
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cube faces (B, 6, C, w, w) -> panoramas (B, C, H, W); ``rotation`` undoes a rotated projection."""
    if faces.dim() != 5 or faces.shape[1] != 6:
        raise ValueError(f"cube faces must be (B,6,C,w,w), got {tuple(faces.shape)}")
    return perspective_to_equirect(faces, cube_rotations(), height, width, CUBE_FOV_DEG, mode, rotation)
