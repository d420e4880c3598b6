"""A cube-seam metric: how much of a prediction's error sits on the borders of the un-rotated cube.

Paper Fig. 5 shows the artifact that random rotation removes: a student distilled from per-face
teacher predictions without rotation reproduces the faces' disagreements at the cube-face
borders, which then lie at the same panorama pixels for every image. The paper shows it
qualitatively; this module measures it.

Definition (``seam_ratio``). Let ``e = ln(pred) − ln(gt)`` be the log-error field of an aligned
depth prediction (a global scale alignment adds a constant to ``e`` and changes nothing). Take its
finite differences between horizontally (wrapping around at ±180°) and vertically adjacent pixels
where both are valid. A difference belongs to the *border band* when either of its pixels lies
within ``band_px`` pixels (at the equator: ``band_px · 360°/W``) of a border of the un-rotated
cube (py360convert's faces, FoV 90°). Then::

    seam_ratio = mean_band |Δe| / mean_rest |Δe|        (each mean weighted by cos(latitude))

1 means the error varies as fast on the borders as elsewhere; > 1 means it jumps or bends there.
A per-face scale/shift in the prediction makes ``e`` jump at every border; an error that grows
toward each face's edges (a perspective teacher's) makes it bend there; a smooth error leaves the
ratio near 1. It is relative (scale-free) so models with different overall error compare, and it
is evaluated at the evaluation resolution, so compare it between cells of the same size.

Angular distance to the nearest border: a unit direction lies on face ``argmax |d_i|``, and on a
border where the two largest ``|d_i|`` are equal; the plane of that border has unit normal
``(e_i ∓ e_j)/√2``, so the angle to it is ``asin(|a₁ − a₂| / √2)`` with ``a₁ ≥ a₂`` the two largest
``|d_i|`` (exact for the nearest point on the border's great circle).
"""

from __future__ import annotations

import math

import torch

from repro.geometry import equirect_directions

SEAM_BAND_PX = 2  # half-width of the border band, in pixels at the equator


def cube_border_angle(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(H, W) angle in radians from each pixel's ray to the nearest cube-face border."""
    top2 = equirect_directions(height, width, device=device, dtype=torch.float64).abs().topk(2, dim=-1).values
    return torch.asin(((top2[..., 0] - top2[..., 1]) / math.sqrt(2)).clamp(0, 1))


def cube_border_band(height: int, width: int, band_px: float = SEAM_BAND_PX) -> torch.Tensor:
    """(H, W) bool: pixels within ``band_px`` equatorial pixels of an un-rotated cube-face border."""
    return cube_border_angle(height, width) <= band_px * 2 * math.pi / width


def seam_ratio(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None, band_px: float = SEAM_BAND_PX
) -> float:
    """``seam_ratio`` of one aligned depth prediction (H, W) against ``gt`` (H, W), both > 0 where valid.

    NaN when the band or the rest has no valid pair (e.g. a tiny crop); 1.0 for a perfect prediction.
    """
    pred, gt = pred.detach().double().reshape(gt.shape[-2:]), gt.detach().double().reshape(gt.shape[-2:])
    h, w = gt.shape
    ok = (gt > 0) & (pred > 0) & torch.isfinite(gt) & torch.isfinite(pred)
    if valid is not None:
        ok &= valid.reshape(h, w).bool()
    err = torch.where(ok, torch.log(pred.clamp_min(1e-12)) - torch.log(gt.clamp_min(1e-12)), 0.0)
    band = cube_border_band(h, w, band_px)
    lat = (0.5 - (torch.arange(h, dtype=torch.float64) + 0.5) / h) * math.pi
    weight = torch.cos(lat)[:, None].expand(h, w)
    sums = torch.zeros(2, dtype=torch.float64)  # band, rest: Σ weight·|Δe|
    norms = torch.zeros(2, dtype=torch.float64)
    for dim in (1, 0):  # horizontal neighbour (wraps around at ±180°), vertical neighbour (no wrap)
        nb_err, nb_ok, nb_band = (torch.roll(t, -1, dims=dim) for t in (err, ok, band))
        pair_ok, pair_band = ok & nb_ok, band | nb_band
        if dim == 0:
            pair_ok[-1] = False  # the last row has no row below it
        diff = (nb_err - err).abs() * weight
        for k, sel in enumerate((pair_ok & pair_band, pair_ok & ~pair_band)):
            sums[k] += diff[sel].sum()
            norms[k] += weight[sel].sum()
    if (norms == 0).any():
        return math.nan
    band_mean, rest_mean = (sums / norms).tolist()
    eps = 1e-6  # log-error steps below this are float32 rounding, not error: such maps score 1
    return (band_mean + eps) / (rest_mean + eps)
