"""What a cell will cost, for ``--dry-run``: counts from the schedule, time and memory per step.

Steps, images and teacher calls follow from the schedule and the datasets' published split sizes.
GPU time is ``steps × step time``. The step time and the peak VRAM come, in this order, from a
``--random-init`` run on this machine (``profile.json``), else from the cost model
(``cost_model.json`` beside this module, written by ``benchmarks/bench_cost_model.py`` and
explained in docs/cost_model.md: counted FLOPs on an RTX 4090 at an assumed utilisation, CPU memory
fit), looked up by what sets a step's cost; a configuration the model has no figure for says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from repro.distill import FACES_PER_PANORAMA
from repro.run_settings import DataRef, TrainSettings
from repro.suite.schema import Cell, SynthSpec
from repro.suite.vram import DEFAULT_BUDGET_GIB

#: Published split sizes. Matterport3D and Stanford2D3D: the official splits used by UniFuse and
#: the paper (issue 4). Structured3D: 21,835 panoramic rooms in 3,500 scenes (its paper; the
#: per-split counts depend on the scene ranges). SpatialAudioGen: "344K" frames (paper Table 6).
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "matterport3d": {"train": 7829, "val": 957, "test": 2014},
    "stanford2d3d": {"train": 1000, "val": 40, "test": 373},
    "structured3d": {"all": 21835},
    "spatialaudiogen": {"all": 344000},
}


def split_size(ref: DataRef, synthetic: SynthSpec | None = None) -> int | None:
    """Images in ``ref``'s split, or None when the published size is not known."""
    if synthetic is not None:
        return synthetic.count * (3 if ref.split == "all" else 1)
    sizes = SPLIT_SIZES.get(ref.dataset, {})
    if ref.split in sizes:
        return sizes[ref.split]
    if ref.split == "all" and {"train", "val", "test"} <= sizes.keys():
        return sizes["train"] + sizes["val"] + sizes["test"]
    return None


def _total(refs: list[DataRef], synthetic: SynthSpec | None) -> int | None:
    sizes = [split_size(r, synthetic) for r in refs]
    return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]


@dataclass
class CellCost:
    labeled_images: int | None = None
    unlabeled_images: int | None = None  # to be masked once, then pseudo-labeled online
    test_images: int | None = None
    epochs: int | None = None
    steps: int | None = None  # optimizer steps per seed
    teacher_images: int | None = None  # teacher forward passes per seed
    seeds: int = 1
    step_time_s: float | None = None  # measured by --random-init on this machine
    gpu_hours: float | None = None  # all seeds

    @property
    def time_source(self) -> str:
        return "measured step time (--random-init)" if self.step_time_s is not None else "run --random-init to measure"


def estimate(cell: Cell, step_time_s: float | None = None) -> CellCost:
    """The cost of a cell (recipe defaults already filled in); ``step_time_s`` from a profile run."""
    cost = CellCost(seeds=max(len(cell.seeds), 1))
    if cell.eval is not None:
        cost.test_images = split_size(cell.eval.dataset, cell.synthetic)
    train = cell.train
    if train is None:
        return cost
    cost.labeled_images = _total(train.labeled, cell.synthetic)
    cost.unlabeled_images = _total(train.pseudo, cell.synthetic) if train.pseudo else 0
    sched = train.schedule
    batch = sched.batch_size or 1
    cost.epochs = sched.epochs
    if sched.steps is not None:
        per_epoch = math.ceil(cost.labeled_images / batch) if cost.labeled_images else None
        cost.steps = (
            sched.steps if sched.epochs is None or per_epoch is None else min(sched.steps, sched.epochs * per_epoch)
        )
    elif sched.epochs is not None and cost.labeled_images is not None:
        cost.steps = sched.epochs * math.ceil(cost.labeled_images / batch)
    if cost.steps is not None and train.pseudo:
        per_step = batch * train.pseudo_per_labeled * FACES_PER_PANORAMA[train.distill.projection]
        cost.teacher_images = cost.steps * per_step
    elif cost.steps is not None:
        cost.teacher_images = 0
    if step_time_s is not None and cost.steps is not None:
        cost.step_time_s = step_time_s
        cost.gpu_hours = cost.steps * step_time_s * cost.seeds / 3600
    return cost


COST_TABLE = Path(__file__).with_name("cost_model.json")


def cost_key(train: TrainSettings) -> str:
    """What sets the time and memory of one training step (student, input, batch, teacher work)."""
    labeled = int(train.schedule.batch_size or 1)
    unlabeled = labeled * train.pseudo_per_labeled if train.pseudo else 0
    key: dict[str, Any] = {
        "student": train.student.name,
        "options": dict(sorted(train.student.options.items())),
        "input_size": list(train.input_size),
        "batch": [labeled, unlabeled],
        "metric": train.loss != "affine_inv",
    }
    if unlabeled:
        key |= {"projection": train.distill.projection, "teacher": [train.teacher.id, train.teacher.input_size]}
    return json.dumps(key, sort_keys=True)


def cost_table() -> dict[str, dict[str, Any]]:
    """cost key -> {step_s, peak_gib, source} (empty when the model has not been computed)."""
    return _read_table(COST_TABLE)


@cache
def _read_table(path: Path) -> dict[str, dict[str, Any]]:
    try:
        return dict(json.loads(path.read_text())["steps"])
    except (OSError, ValueError, KeyError):
        return {}


def cell_estimates(
    cell: Cell,
    step_time_s: float | None = None,
    peak_gib: float | None = None,
    budget_gib: float | None = DEFAULT_BUDGET_GIB,
    cost: CellCost | None = None,
) -> dict[str, Any]:
    """One cell's plan figures: steps, teacher images, GPU-hours, peak VRAM and whether it fits.

    ``step_time_s`` and ``peak_gib`` are measured (``--random-init``); they win over the cost model.
    Keys: steps, seeds, teacher_images, step_time_s, gpu_hours, peak_gib, over_budget, source.
    ``cost``: :func:`estimate` of the same cell and step time, when the caller already has it.
    """
    cost = cost or estimate(cell, step_time_s)
    row = cost_table().get(cost_key(cell.train)) if cell.train is not None else None
    out: dict[str, Any] = {
        "steps": cost.steps,
        "seeds": cost.seeds,
        "teacher_images": cost.teacher_images,
        "step_time_s": cost.step_time_s,
        "gpu_hours": cost.gpu_hours,
        "peak_gib": peak_gib,
        "over_budget": None,
        "source": "measured (--random-init)" if cost.step_time_s is not None else None,
    }
    if row is not None:
        if out["peak_gib"] is None:
            out["peak_gib"] = row.get("peak_gib")
        if out["step_time_s"] is None and cost.steps is not None:
            out["step_time_s"] = row["step_s"]
            out["gpu_hours"] = cost.steps * row["step_s"] * cost.seeds / 3600
            out["source"] = row.get("source", "cost model")
    if out["peak_gib"] is not None and budget_gib:
        out["over_budget"] = out["peak_gib"] > budget_gib
    return out
