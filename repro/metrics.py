"""Depth evaluation: AbsRel, SqRel, MAE, RMSE, RMSElog, log10, δ1–δ3 under named alignment protocols.

Valid pixels: finite ground truth with ``0 < gt ≤ max_depth`` (10 m, as UniFuse/BiFuse/the paper).
Metrics are computed per image and averaged over images, so a result does not depend on the
evaluation batch size. (The released Depth Anywhere evaluator pools the pixels of each batch
before taking medians and means, which makes its numbers depend on the batch size; we record
that as a known difference rather than reproduce it.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from repro.losses import depth_to_disparity

METRIC_KEYS: tuple[str, ...] = (
    "abs_rel", "sq_rel", "mae", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3",
)
# Whether a larger value is better, for reports and tolerance checks.
HIGHER_IS_BETTER: dict[str, bool] = {k: k.startswith("delta") for k in METRIC_KEYS}

RmseLog = Literal["ln", "released"]
_EPS = 1e-6


@dataclass(frozen=True)
class Protocol:
    """How a prediction is aligned to the ground truth before the metrics, and where it comes from."""

    name: str
    align: Literal["median", "lsq_disparity_median", "none"]
    clamp: tuple[float, float] | None
    source: str


PROTOCOLS: dict[str, Protocol] = {
    "median": Protocol(
        "median", "median", None,
        "Paper, appendix A.1 eq. 8: disparity -> depth, then pred · median(gt) / median(pred) over "
        "valid pixels; no clamping.",
    ),
    "lsq_disparity_median": Protocol(
        "lsq_disparity_median", "lsq_disparity_median", (0.1, 10.0),
        "Released Depth Anywhere evaluator (utils/metric.py, Affine_Inv_Evaluator): least-squares "
        "scale and shift of the prediction to 1/gt in disparity, back to depth (0 stays 0), clip to "
        "[0, 10], median alignment, then prediction and gt clamped to [0.1, 10].",
    ),
    "none": Protocol(
        "none", "none", None,
        "Metric depth without alignment (paper Table 5, metric fine-tuning).",
    ),
}


def released_zero_shot_crop(height: int) -> int:
    """Rows dropped at top and bottom in the released zero-shot Stanford2D3D evaluation.

    The released code crops 68 rows at H = 512 (Stanford2D3D panoramas have no data near the
    poles); at other heights we keep the same fraction of the image.
    """
    return int(round(68 * height / 512))


def _lsq_scale_shift(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form argmin_{s,t} Σ (s·pred + t − target)²; (0, 0) when the system is singular."""
    n = pred.new_tensor(float(pred.numel()))
    a00, a01 = (pred * pred).sum(), pred.sum()
    b0, b1 = (pred * target).sum(), target.sum()
    det = a00 * n - a01 * a01
    if det <= 0:
        return pred.new_zeros(()), pred.new_zeros(())
    return (n * b0 - a01 * b1) / det, (-a01 * b0 + a00 * b1) / det


def _align(pred: torch.Tensor, gt: torch.Tensor, protocol: Protocol, pred_is_disparity: bool, max_depth: float) -> torch.Tensor:
    """Valid-pixel prediction (1-D) -> aligned depth (1-D)."""
    if protocol.align == "lsq_disparity_median":
        disp = pred if pred_is_disparity else depth_to_disparity(pred)
        scale, shift = _lsq_scale_shift(disp, 1.0 / gt)
        depth = depth_to_disparity(scale * disp + shift).clamp(0.0, max_depth)
        return depth * (gt.median() / depth.median().clamp_min(_EPS))
    depth = 1.0 / pred.clamp_min(_EPS) if pred_is_disparity else pred  # non-positive disparity = farthest
    if protocol.align == "median":
        depth = depth * (gt.median() / depth.median().clamp_min(_EPS))
    return depth


