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

Dataset level (``seam_ratio_dataset``, :class:`SeamField`): the same ratio of the *mean* log-error
field over a dataset's images (all of one size), each image's field centred on its own mean
first. Errors that depend on the scene average out over images; what stays is the error
anchored to panorama pixels — the cube seams a student learned from an un-rotated teacher. It is
one number per evaluation, so it is compared over seeds, and against a control cell trained
without any teacher (scene structure aligned with the cube, e.g. room corners, also survives the
mean).
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


def log_error(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ln pred − ln gt, ok)`` as float64 (H, W) maps; the error is 0 where ``ok`` is false."""
    pred, gt = pred.detach().double().reshape(gt.shape[-2:]), gt.detach().double().reshape(gt.shape[-2:])
    ok = (gt > 0) & (pred > 0) & torch.isfinite(gt) & torch.isfinite(pred)
    if valid is not None:
        ok &= valid.reshape(gt.shape).bool()
    return torch.where(ok, torch.log(pred.clamp_min(1e-12)) - torch.log(gt.clamp_min(1e-12)), 0.0), ok


def seam_ratio(
    pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None, band_px: float = SEAM_BAND_PX
) -> float:
    """``seam_ratio`` of one aligned depth prediction (H, W) against ``gt`` (H, W), both > 0 where valid.

    NaN when the band or the rest has no valid pair (e.g. a tiny crop); 1.0 for a perfect prediction.
    """
    return seam_ratio_of_error(*log_error(pred, gt, valid), band_px=band_px)


class SeamField:
    """The mean log-error field over a dataset's images, for ``seam_ratio_dataset``."""

    def __init__(self) -> None:
        self.sum: torch.Tensor | None = None
        self.count: torch.Tensor | None = None

    def add(self, pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """One aligned prediction; its field is centred on its own valid mean (a global scale is no seam)."""
        self.add_error(*log_error(pred, gt, valid))

    def add_error(self, err: torch.Tensor, ok: torch.Tensor) -> None:
        """One image's :func:`log_error` field, when the caller has already computed it."""
        if not ok.any():
            return
        err = torch.where(ok, err - err[ok].mean(), 0.0)
        if self.sum is None or self.count is None:
            self.sum, self.count = torch.zeros_like(err), torch.zeros_like(err)
        if self.sum.shape != err.shape:
            raise ValueError(f"seam_ratio_dataset needs images of one size: {tuple(err.shape)} after {tuple(self.sum.shape)}")
        self.sum += err
        self.count += ok.double()

    def ratio(self, band_px: float = SEAM_BAND_PX) -> float:
        """``seam_ratio`` of the mean field (pixels valid in at least one image); NaN before any image."""
        if self.sum is None or self.count is None:
            return math.nan
        ok = self.count > 0
        return seam_ratio_of_error(torch.where(ok, self.sum / self.count.clamp_min(1), 0.0), ok, band_px=band_px)


def seam_ratio_of_error(err: torch.Tensor, ok: torch.Tensor, band_px: float = SEAM_BAND_PX) -> float:
    """The band/rest ratio of mean |first differences| of a log-error field (H, W) where ``ok``."""
    h, w = err.shape
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
