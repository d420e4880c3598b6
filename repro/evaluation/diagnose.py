"""One pass over a test split, scored many ways: both evaluators and every known cause of a mismatch.

"The released model gives worse numbers than the paper" is nearly always a protocol, crop,
depth-scale or input-size difference. :func:`score_many` runs a model once per test image and
scores the same predictions under several :class:`Scoring` s — the evaluation the caller asked
for (``cell``), the paper's evaluator and the released code's (the names issue 14's reports use,
``paper`` / ``released``), and :func:`switches`: the base evaluation with exactly one cause flipped:

* ``alignment`` — median alignment ↔ least-squares scale+shift in disparity, then median;
* ``crop`` — no crop ↔ the released 68-row top/bottom crop (rows at H = 512);
* ``depth_units`` — ground truth read in the wrong units (Stanford2D3D's raw/512 read as mm);
* ``invalid_kept`` — the dataset's "no return" code not masked (65535 → 128 m kept as valid);
* ``resolution`` — the panorama reaches the network through a half-resolution copy;
* ``rmse_log_*`` — the other RMSElog forms (log10(x + 1) as released, log10).

Each scoring writes ``per_image.<name>.csv`` (the same columns as :mod:`repro.evaluation.evaluate`'s
``per_image.csv``, so per-image paired comparisons apply to any of them) and its aggregate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from repro.evaluation.evaluators import CELL, PAPER, RELEASED, evaluator_settings
from repro.evaluation.evaluators import SOURCES as EVALUATOR_SOURCES
from repro.evaluation.metrics import (
    RELEASED_ZERO_SHOT_CROP,
    MetricAccumulator,
    scaled_crop_rows,
)
from repro.progress import progress_bar
from repro.run_settings import EvalSettings

MM_PER_M = 1000.0

#: what the model is asked for each batch: (ImageNet-normalised RGB, ground-truth depth) -> prediction
Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Scoring:
    """One way of scoring the same predictions."""

    name: str  # file-safe: per_image.<name>.csv
    label: str  # what it changes, for reports
    settings: EvalSettings
    gt_scale: float = 1.0  # ground truth multiplied by this (depth read in other units)
    invalid_depth: float | None = None  # metres given to pixels without a return (the code not masked)
    input_scale: float = 1.0  # the panorama goes through this fraction of its resolution first

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "gt_scale": self.gt_scale, "invalid_depth": self.invalid_depth,
                "input_scale": self.input_scale}


def evaluators(settings: EvalSettings) -> list[Scoring]:
    """The cell's own evaluation and both named evaluators."""
    return [
        Scoring(CELL, "the suite's eval: settings", settings),
        *(Scoring(n, EVALUATOR_SOURCES[n], evaluator_settings(settings, n)) for n in (PAPER, RELEASED)),
    ]


def switches(base: EvalSettings, depth_scale: float, depth_invalid: int | None) -> list[Scoring]:
    """``base`` with one known cause of a mismatch flipped at a time (see the module docstring)."""
    r = dataclasses.replace
    out = []
    if base.protocol != "none":
        other = "median" if base.protocol == "lsq_disparity_median" else "lsq_disparity_median"
        out.append(Scoring("alignment", f"alignment: {base.protocol} -> {other} (with its clamp)",
                           r(base, protocol=other, clamp=None)))
    crop = 0 if base.crop_rows else RELEASED_ZERO_SHOT_CROP
    out.append(Scoring("crop", f"crop: {base.crop_rows} -> {crop} rows top and bottom (at H = 512)",
                       r(base, crop_rows=crop)))
    wrong = MM_PER_M if depth_scale != MM_PER_M else 512.0
    out.append(Scoring("depth_units", f"depth units: raw / {depth_scale:g} -> raw / {wrong:g}", base,
                       gt_scale=depth_scale / wrong))
    if depth_invalid is not None:
        kept = depth_invalid / depth_scale
        out.append(Scoring("invalid_kept", f"invalid code {depth_invalid} not masked: read as {kept:g} m and kept",
                           r(base, max_depth=max(base.max_depth, kept)), invalid_depth=kept))
    out.append(Scoring("resolution", "input resolution: the panorama through a half-resolution copy", base,
                       input_scale=0.5))
    for form in ("released", "log10", "ln"):
        if form != base.rmse_log:
            out.append(Scoring(f"rmse_log_{form}", f"RMSElog form: {base.rmse_log} -> {form}", r(base, rmse_log=form)))
    return out


def _through_resolution(rgb: torch.Tensor, scale: float) -> torch.Tensor:
    """The image down to ``scale`` of its size (area) and back up (bicubic): a low-resolution source."""
    h, w = rgb.shape[-2:]
    small = F.interpolate(rgb, size=(max(1, round(h * scale)), max(2, round(w * scale))), mode="area")
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)


def _ground_truth(gt: torch.Tensor, scoring: Scoring) -> torch.Tensor:
    out = gt * scoring.gt_scale if scoring.gt_scale != 1.0 else gt
    if scoring.invalid_depth is not None:
        out = torch.where(out > 0, out, torch.full_like(out, scoring.invalid_depth))
    return out