def _metrics(pred: torch.Tensor, gt: torch.Tensor, rmse_log: RmseLog) -> dict[str, float]:
    pred = pred.clamp_min(_EPS)
    err = pred - gt
    ratio = torch.maximum(pred / gt, gt / pred)
    if rmse_log == "ln":
        log_err = torch.log(pred) - torch.log(gt)
    elif rmse_log == "released":
        log_err = torch.log10(gt + 1) - torch.log10(pred + 1)
    else:
        raise ValueError(f"rmse_log must be 'ln' or 'released', got {rmse_log!r}")
    out = {
        "abs_rel": (err.abs() / gt).mean(),
        "sq_rel": (err**2 / gt).mean(),
        "mae": err.abs().mean(),
        "rmse": (err**2).mean().sqrt(),
        "rmse_log": (log_err**2).mean().sqrt(),
        "log10": torch.log10(pred / gt).abs().mean(),
        "delta1": (ratio < 1.25).double().mean(),
        "delta2": (ratio < 1.25**2).double().mean(),
        "delta3": (ratio < 1.25**3).double().mean(),
    }
    return {k: float(v) for k, v in out.items()}


def compute_metrics(
    pred: torch.Tensor,
    gt: torch.Tensor,
    protocol: str = "median",
    pred_is_disparity: bool = True,
    crop_rows: int = 0,
    rmse_log: RmseLog = "ln",
    max_depth: float = 10.0,
    mask: torch.Tensor | None = None,
) -> dict[str, float]:
    """Metrics of one image: ``pred`` and ``gt`` are (H, W) (or (1, H, W)); gt in metres.

    ``crop_rows`` drops that many rows at the top and at the bottom first. ``mask`` (optional)
    further restricts the valid pixels. With no valid pixel every metric is NaN and
    ``valid_pixels`` is 0, so the caller can skip the image instead of averaging garbage.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
    pred, gt = pred.squeeze(), gt.squeeze()
    if pred.shape != gt.shape or pred.dim() != 2:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must be the same (H, W)")
    pred, gt = pred.detach().double(), gt.detach().double()
    valid = torch.isfinite(gt) & (gt > 0) & (gt <= max_depth) & torch.isfinite(pred)
    if mask is not None:
        valid &= mask.squeeze().bool()
    if crop_rows:
        if 2 * crop_rows >= gt.shape[0]:
            raise ValueError(f"crop_rows={crop_rows} leaves nothing of a {gt.shape[0]}-row image")
        rows = slice(crop_rows, gt.shape[0] - crop_rows)
        pred, gt, valid = pred[rows], gt[rows], valid[rows]
    n = int(valid.sum())
    if n == 0:
        return {**{k: math.nan for k in METRIC_KEYS}, "valid_pixels": 0}
    spec = PROTOCOLS[protocol]
    p, g = _align(pred[valid], gt[valid], spec, pred_is_disparity, max_depth), gt[valid]
    if spec.clamp is not None:
        p, g = p.clamp(*spec.clamp), g.clamp(*spec.clamp)
    return {**_metrics(p, g, rmse_log), "valid_pixels": n}


class MetricAccumulator:
    """Streams per-image metrics over a dataset; the aggregate is the mean over images."""

    def __init__(self, protocol: str = "median", pred_is_disparity: bool = True, crop_rows: int = 0,
                 rmse_log: RmseLog = "ln", max_depth: float = 10.0) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(PROTOCOLS)}")
        self.settings = dict(protocol=protocol, pred_is_disparity=pred_is_disparity, crop_rows=crop_rows,
                             rmse_log=rmse_log, max_depth=max_depth)
        self.rows: list[dict[str, float | int | str]] = []

    def update(self, pred: torch.Tensor, gt: torch.Tensor, names: list[str] | None = None,
               mask: torch.Tensor | None = None) -> None:
        """Add a batch: ``pred``/``gt`` (B, 1, H, W) or (B, H, W)."""
        if pred.shape[0] != gt.shape[0]:
            raise ValueError(f"batch sizes differ: pred {pred.shape[0]}, gt {gt.shape[0]}")
        for i in range(pred.shape[0]):
            m = None if mask is None else mask[i]
            row: dict[str, float | int | str] = {"image": names[i] if names else str(len(self.rows))}
            row.update(compute_metrics(pred[i], gt[i], mask=m, **self.settings))
            self.rows.append(row)

    def result(self) -> dict[str, float | int]:
        """Mean of each metric over images with valid pixels, plus how many images counted."""
        used = [r for r in self.rows if r["valid_pixels"]]
        out: dict[str, float | int] = {
            k: (sum(float(r[k]) for r in used) / len(used)) if used else math.nan for k in METRIC_KEYS
        }
        out["images"] = len(used)
        out["images_skipped"] = len(self.rows) - len(used)
        return out
