"""Equirectangular pixels <-> unit rays, and the one seam-aware sampler every projection uses."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Mode = str  # "bilinear" | "nearest"


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Coordinates are computed in float32 (float64 for float64 inputs) whatever the image dtype."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def equirect_directions(
    height: int, width: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Unit ray through the centre of every equirect pixel, (H, W, 3) in (x, y, z)."""
    dtype = dtype or torch.get_default_dtype()
    cols = torch.arange(width, device=device, dtype=dtype)
    rows = torch.arange(height, device=device, dtype=dtype)
    lon = ((cols + 0.5) / width - 0.5) * (2 * math.pi)
    lat = -((rows + 0.5) / height - 0.5) * math.pi
    lat, lon = torch.meshgrid(lat, lon, indexing="ij")
    return torch.stack((torch.cos(lat) * torch.sin(lon), torch.sin(lat), torch.cos(lat) * torch.cos(lon)), -1)


def directions_to_lonlat(dirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (..., 3), any length -> (longitude, latitude) in radians."""
    x, y, z = dirs.unbind(-1)
    return torch.atan2(x, z), torch.atan2(y, torch.hypot(x, z))


def inverse_rotate(rays: torch.Tensor, rotation: torch.Tensor | None) -> torch.Tensor:
    """Apply ``Rᵀ`` to shared rays (..., 3) for each of B rotations -> (B, ..., 3).

    Sampling the rotated panorama along ``d`` means sampling the original along ``Rᵀ d``; folding
    this into the rays lets a rotation cost nothing beyond the projection itself.
    """
    if rotation is None:
        return rays.unsqueeze(0)
    if rotation.dim() == 2:
        rotation = rotation.unsqueeze(0)
    if rotation.shape[-2:] != (3, 3):
        raise ValueError(f"rotation must be (B,3,3) or (3,3), got {tuple(rotation.shape)}")
    lead = rays.shape[:-1]
    flat = rays.reshape(-1, 3)
    # (Rᵀ)(3×3) @ rays(3×N): each component lands in its own contiguous row, which the
    # trigonometry downstream reads far faster than interleaved xyz; returned as a (B, ..., 3) view
    planar = torch.matmul(rotation.to(rays.dtype).transpose(-1, -2), flat.t())
    return planar.transpose(-1, -2).reshape((rotation.shape[0],) + lead + (3,))


def _pad_equirect(x: torch.Tensor) -> torch.Tensor:
    """One-pixel border: columns wrap around ±180°, the row past a pole is the pole row half a turn away."""
    b, c, h, w = x.shape
    # channels-last: the one copy that padding costs also gives grid_sample the layout it gathers fastest
    out = torch.empty(b, c, h + 2, w + 2, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    out[:, :, 1:-1, 1:-1] = x
    out[:, :, 0, 1:-1] = torch.roll(x[:, :, 0], w // 2, dims=-1)
    out[:, :, -1, 1:-1] = torch.roll(x[:, :, -1], w // 2, dims=-1)
    out[:, :, :, 0] = out[:, :, :, -2]
    out[:, :, :, -1] = out[:, :, :, 1]
    return out


def _grid_scale(height: int, width: int) -> tuple[float, float]:
    """Longitude/latitude -> grid_sample coordinates on the padded panorama (align_corners=True).

    With one pixel of padding, column ``(lon/2π + 0.5)·W − 0.5 + 1`` normalised over ``W + 2``
    pixels reduces to ``lon·W / (π(W+1))`` and the row to ``−2·lat·H / (π(H+1))``: no offsets.
    """
    return width / (math.pi * (width + 1)), -2 * height / (math.pi * (height + 1))


def _rays_to_grid(rays: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Rays (B', 1, S, 3) -> grid (B', 1, S, 2); fastest when each component is contiguous."""
    lon, lat = directions_to_lonlat(rays)
    sx, sy = _grid_scale(height, width)
    return torch.stack((lon.mul_(sx), lat.mul_(sy)), -1)


def _mask_threshold(dtype: torch.dtype) -> float:
    return 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-4


def sample_equirect(
    equi: torch.Tensor,
    rays: torch.Tensor,
    mode: Mode = "bilinear",
    mask: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sample ``equi`` (B,C,H,W) along rays (B or 1, *S, 3) -> (B, C, *S).

    One ``grid_sample`` call for any number of output images; when all batch elements share the
    rays the batch is folded into channels so interpolation weights are computed once. With a
    ``mask`` (B,1,H,W) the result is ``(values, mask)``: a sample is valid only if every input
    pixel with non-negligible weight was valid (nearest: the picked pixel was valid).
    """
    if equi.dim() != 4:
        raise ValueError(f"equirect input must be (B,C,H,W), got shape {tuple(equi.shape)}")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    b, c, h, w = equi.shape
    if rays.shape[0] not in (1, b):
        raise ValueError(f"rays batch {rays.shape[0]} does not match image batch {b}")
    out_shape = rays.shape[1:-1]
    work = _work_dtype(equi.dtype)
    grid = _rays_to_grid(rays.to(device=equi.device, dtype=work).reshape(rays.shape[0], 1, -1, 3), h, w)
    grid = grid.to(equi.dtype)

    x = equi
    if mask is not None:
        if mask.shape != (b, 1, h, w):
            raise ValueError(f"mask must be (B,1,H,W) = {(b, 1, h, w)}, got {tuple(mask.shape)}")
        x = torch.cat((equi, mask.to(equi.dtype)), 1)
    channels = x.shape[1]
    if grid.shape[0] == 1 and b > 1:
        x = x.reshape(1, b * channels, h, w)  # fold the batch into channels before padding (a view)
    out = F.grid_sample(_pad_equirect(x), grid, mode=mode, padding_mode="border", align_corners=True)
    out = out.reshape((b, channels) + tuple(out_shape))
    if mask is None:
        return out
    values, sampled = out[:, :c], out[:, c:]
    valid = sampled > 0.5 if mode == "nearest" else sampled >= 1.0 - _mask_threshold(equi.dtype)
    return values, valid


def rotate_equirect(
    equi: torch.Tensor,
    rotation: torch.Tensor,
    mode: Mode = "bilinear",
    mask: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Rotate panoramas (B,C,H,W) by (B,3,3) rotations: ``out(d) = equi(Rᵀ d)``."""
    _, _, h, w = equi.shape
    rays = equirect_directions(h, w, device=equi.device, dtype=_work_dtype(equi.dtype))
    return sample_equirect(equi, inverse_rotate(rays, rotation), mode=mode, mask=mask)
