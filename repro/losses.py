"""Training losses: disparity normalisation, the affine-invariant L1 of the paper, and BerHu.

Every function works on a batch of *maps* shaped ``(..., C, H, W)``: all leading dimensions are
maps (e.g. ``(B, 1, H, W)`` panoramas or ``(B, 6, 1, w, w)`` cube faces), each reduced on its own,
without a Python loop, because the pseudo-label loss runs on 6·B faces every step.
"""

from __future__ import annotations

from typing import Literal

import torch

Reduction = Literal["per_map", "pixels"]


def _as_maps(x: torch.Tensor) -> torch.Tensor:
    if x.dim() < 3:
        raise ValueError(f"expected maps shaped (..., C, H, W), got {tuple(x.shape)}")
    return x.reshape(-1, x.shape[-3] * x.shape[-2] * x.shape[-1])


def _mask_or_default(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(like, dtype=torch.bool)
    if mask.shape != like.shape:
        mask = mask.expand_as(like)
    return mask.bool()


def depth_to_disparity(depth: torch.Tensor) -> torch.Tensor:
    """``1/d`` where ``d > 0``; invalid (≤ 0) pixels stay 0, with finite gradients everywhere."""
    valid = depth > 0
    return torch.where(valid, 1.0 / torch.where(valid, depth, torch.ones_like(depth)), torch.zeros_like(depth))


def masked_median(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-map lower median over valid pixels -> (median (M,), count (M,)); maps flattened (M, P).

    The lower median of an even count is what ``torch.median`` (used by the released code) returns.
    Maps without valid pixels get median 0.
    """
    count = mask.sum(-1)
    filled = torch.where(mask, x, torch.full_like(x, float("nan")))
    med = torch.nanmedian(filled, dim=-1).values
    return torch.where(count > 0, med, torch.zeros_like(med)), count


def normalize_01(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-map min–max normalisation to [0, 1] over valid pixels; invalid pixels and flat maps -> 0.

    The paper normalises every disparity map (labels and teacher outputs) to [0, 1] this way.
    """
    mask = _mask_or_default(mask, x)
    flat, m = _as_maps(x), _as_maps(mask)
    big = torch.finfo(x.dtype).max
    lo = torch.where(m, flat, torch.full_like(flat, big)).amin(-1, keepdim=True)
    hi = torch.where(m, flat, torch.full_like(flat, -big)).amax(-1, keepdim=True)
    span = hi - lo
    ok = span > 0
    out = (flat - torch.where(ok, lo, torch.zeros_like(lo))) / torch.where(ok, span, torch.ones_like(span))
    out = torch.where(m & ok, out, torch.zeros_like(out))
    return out.reshape(x.shape)


def _shift_scale(flat: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """t(d) = median, s(d) = mean |d − t| over valid pixels (paper eq. 7), and their validity."""
    t, count = masked_median(flat, m)
    dev = torch.where(m, (flat - t[:, None]).abs(), torch.zeros_like(flat))
    s = dev.sum(-1) / count.clamp_min(1)
    ok = (count > 0) & (s > 0) & torch.isfinite(s)
    return t, torch.where(ok, s, torch.ones_like(s)), ok


def affine_invariant_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "per_map",
) -> torch.Tensor:
    """The paper's affine-invariant L1 (eqs. 4–7), one alignment per map.

    ``d̂ = (d − median(d)) / mean|d − median(d)|`` over the map's valid pixels, for prediction and
    target alike; loss = mean |d̂_pred − d̂_target| over valid pixels.

    ``reduction="per_map"`` (default, paper eq. 4: a mean per image, here per map, then averaged
    over maps) vs ``"pixels"`` (the released code pools all valid pixels of the batch, so maps
    weigh by their valid-pixel count). Maps with no valid pixel or a zero scale in either argument
    contribute nothing; if no map contributes the loss is an exact, differentiable 0.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    mask = _mask_or_default(mask, pred) & torch.isfinite(target) & torch.isfinite(pred)
    p, g, m = _as_maps(pred), _as_maps(target), _as_maps(mask)
    tp, sp, okp = _shift_scale(p, m)
    tg, sg, okg = _shift_scale(g, m)
    ok = okp & okg
    m = m & ok[:, None]
    diff = ((p - tp[:, None]) / sp[:, None] - (g - tg[:, None]) / sg[:, None]).abs()
    diff = torch.where(m, diff, torch.zeros_like(diff))
    count = m.sum(-1)
    if reduction == "pixels":
        return diff.sum() / count.sum().clamp_min(1)
    if reduction != "per_map":
        raise ValueError(f"reduction must be 'per_map' or 'pixels', got {reduction!r}")
    per_map = diff.sum(-1) / count.clamp_min(1)
    return per_map.sum() / ok.sum().clamp_min(1)


def berhu(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, threshold: float = 0.2
) -> torch.Tensor:
    """Reverse Huber loss as in UniFuse's metric-depth training (the paper's "BerHu" rows).

    ``c = threshold · max|pred − target|`` over the valid pixels of the whole batch (not
    differentiated); ``|e|`` for ``|e| < c`` and ``(e² + c²) / 2c`` for ``|e| > c``, averaged over
    valid pixels. Valid = ``target > 0`` and ``mask``. (UniFuse's thresholding gives 0 for the
    measure-zero case ``|e| = c``; we use ``|e|`` there, where both branches agree.)
    """
    valid = _mask_or_default(mask, target) & (target > 0)
    diff = torch.where(valid, (pred - target).abs(), torch.zeros_like(pred))
    if not valid.any():
        return diff.sum() * 0.0
    c = threshold * diff.detach().max()
    if c <= 0:
        return diff.sum() / valid.sum()
    quad = (diff * diff + c * c) / (2 * c)
    loss = torch.where(diff <= c, diff, quad)
    return torch.where(valid, loss, torch.zeros_like(loss)).sum() / valid.sum()
