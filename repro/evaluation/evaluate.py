"""Evaluation: a checkpoint (or the teacher, or supplied predictions) on a test split, per image.

Writes ``per_image.csv`` (every metric of every image), ``per_image.<evaluator>.csv`` for each
evaluator of :mod:`repro.evaluation.evaluators` (the paper's and the released code's, always both) and
``metrics.json`` (the mean over images,
with the protocol, crop, clamp and RMSElog definition they were computed under, the model and
dataset, and whether a stand-in teacher was involved) and returns the aggregate. Metrics come
from :mod:`repro.evaluation.metrics`; the protocols and their sources are documented there.

Models: ``student`` — a checkpoint written by ``repro train`` (it records the network), or a
released one with ``student=`` naming the network; ``teacher_equirect`` — the teacher on whole
panoramas (paper Table 3's "Depth Anything" row); ``predictions`` — depth maps supplied in a
folder (one per test image, same file stem, ``.npy`` float depth or 16-bit ``.png`` millimetres).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from repro.atomic import write_json
from repro.config import to_plain
from repro.devices import pick_device
from repro.errors import UserError
from repro.evaluation.evaluators import CELL, evaluators_for, same_as
from repro.evaluation.metrics import MetricAccumulator, scaled_crop_rows
from repro.evaluation.naming import PredictionIndex
from repro.models.checkpoints import DEFAULT_SIZE, load_student
from repro.progress import progress_bar
from repro.run_settings import EvalSettings, StudentSpec


def _teacher_model(settings: EvalSettings, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    from repro.teacher import build_teacher_equirect

    spec = settings.teacher
    assert spec is not None
    model = build_teacher_equirect(spec.id, **spec.build_options()).to(device).eval()
    meta = {
        "name": f"teacher:{spec.id}",
        "output_kind": "disparity",
        "stand_in": model.is_stand_in,
        "description": model.describe(),
        "teacher": model.teacher.provenance(),  # id, revision, precision, resizes
    }
    return model, meta


def _read_prediction(index: PredictionIndex, image_path: str, size: tuple[int, int]) -> torch.Tensor:
    candidate = index.find(image_path)
    try:
        if candidate.suffix == ".npy":
            array = np.load(candidate, allow_pickle=False)
            if array.dtype.kind not in "fiu":
                raise ValueError(f"holds {array.dtype} values, not numbers")
            depth = torch.from_numpy(array.astype(np.float32))
        else:
            from PIL import Image

            with Image.open(candidate) as im:
                depth = torch.from_numpy(np.asarray(im).astype(np.float32) / 1000.0)
        if depth.dim() < 2 or depth[..., 0, 0].numel() != 1:
            raise ValueError(f"has shape {tuple(depth.shape)}, not one (H, W) depth map")
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"prediction {candidate} (for {image_path}) is unreadable: {exc}") from None
    bad = ~torch.isfinite(depth) | (depth < 0)
    if bool(bad.any()):
        raise UserError(
            f"prediction {candidate} (for {image_path}) has {int(bad.sum())} non-finite or negative depth values: "
            "write a valid depth (0 where there is none) at every pixel"
        )
    depth = depth.reshape(1, 1, *depth.shape[-2:])
    if tuple(depth.shape[-2:]) != size:
        depth = torch.nn.functional.interpolate(depth, size=size, mode="nearest")
    return depth[0]


def _accumulator(settings: EvalSettings, pred_is_disparity: bool, height: int) -> MetricAccumulator:
    return MetricAccumulator(
        settings.protocol,
        pred_is_disparity=pred_is_disparity,
        crop_rows=scaled_crop_rows(settings.crop_rows, height),
        rmse_log=settings.rmse_log,
        clamp=settings.clamp,
        min_depth=settings.min_depth,
        max_depth=settings.max_depth,
        seam="seam_ratio" in settings.metrics,
    )


def evaluate(
    settings: EvalSettings,
    *,
    checkpoint: str | Path | None,
    out_dir: str | Path,
    data_root: str | Path,
    device: str | torch.device | None = None,
    student: StudentSpec | str | None = None,
    batch_size: int = 1,
    num_workers: int = 2,
    progress: bool = True,
) -> dict[str, float]:
    """Score one model on ``settings.dataset``; write per-image CSV and aggregate JSON under ``out_dir``."""
    from repro.data import DataError, build_dataset
    from repro.preflight import check_output_dir

    started = time.time()
    if batch_size < 1 or num_workers < 0:
        raise UserError(f"need batch size >= 1 and workers >= 0, got batch size {batch_size}, {num_workers} workers")
    out_dir, data_root = Path(out_dir), Path(data_root)
    check_output_dir(out_dir, "evaluation output folder", need_space=False)  # before inference, not after it
    device = pick_device(device)
    model: nn.Module | None = None
    if settings.model == "student":
        if checkpoint is None:
            raise UserError("evaluating a student needs a checkpoint")
        model, meta = load_student(checkpoint, student, device)
    elif settings.model == "teacher_equirect":
        model, meta = _teacher_model(settings, device)
    else:
        meta = {"name": f"predictions:{settings.predictions}", "output_kind": "depth"}
    size = tuple(settings.input_size or meta.get("input_size") or DEFAULT_SIZE)
    built = tuple(getattr(model, "input_size", ()) or ())
    if settings.model == "student" and built and built != size:
        raise UserError(
            f"{checkpoint}: the network is built for {built[0]}x{built[1]} input, the evaluation asks for "
            f"{size[0]}x{size[1]} (leave the input size out, or give the network's size)"
        )
    dataset = build_dataset(settings.dataset, data_root, size=size, augment=False)
    from repro.data.validity import check_ground_truth

    what = f"{settings.dataset.dataset}/{settings.dataset.split} under {dataset.root}"
    check_ground_truth(dataset, what)  # before inference: all-invalid ground truth scores nothing
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    predictions = (
        PredictionIndex(data_root / str(settings.predictions), dataset.root, [e.rgb for e in dataset.entries])
        if settings.model == "predictions"
        else None
    )
    # Every named evaluator (paper eq. 8, released code) on the same predictions, in one pass.
    evaluators = evaluators_for(settings)
    accs = {name: _accumulator(s, meta["output_kind"] == "disparity", size[0]) for name, s in evaluators.items()}
    cell_evaluator = CELL if CELL in accs else same_as(settings)
    acc = accs[cell_evaluator]  # type: ignore[index]
    from repro.data.transforms import imagenet_normalize

    # a stand-in (oracle) teacher, in training or as the evaluated model, is recorded with the result
    stand_in = bool(meta.get("stand_in") or (meta.get("trained_with_teacher") or {}).get("stand_in"))
    with torch.inference_mode():
        for batch in progress_bar(loader, desc="eval", unit="batch", enabled=progress, dynamic_ncols=True):
            gt = batch["depth"]
            if settings.model == "predictions":
                pred = torch.stack([_read_prediction(predictions, p, size) for p in batch["path"]])  # type: ignore[arg-type]
            elif settings.model == "teacher_equirect":
                x = imagenet_normalize(batch["rgb"].to(device))
                pred = model(x, depth=gt.to(device) if stand_in else None)  # type: ignore[misc]
            else:
                pred = model(imagenet_normalize(batch["rgb"].to(device)))  # type: ignore[misc]
            pred = pred.float().cpu()
            broken = [p for p, x in zip(batch["path"], pred, strict=True) if not bool(torch.isfinite(x).all())]
            if broken:
                raise UserError(
                    f"{meta['name']} ({checkpoint or 'no checkpoint'}) predicts non-finite values for "
                    f"{broken[0]}: a diverged or corrupt model; nothing written"
                )
            for a in accs.values():
                a.update(pred, gt, names=[str(p) for p in batch["path"]])
    result = acc.result()
    if not result["images"]:
        raise DataError(
            f"{what}: no image has a valid ground-truth pixel within the crop and depth range "
            f"({settings.min_depth} < depth <= {settings.max_depth} m): nothing to score"
        )
    acc.write_csv(out_dir / "per_image.csv")
    for name, a in accs.items():
        a.write_csv(out_dir / f"per_image.{name}.csv")
    report = {
        "metrics": result,
        "evaluation": acc.describe(),
        "cell_evaluator": cell_evaluator,
        "evaluators": {name: {"metrics": a.result(), "evaluation": a.describe()} for name, a in accs.items()},
        "settings": to_plain(dataclasses.replace(settings, input_size=size)),
        "dataset": {
            "name": settings.dataset.dataset,
            "split": settings.dataset.split,
            "root": str(settings.dataset.root_dir(data_root)),
            "images": len(dataset),
        },
        "model": {**meta, "checkpoint": str(checkpoint) if checkpoint else None},
        "stand_in_teacher": stand_in,
        "device": str(device),
        "seconds": time.time() - started,
    }
    write_json(out_dir / "metrics.json", report, default=str)
    return {k: float(v) for k, v in result.items()}


def profile(settings: EvalSettings, *, steps: int = 5, device: str | torch.device | None = None) -> dict[str, float]:
    """The suite's random-init dry run of an eval-only cell: forward passes of the (random) teacher."""
    import statistics

    if settings.model != "teacher_equirect":
        raise UserError(f"eval model '{settings.model}' runs no network: there is nothing to profile")
    from repro.teacher import TeacherOnEquirect, build_teacher_from_spec

    device = pick_device(device)
    assert settings.teacher is not None
    if settings.teacher.is_oracle:
        raise UserError("the oracle teacher has no network to profile")
    model = TeacherOnEquirect(build_teacher_from_spec(settings.teacher, random_init=True)).to(device).eval()
    h, w = settings.input_size or DEFAULT_SIZE
    x = torch.randn(1, 3, h, w, device=device)
    times = []
    for i in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i:  # the first pass is warm-up
            times.append(time.perf_counter() - t0)
    out = {"step_time_s": statistics.median(times)}
    if device.type == "cuda":
        out["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out
