"""Rotation matrices from Euler angles, and the random rotation of the paper's Sec. 3.2."""

from __future__ import annotations

import math

import torch

_AXES = {"X": 0, "Y": 1, "Z": 2}


def _axis_rotation(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Right-handed rotation by ``angle`` (radians, shape (B,)) about a world axis -> (B,3,3)."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        rows = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == "Y":
        rows = (c, zero, s, zero, one, zero, -s, zero, c)
    else:
        rows = (c, -s, zero, s, c, zero, zero, zero, one)
    return torch.stack(rows, -1).reshape(angle.shape + (3, 3))


def rotation_matrix(angles_deg: torch.Tensor | tuple[float, float, float], convention: str = "XYZ") -> torch.Tensor:
    """Euler angles (degrees, (3,) or (B,3)) -> rotation matrices (B,3,3).

    ``convention="XYZ"`` gives ``R = Rx(a0) @ Ry(a1) @ Rz(a2)``, the same formula as
    ``pytorch3d.transforms.euler_angles_to_matrix(radians, "XYZ")`` that the released Depth
    Anywhere training code uses — but in our y-up frame. The released frame is y-down, so the
    same angles there are a different physical rotation: ``(a, b, c)`` released = ``(−a, b, −c)``
    here (the distribution of a symmetric draw is the same). ``repro.geometry.released`` draws
    in the released frame (``distill.rotation_frame: y_down``).
    """
    convention = convention.upper()
    if len(convention) != 3 or any(a not in _AXES for a in convention) or convention[1] in (convention[0], convention[2]):
        raise ValueError(f"invalid Euler convention {convention!r}: use three of X/Y/Z, no two equal in a row")
    angles = torch.as_tensor(angles_deg)
    if not angles.is_floating_point():
        angles = angles.to(torch.get_default_dtype())
    if angles.shape[-1] != 3:
        raise ValueError(f"angles_deg must have a last dimension of 3, got shape {tuple(angles.shape)}")
    angles = torch.deg2rad(angles.reshape(-1, 3))
    mats = [_axis_rotation(axis, angles[:, i]) for i, axis in enumerate(convention)]
    return mats[0] @ mats[1] @ mats[2]


def random_rotation(
    batch: int,
    max_deg: float = 45.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    convention: str = "XYZ",
) -> torch.Tensor:
    """Draw (batch,3,3) rotations with each Euler angle uniform in [−max_deg, max_deg].

    The released code draws ``(rand(3) − 0.5)·90`` degrees, i.e. ``max_deg = 45`` in the XYZ
    convention (in its y-down frame, float32: :func:`repro.geometry.released.draw_rotations`);
    ``max_deg = 0`` returns identities (rotation off, the paper's Fig. 5 baseline).
    The angles are drawn on the generator's device so a seeded CPU generator is reproducible
    whatever device the result is moved to.
    """
    if max_deg < 0 or not math.isfinite(max_deg):
        raise ValueError(f"max_deg must be a finite non-negative number, got {max_deg}")
    gen_device = generator.device if generator is not None else "cpu"
    u = torch.rand(batch, 3, generator=generator, device=gen_device, dtype=torch.float64)
    angles = (u * 2.0 - 1.0) * max_deg
    return rotation_matrix(angles, convention).to(device=device, dtype=dtype or torch.get_default_dtype())
