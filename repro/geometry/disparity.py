"""Depth <-> disparity and the per-map [0, 1] normalisation: conventions shared by loss, teacher and metrics.

They live with the geometry (a foundation) rather than in the loss, so that the teacher and the
evaluator can convert without importing the training loss. Maps are ``(..., C, H, W)``; every
leading dimension is a map, reduced on its own without a Python loop.
"""

from __future__ import annotations

import torch

__all__ = ["as_maps", "depth_to_disparity", "disparity_to_depth", "mask_or_default", "normalize_01"]


def as_maps(x: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) -> (M, C·H·W): one row per map."""
    if x.dim() < 3:
        raise ValueError(f"expected maps shaped (..., C, H, W), got {tuple(x.shape)}")
    return x.reshape(-1, x.shape[-3] * x.shape[-2] * x.shape[-1])


def mask_or_default(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(like, dtype=torch.bool)
    return mask.bool().expand_as(like)


def depth_to_disparity(depth: torch.Tensor) -> torch.Tensor:
    """``1/d`` where ``d > 0``; invalid pixels (0, negative, NaN) stay 0, with finite gradients.

    The map is its own inverse on positive values, so it also turns disparity back into depth
    with "0 = invalid" preserved.
    """
    valid = depth > 0
    safe = torch.where(valid, depth, 1.0)
    return torch.where(valid, 1.0 / safe, 0.0)


disparity_to_depth = depth_to_disparity


def normalize_01(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-map min–max normalisation to [0, 1] over valid pixels; invalid pixels and flat maps -> 0.

    Paper §3.3: every disparity map (labels and teacher outputs) is normalised to [0, 1]. Invalid
    pixels are set to 0 like the released label path (``gt_depth *= val_mask``); a constant map
    becomes all 0 like the released ``depths -= min; if max > 0: depths /= max``.
    """
    mask = mask_or_default(mask, x)
    flat, m = as_maps(x), as_maps(mask)
    big = torch.finfo(x.dtype).max
    lo = torch.where(m, flat, big).amin(-1, keepdim=True)
    hi = torch.where(m, flat, -big).amax(-1, keepdim=True)
    span = hi - lo
    ok = span > 0
    out = (flat - torch.where(ok, lo, 0.0)) / torch.where(ok, span, 1.0)
    return torch.where(m & ok, out, 0.0).reshape(x.shape)
