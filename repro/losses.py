"""Training losses: the paper's affine-invariant L1 and BerHu (disparity conversion: repro.geometry.disparity).

Every function works on a batch of *maps* shaped ``(..., C, H, W)``: all leading dimensions are
maps (``(B, 1, H, W)`` panoramas, ``(N, 1, h, w)`` or ``(B, 6, 1, w, w)`` cube faces), each
reduced on its own without a Python loop, because the pseudo-label loss runs on 6·B faces every
step (a per-map loop costs one device sync per face on a GPU).

Sources
-------
* Paper (Depth Anywhere, §3.3, eqs. 4–7): labels and teacher outputs become disparity ``1/d``,
  normalised to [0, 1] per map; loss = mean over pixels of ``|d̂* − d̂|`` with
  ``d̂ = (d − median(d)) / mean|d − median(d)|`` (MiDaS' shift/scale normalisation).
* Released Depth Anywhere code (``utils/metric.py``: ``affine_invariant``,
  ``affine_invariant_loss_V2_CUBE``): the same normalisation per map, but the absolute error is
  pooled over all valid pixels of the batch — available as ``reduction="pixels"``.
* UniFuse (``UniFuse/losses.py``, ``BerhuLoss``): the metric-depth baseline loss, see ``berhu``.
"""

from __future__ import annotations

import torch

from repro.choices import LossReduction as Reduction
from repro.geometry.disparity import as_maps as _as_maps
from repro.geometry.disparity import mask_or_default as _mask_or_default

__all__ = ["REDUCTIONS", "Reduction", "affine_invariant_l1", "berhu", "masked_median"]

REDUCTIONS: dict[str, str] = {
    "per_map": "paper eq. 4: mean over each map's valid pixels, then mean over maps that have "
    "valid pixels and a non-zero scale in both arguments (degenerate maps contribute nothing)",
    "pixels": "released utils/metric.py: mean over all valid pixels of the batch pooled; a side "
    "with zero scale is normalised to 0 (the released code divides by inf) and its pixels still count",
}


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def masked_median(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row lower median of ``x`` (M, P) over ``mask`` -> (median (M,), valid count (M,)).

    The lower median of an even count is what ``torch.median`` (used by the released code)
    returns. Rows without a valid pixel get median 0. Differentiable: the gradient is shared
    equally by every valid pixel equal to the median, as the released code's full reduction
    ``torch.median(d[mask])`` shares it (``nanmedian`` along a dim would give it to one of them).
    """
    count = mask.sum(-1)
    filled = torch.where(mask, x.detach(), float("nan"))
    med = torch.nanmedian(filled, dim=-1, keepdim=True).values
    ties = mask & (x.detach() == med)
    share = ties / ties.sum(-1, keepdim=True).clamp_min(1)
    med = med[:, 0] + (torch.where(ties, x - x.detach(), 0.0) * share).sum(-1)  # value: the median; grad: shared
    return torch.where(count > 0, med, 0.0), count


def _normalise_shift_scale(flat: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """d̂ = (d − t(d)) / s(d) per row (paper eqs. 6–7) and whether the row had a usable scale.

    Rows with no valid pixel or ``s = 0`` get d̂ = 0 (safe denominators keep gradients finite).
    """
    t, count = masked_median(flat, m)
    centred = flat - t[:, None]
    s = torch.where(m, centred.abs(), 0.0).sum(-1) / count.clamp_min(1)
    ok = (count > 0) & (s > 0) & torch.isfinite(s)
    hat = centred / torch.where(ok, s, 1.0)[:, None]
    return torch.where(ok[:, None], hat, 0.0), ok


def affine_invariant_l1(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "per_map",
) -> torch.Tensor:
    """The paper's affine-invariant L1 (eqs. 4–7) with one shift/scale alignment per map.

    ``d̂ = (d − median(d)) / mean|d − median(d)|`` over the map's valid pixels for prediction and
    target alike (lower median, as ``torch.median``); the shift and scale are differentiated, as in
    MiDaS and the released code. ``mask`` (default: all pixels) is ANDed with finiteness of both
    arguments, so NaN/inf outside the valid region never reach the loss. ``reduction`` is one of
    ``REDUCTIONS`` (default ``"per_map"``, the paper's). The result is never NaN/inf; with nothing
    to compare it is an exact, differentiable 0.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {sorted(REDUCTIONS)}, got {reduction!r}")
    mask = _mask_or_default(mask, pred) & torch.isfinite(target) & torch.isfinite(pred)
    pred, target = _at_least_float32(pred), _at_least_float32(target)  # fp16 sums of 65k pixels drift
    m = _as_maps(mask)
    # Zero the invalid pixels first: a NaN there would otherwise leak into the gradient (0·NaN).
    p = torch.where(m, _as_maps(pred), 0.0)
    g = torch.where(m, _as_maps(target), 0.0)
    p_hat, ok_p = _normalise_shift_scale(p, m)
    g_hat, ok_g = _normalise_shift_scale(g, m)
    if reduction == "pixels":
        diff = torch.where(m, (p_hat - g_hat).abs(), 0.0)
        return diff.sum() / m.sum().clamp_min(1)
    ok = ok_p & ok_g
    m = m & ok[:, None]
    diff = torch.where(m, (p_hat - g_hat).abs(), 0.0)
    per_map = diff.sum(-1) / m.sum(-1).clamp_min(1)
    return per_map.sum() / ok.sum().clamp_min(1)


def berhu(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, threshold: float = 0.2
) -> torch.Tensor:
    """Reverse Huber loss of UniFuse's metric-depth training (the paper's "BerHu" rows).

    Follows ``UniFuse/losses.py`` ``BerhuLoss`` (argument order there is ``(target, pred)``):
    valid = ``target > 0`` and ``mask``; ``c = threshold · max|pred − target|`` over the valid
    pixels of the *whole batch*, not differentiated (UniFuse takes it through ``.data``);
    per pixel ``|e|`` if ``|e| ≤ c`` else ``(e² + c²) / 2c``; mean over valid pixels.
    Differences, both at measure-zero points: UniFuse's two strict ``F.threshold`` calls give 0
    when ``|e| = c`` exactly (we use ``|e|``, where both branches agree), and divide 0/0 when every
    error is 0 (we return 0). No valid pixel -> differentiable 0.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    valid = _mask_or_default(mask, target) & (target > 0) & torch.isfinite(target)
    pred, target = _at_least_float32(pred), _at_least_float32(target)
    diff = torch.where(valid, pred - target, 0.0).abs()  # where first: no 0·NaN grads
    c = threshold * diff.detach().amax()
    safe_c = torch.where(c > 0, c, 1.0)
    loss = torch.where(diff <= c, diff, (diff * diff + c * c) / (2 * safe_c))
    return torch.where(valid, loss, 0.0).sum() / valid.sum().clamp_min(1)
