"""Depth evaluation: AbsRel, SqRel, MAE, RMSE, RMSElog, log10, δ1–δ3 under named alignment protocols.

Valid pixels: finite ground truth with ``min_depth < gt ≤ max_depth`` (0 and 10 m; paper appendix
A.1, following UniFuse/BiFuse), optionally ANDed with a dataset mask. Metrics are computed per
image (in float64) and averaged over images, so a dataset result does not depend on the evaluation
batch size.

Paper vs released code (each difference is a named option; defaults follow the paper)
-------------------------------------------------------------------------------------
Released = ``utils/metric.py`` of github.com/albert100121/Depth-Anywhere (``Affine_Inv_Evaluator``,
``compute_depth_metrics``, called from ``train.py:val``).

* Alignment (``protocol``): the paper (eq. 8) converts disparity to depth and scales it by
  ``median(gt) / median(pred)`` — ``"median"``. The released evaluator first fits scale and shift
  by least squares in disparity, inverts, clips to [0, 10], then median-aligns —
  ``"lsq_disparity_median"``. ``"none"`` evaluates metric depth as is (paper Table 5).
* Clamping (``clamp``): the paper states none; the released code clamps prediction and ground
  truth to [0.1, max_depth] after alignment (as UniFuse and PanoFormer do). Default (``None``):
  the protocol's — on for ``lsq_disparity_median`` only; ``True``/``False`` or an explicit
  ``(lo, hi)`` range override it for any protocol.
* RMSElog (``rmse_log``): ``"ln"`` is the usual natural-log RMSE; the released code computes
  ``sqrt(mean((log10(gt+1) − log10(pred+1))²))`` — ``"released"``; UniFuse's own evaluator uses
  log10 without the +1 — ``"log10"``. The paper does not define RMSElog.
* Crop (``crop_rows``): the released zero-shot Stanford2D3D evaluation drops 68 rows at the top and
  bottom of a 512-row panorama (``Affine_Inv_Evaluator(crop=68)``). ``crop_rows`` here is an
  absolute row count; ``scaled_crop_rows`` converts a count given at H = 512 to another height.
* Averaging: the released evaluator pools all pixels of a batch (one median, pixel means) and
  weighs batches by size; every released config evaluates with ``batch_size_val=1``, where that
  equals our per-image mean. The paper's "1/M Σ over the total number of pixels" is read the same
  way. Images without a valid pixel are skipped, as ``if val_mask.sum() > 0`` does there.
* Degenerate images: where the released code divides by a zero median (NaN metrics), alignment is
  skipped instead; a singular least-squares system gives scale = shift = 0 as released.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from repro.atomic import write_text
from repro.choices import Protocol, RmseLog
from repro.geometry.disparity import depth_to_disparity, disparity_to_depth

if TYPE_CHECKING:
    from repro.evaluation.seam import SeamField

METRIC_KEYS: tuple[str, ...] = (
    "abs_rel", "sq_rel", "mae", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3",
)
RMSE_LOG_VARIANTS: dict[str, str] = {
    "ln": "sqrt(mean((ln pred - ln gt)^2)): the standard (Eigen et al.) RMSElog",
    "released": "sqrt(mean((log10(gt + 1) - log10(pred + 1))^2)): released Depth Anywhere "
    "utils/metric.py compute_depth_metrics (inherited from PanoFormer)",
    "log10": "sqrt(mean((log10 gt - log10 pred)^2)): UniFuse metrics.py compute_depth_metrics",
}

RELEASED_ZERO_SHOT_CROP = 68  # rows dropped top and bottom at the reference height below
RELEASED_CROP_HEIGHT = 512
RELEASED_CLAMP_MIN = 0.1  # lower clamp of the released evaluator; the upper one is max_depth
# Predictions must be positive for the log metrics; non-positive values are floored here.
_DEPTH_FLOOR = 1e-6
_DISPARITY_FLOOR = 1e-6


@dataclass(frozen=True)
class ProtocolSpec:
    """How a prediction is aligned to the ground truth before the metrics, and where it comes from."""

    name: str
    align: Protocol
    clamp: bool  # whether pred and gt are clamped to [0.1, max_depth] after alignment by default
    source: str


PROTOCOLS: dict[str, ProtocolSpec] = {
    "median": ProtocolSpec(
        "median", "median", False,
        "Paper, appendix A.1 eq. 8: disparity -> depth (1/d), then pred * median(gt) / median(pred) "
        "over valid pixels; no clamping stated. Non-positive disparity is read as a depth of 1e6 m.",
    ),
    "lsq_disparity_median": ProtocolSpec(
        "lsq_disparity_median", "lsq_disparity_median", True,
        "Released Depth Anywhere evaluator (utils/metric.py Affine_Inv_Evaluator."
        "compute_affine_inv_eval_metrics): least-squares scale and shift of the prediction to 1/gt in "
        "disparity over valid pixels, back to depth (0 stays 0, negative -> 0 by the clip), clip to "
        "[0, 10], median alignment, then prediction and gt clamped to [0.1, 10].",
    ),
    "none": ProtocolSpec(
        "none", "none", False,
        "Metric depth without alignment (paper Table 5, metric fine-tuning); no clamping stated.",
    ),
}


def scaled_crop_rows(rows_at_512: int, height: int) -> int:
    """A top/bottom crop given in rows of a 512-row panorama, at ``height`` rows.

    The released crop removes polar caps fixed in latitude (68 rows ≈ 23.9° each, where
    Stanford2D3D has no data), so at other heights the same fraction is dropped, rounded to whole
    rows. ``compute_metrics`` itself takes absolute rows so nothing is rescaled behind the caller.
    """
    return round(rows_at_512 * height / RELEASED_CROP_HEIGHT)


Clamp = bool | tuple[float, float] | None


def resolve_clamp(protocol: str, clamp: Clamp, max_depth: float = 10.0) -> tuple[float, float] | None:
    """The clamp range actually applied: ``None`` -> the protocol's default, ``True`` ->
    [0.1, max_depth] (the released range), ``False`` -> none, a pair -> that range."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    if clamp is None:
        clamp = PROTOCOLS[protocol].clamp
    if clamp is True:
        return (RELEASED_CLAMP_MIN, max_depth)
    if clamp is False:
        return None
    lo, hi = (float(v) for v in clamp)
    if not 0 < lo < hi:
        raise ValueError(f"clamp range must satisfy 0 < lo < hi, got {clamp!r}")
    return (lo, hi)