def score_many(
    predict: Predictor,
    dataset: torch.utils.data.Dataset,
    scorings: list[Scoring],
    *,
    pred_is_disparity: bool,
    out_dir: str | Path,
    progress: bool = True,
) -> dict[str, MetricAccumulator]:
    """Run ``predict`` once per image (twice where a scoring changes the input) and score every way.

    ``dataset`` yields ImageNet-normalisable ``rgb`` in [0, 1], ``depth`` in metres and ``path``.
    Writes ``per_image.<name>.csv`` per scoring under ``out_dir``; returns the accumulators.
    """
    from repro.data.transforms import imagenet_normalize

    names = [s.name for s in scorings]
    if len(set(names)) != len(names):
        raise ValueError(f"scoring names must be distinct, got {names}")
    out_dir = Path(out_dir)
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)
    height = int(dataset[0]["depth"].shape[-2])  # crops are given at H = 512 and scaled to this
    accs = {
        s.name: MetricAccumulator(
            s.settings.protocol, pred_is_disparity=pred_is_disparity,
            crop_rows=scaled_crop_rows(s.settings.crop_rows, height), rmse_log=s.settings.rmse_log,
            clamp=s.settings.clamp, min_depth=s.settings.min_depth, max_depth=s.settings.max_depth,
        )
        for s in scorings
    }
    scales = sorted({s.input_scale for s in scorings})
    with torch.inference_mode():
        for batch in progress_bar(loader, desc="score", unit="image", enabled=progress, dynamic_ncols=True):
            gt, image = batch["depth"], [str(p) for p in batch["path"]]
            preds = {}
            for scale in scales:
                rgb = batch["rgb"] if scale == 1.0 else _through_resolution(batch["rgb"], scale)
                preds[scale] = predict(imagenet_normalize(rgb), gt).float().cpu()
            for s in scorings:
                accs[s.name].update(preds[s.input_scale], _ground_truth(gt, s), names=image)
    for name, acc in accs.items():
        acc.write_csv(out_dir / f"per_image.{name}.csv")
    return accs


def gap_closed(measured: float, switched: float, paper: float) -> float | None:
    """Fraction of |measured − paper| a switch removes (1 = closes it, < 0 = widens it)."""
    gap = abs(measured - paper)
    if not math.isfinite(gap) or gap == 0 or not math.isfinite(switched):
        return None
    return (gap - abs(switched - paper)) / gap


def evaluate_model(
    predict: Predictor,
    meta: dict[str, Any],
    settings: EvalSettings,
    *,
    data_root: str | Path,
    out_dir: str | Path,
    diagnose: bool = True,
    device: str = "cpu",
    extra: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """The suite's evaluation of one model, both evaluators and (``diagnose``) every switch, in one pass.

    Writes what :func:`repro.evaluation.evaluate.evaluate` writes — ``per_image.csv`` and
    ``metrics.json`` for ``settings`` — plus ``per_image.<name>.csv`` per scoring and, in
    ``metrics.json``, ``evaluators`` (cell, paper, released) and ``diagnosis`` (each switch).
    Returns the aggregate under ``settings``.
    """
    import time

    from repro.atomic import write_json
    from repro.config import to_plain
    from repro.data import build_dataset

    started = time.time()
    out_dir, data_root = Path(out_dir), Path(data_root)
    size = tuple(settings.input_size or meta["input_size"])
    dataset = build_dataset(settings.dataset, data_root, size=size, augment=False)
    named = evaluators(settings)
    extra_scorings = switches(settings, dataset.depth_scale, dataset.depth_invalid) if diagnose else []
    accs = score_many(predict, dataset, [*named, *extra_scorings],
                      pred_is_disparity=meta["output_kind"] == "disparity", out_dir=out_dir, progress=progress)
    cell = accs[CELL]
    cell.write_csv(out_dir / "per_image.csv")
    report = {
        "metrics": cell.result(),
        "evaluation": cell.describe(),
        "settings": to_plain(dataclasses.replace(settings, input_size=size)),
        "dataset": {"name": settings.dataset.dataset, "split": settings.dataset.split,
                    "root": str(settings.dataset.root_dir(data_root)), "images": len(dataset)},
        "model": meta,
        "stand_in_teacher": bool(meta.get("stand_in")),
        "device": device,
        "cell_evaluator": CELL,
        "evaluators": {s.name: {"metrics": accs[s.name].result(), "evaluation": accs[s.name].describe()}
                       for s in named},
        "diagnosis": {s.name: {"metrics": accs[s.name].result(), "evaluation": accs[s.name].describe(),
                               **s.describe()} for s in extra_scorings},
        **(extra or {}),
        "seconds": time.time() - started,
    }
    write_json(out_dir / "metrics.json", report, default=str)
    return {k: float(v) for k, v in cell.result().items()}