def describe(protocol: str, rmse_log: str, crop_rows: int, clamp: Clamp = None,
             max_depth: float = 10.0) -> dict[str, object]:
    """The evaluation settings with their sources, for recording next to every result."""
    spec = _check(protocol, rmse_log, crop_rows)
    return {
        "protocol": protocol,
        "protocol_source": spec.source,
        "clamp": resolve_clamp(protocol, clamp, max_depth),
        "rmse_log": rmse_log,
        "rmse_log_definition": RMSE_LOG_VARIANTS[rmse_log],
        "crop_rows": crop_rows,
    }


def _check(protocol: str, rmse_log: str, crop_rows: int) -> ProtocolSpec:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    if rmse_log not in RMSE_LOG_VARIANTS:
        raise ValueError(f"unknown rmse_log {rmse_log!r}; choose from {sorted(RMSE_LOG_VARIANTS)}")
    if not isinstance(crop_rows, int) or crop_rows < 0:
        raise ValueError(f"crop_rows must be a non-negative int, got {crop_rows!r}")
    return PROTOCOLS[protocol]


def _lsq_scale_shift(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin_{s,t} Σ (s·x + t − y)² by the normal equations, as the released
    ``compute_scale_and_shift``; (0, 0) when the system is singular (a constant prediction),
    with a relative tolerance so float rounding cannot turn "singular" into a huge scale."""
    n = float(x.numel())
    sx, sy, sxx, sxy = x.sum(), y.sum(), (x * x).sum(), (x * y).sum()
    det = n * sxx - sx * sx
    if det <= 1e-12 * n * sxx:
        return x.new_zeros(()), x.new_zeros(())
    return (n * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det


def _median_align(depth: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """pred · median(gt) / median(pred) (lower medians, as torch.median in the released code)."""
    med = depth.median()
    return depth * (gt.median() / med) if med > 0 else depth


def _to_depth(pred: torch.Tensor, pred_is_disparity: bool) -> torch.Tensor:
    return 1.0 / pred.clamp_min(_DISPARITY_FLOOR) if pred_is_disparity else pred


def _align(pred: torch.Tensor, gt: torch.Tensor, protocol: ProtocolSpec, pred_is_disparity: bool,
           max_depth: float) -> torch.Tensor:
    """Valid-pixel prediction (1-D) -> aligned depth (1-D), in the order of the named source."""
    if protocol.align == "lsq_disparity_median":
        disp = pred if pred_is_disparity else depth_to_disparity(pred)
        scale, shift = _lsq_scale_shift(disp, 1.0 / gt)
        depth = disparity_to_depth(scale * disp + shift).clamp(0.0, max_depth)
        return _median_align(depth, gt)
    depth = _to_depth(pred, pred_is_disparity)
    return _median_align(depth, gt) if protocol.align == "median" else depth


def _metrics(pred: torch.Tensor, gt: torch.Tensor, rmse_log: str) -> dict[str, float]:
    pred = pred.clamp_min(_DEPTH_FLOOR)
    err = pred - gt
    ratio = torch.maximum(pred / gt, gt / pred)
    if rmse_log == "ln":
        log_err = torch.log(pred) - torch.log(gt)
    elif rmse_log == "released":
        log_err = torch.log10(gt + 1) - torch.log10(pred + 1)
    else:
        log_err = torch.log10(gt) - torch.log10(pred)
    values = torch.stack([
        (err.abs() / gt).mean(),
        (err**2 / gt).mean(),
        err.abs().mean(),
        (err**2).mean().sqrt(),
        (log_err**2).mean().sqrt(),
        torch.log10(pred / gt).abs().mean(),
        *((ratio < 1.25**k).to(pred.dtype).mean() for k in (1, 2, 3)),
    ])
    return dict(zip(METRIC_KEYS, values.tolist()))


def _as_image(x: torch.Tensor, what: str) -> torch.Tensor:
    if x.dim() < 2 or math.prod(x.shape[:-2]) != 1:
        raise ValueError(f"{what} must be one (H, W) image (leading dims of size 1), got {tuple(x.shape)}")
    return x.reshape(x.shape[-2:])


def compute_metrics(
    pred: torch.Tensor,
    gt: torch.Tensor,
    protocol: str = "median",
    pred_is_disparity: bool = True,
    crop_rows: int = 0,
    rmse_log: RmseLog = "ln",
    *,
    mask: torch.Tensor | None = None,
    clamp: Clamp = None,
    min_depth: float = 0.0,
    max_depth: float = 10.0,
    seam: bool = False,
    seam_field: SeamField | None = None,
) -> dict[str, float]:
    """Metrics of one image: ``pred`` and ``gt`` are (H, W) (or (1, H, W), (1, 1, H, W)), gt in metres.

    ``crop_rows`` drops that many rows at the top and at the bottom first; ``mask`` further
    restricts the valid pixels (``min_depth < gt ≤ max_depth``); ``clamp`` (see ``resolve_clamp``;
    default: the protocol's) clamps prediction and ground truth after alignment. Returns the
    ``METRIC_KEYS`` plus
    ``valid_pixels`` (and ``seam_ratio`` with ``seam``, see :mod:`repro.evaluation.seam`: ``gt`` must then
    be the whole equirect panorama, after the protocol's alignment and clamp; ``seam_field`` then
    also collects the image's aligned error for ``seam_ratio_dataset``); with no valid pixel every metric is NaN and ``valid_pixels`` is 0, so the
    caller can skip the image. A NaN prediction at a valid pixel propagates to NaN metrics rather
    than being dropped.
    """
    spec = _check(protocol, rmse_log, crop_rows)
    clamp_range = resolve_clamp(protocol, clamp, max_depth)
    pred, gt = _as_image(pred, "pred").detach().double(), _as_image(gt, "gt").detach().double()
    if pred.shape != gt.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in shape")
    valid = torch.isfinite(gt) & (gt > min_depth) & (gt <= max_depth)
    if mask is not None:
        valid &= _as_image(mask, "mask").bool()
    if crop_rows:
        height = gt.shape[0]
        if 2 * crop_rows >= height:
            raise ValueError(f"crop_rows={crop_rows} leaves nothing of a {height}-row image")
        valid[:crop_rows] = False  # masked rather than sliced: the seam metric needs each row's latitude
        valid[height - crop_rows :] = False
    n = int(valid.sum())
    extra = ("seam_ratio",) if seam else ()
    if n == 0:
        return {**{k: math.nan for k in (*METRIC_KEYS, *extra)}, "valid_pixels": 0}
    g = gt[valid]
    p = _align(pred[valid], g, spec, pred_is_disparity, max_depth)
    if clamp_range is not None:
        p, g = p.clamp(*clamp_range), g.clamp(*clamp_range)
    out = {**_metrics(p, g, rmse_log), "valid_pixels": n}
    if seam:
        from repro.evaluation.seam import log_error, seam_ratio_of_error

        aligned, ref = torch.zeros_like(gt), torch.zeros_like(gt)
        aligned[valid], ref[valid] = p, g
        err, ok = log_error(aligned, ref, valid)  # once, for the image's ratio and the dataset's field
        out["seam_ratio"] = seam_ratio_of_error(err, ok)
        if seam_field is not None:
            seam_field.add_error(err, ok)
    return out


class MetricAccumulator:
    """Streams per-image metrics over a dataset; the aggregate is the mean over images.

    Each image is evaluated on its own, so the result is the same whatever the batch size; the
    per-image rows (``rows``, ``write_csv``) let a report show the spread, not just the mean.
    """

    def __init__(self, protocol: str = "median", pred_is_disparity: bool = True, crop_rows: int = 0,
                 rmse_log: RmseLog = "ln", *, clamp: Clamp = None, min_depth: float = 0.0,
                 max_depth: float = 10.0, seam: bool = False) -> None:
        _check(protocol, rmse_log, crop_rows)
        resolve_clamp(protocol, clamp, max_depth)
        self.settings = {"protocol": protocol, "pred_is_disparity": pred_is_disparity, "crop_rows": crop_rows,
                         "rmse_log": rmse_log, "clamp": clamp, "min_depth": min_depth, "max_depth": max_depth,
                         "seam": seam}
        self.keys = (*METRIC_KEYS, *(("seam_ratio",) if seam else ()))
        self.rows: list[dict[str, float | int | str]] = []
        self.seam_field: SeamField | None = None
        if seam:
            from repro.evaluation.seam import SeamField

            self.seam_field = SeamField()

    def update(self, pred: torch.Tensor, gt: torch.Tensor, names: list[str] | None = None,
               mask: torch.Tensor | None = None) -> list[dict[str, float | int | str]]:
        """Add a batch, ``pred``/``gt``/``mask`` shaped (B, 1, H, W) or (B, H, W); returns its rows."""
        batch = pred.shape[0]
        if gt.shape[0] != batch or (mask is not None and mask.shape[0] != batch):
            raise ValueError(f"batch sizes differ: pred {batch}, gt {gt.shape[0]}"
                             + ("" if mask is None else f", mask {mask.shape[0]}"))
        if names is not None and len(names) != batch:
            raise ValueError(f"{len(names)} names for a batch of {batch}")
        new = []
        for i in range(batch):
            row: dict[str, float | int | str] = {"image": names[i] if names else str(len(self.rows))}
            row.update(compute_metrics(pred[i], gt[i], mask=None if mask is None else mask[i],
                                       seam_field=self.seam_field, **self.settings))
            self.rows.append(row)
            new.append(row)
        return new

    def result(self) -> dict[str, float | int]:
        """Mean of each metric over images with valid pixels (exact summation: order-independent),
        plus ``images`` (counted) and ``images_skipped`` (no valid pixel)."""
        used = [r for r in self.rows if r["valid_pixels"]]
        out: dict[str, float | int] = {
            k: math.fsum(float(r[k]) for r in used) / len(used) if used else math.nan for k in self.keys
        }
        if self.seam_field is not None:  # one number per dataset: not a per-image column
            out["seam_ratio_dataset"] = self.seam_field.ratio()
        out["images"] = len(used)
        out["images_skipped"] = len(self.rows) - len(used)
        return out

    def describe(self) -> dict[str, object]:
        """The settings with their sources, to store beside the numbers."""
        s = self.settings
        out = {**describe(s["protocol"], s["rmse_log"], s["crop_rows"], s["clamp"], s["max_depth"]),
               "pred_is_disparity": s["pred_is_disparity"], "min_depth": s["min_depth"],
               "max_depth": s["max_depth"]}
        if s["seam"]:
            from repro.evaluation.seam import SEAM_BAND_PX

            out["seam_ratio_definition"] = (f"mean |Δ(ln pred − ln gt)| within {SEAM_BAND_PX} px of the un-rotated "
                                            "cube-face borders / elsewhere (repro.evaluation.seam)")
            out["seam_ratio_dataset_definition"] = ("seam_ratio of the mean (per-image centred) log-error field "
                                                    "over the dataset's images (repro.evaluation.seam.SeamField)")
        return out

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Per-image rows as CSV, written atomically (temp file + rename)."""
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=["image", "valid_pixels", *self.keys])
        writer.writeheader()
        writer.writerows(self.rows)
        return write_text(path, buffer.getvalue())
