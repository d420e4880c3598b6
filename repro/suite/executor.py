"""The runner's only door to the rest of the pipeline: a small, explicit cell executor interface.

The runner (caching, shards, VRAM, provenance, reports) never calls the trainer directly; it
calls a :class:`CellExecutor`, so tests can drive it with a fake pipeline. :class:`ReproExecutor`
is the real one, built on plain imports of the data, mask, training and evaluation packages; an
error in one stage fails *its* cell with a recorded error, and everything else still runs and reports.

What :class:`ReproExecutor` calls (keyword arguments, paths absolute):

* ``repro.data.synth.ensure_synthetic(ref: DataRef, spec: SynthSpec, *, data_root: Path) -> None``
  — write the synthetic stand-in of ``ref``'s dataset (its real layout) under
  ``ref.root_dir(data_root)`` unless it is already there.
* ``repro.masks.ensure_masks(ref: DataRef, spec: MaskSpec, *, data_root: Path) -> None`` — make the
  sky/watermark masks of ``ref`` exist under ``ref.mask_dir(data_root)`` (generate what is missing).
* ``repro.train.train(settings: TrainSettings, *, out_dir, data_root, init_checkpoint, resume,
  force, device) -> Path`` — train, write checkpoints and logs under ``out_dir``, return the final checkpoint.
* ``repro.evaluation.evaluate.evaluate(settings: EvalSettings, *, checkpoint, out_dir, data_root, device)
  -> dict[str, float]`` — write per-image metrics under ``out_dir``, return the aggregate metrics
  keyed ``abs_rel, delta1, delta2, delta3, mae, rmse, rmse_log`` (fractions, metres).
* ``repro.train.profile(settings: TrainSettings, *, steps, device) -> dict[str, float]`` and
  ``repro.evaluation.evaluate.profile(settings: EvalSettings, *, steps, device) -> dict[str, float]`` — run
  ``steps`` steps at full size with randomly initialised weights on random tensors (no data, no
  checkpoints); return at least ``step_time_s`` (median seconds per step after warm-up).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from repro import masks, train
from repro.data import synth
from repro.evaluation import evaluate
from repro.suite.schema import Cell


class CellSkipped(Exception):
    """An optional external input is absent (e.g. Marigold predictions): reported, never scored."""


@dataclass
class RunContext:
    """Where and how one seed of one cell runs."""

    suite: str
    cell: str
    seed: int
    out_dir: Path  # this seed's own folder; the stage may write anything below it
    data_root: Path  # datasets (real, or synthetic for cells with `synthetic:`)
    device: str | None = None  # None: CUDA when available, else CPU
    resume: bool = False  # continue from the last checkpoint in out_dir
    init_checkpoint: Path | None = None  # resolved `init_from`
    force: bool = False  # start over where out_dir holds an interrupted training run
    log: logging.Logger = logging.getLogger("repro.suite")
    keep_optimizer: bool = False  # keep last.pt (optimizer state) after training finished
    ranks: int = 1  # processes training the cell (DDP; --gpus-per-cell)
    progress: bool = True  # progress bars (--no-progress: none; off a terminal they are plain lines anyway)


class CellExecutor(Protocol):
    """What the runner needs from the pipeline, one call per stage."""

    def prepare_data(self, cell: Cell, ctx: RunContext) -> None:
        """Make sure every dataset the cell reads exists (synthesize it for synthetic cells)."""

    def prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        """Make sure the cell's unlabeled data has its sky/watermark masks (generate missing ones)."""

    def train(self, cell: Cell, ctx: RunContext) -> Path:
        """Train ``cell.train`` (seed already set); return the checkpoint."""

    def evaluate(self, cell: Cell, checkpoint: Path | None, ctx: RunContext) -> dict[str, float]:
        """Evaluate ``cell.eval`` (checkpoint None for eval-only cells); return aggregate metrics."""

    def profile(self, cell: Cell, ctx: RunContext, steps: int) -> dict[str, float]:
        """Full-size steps with random weights and random inputs; at least ``step_time_s``."""


class ReproExecutor:
    """The real pipeline: ``repro.data`` / ``repro.masks`` / ``repro.train`` / ``repro.evaluation.evaluate``.

    ``ctx.ranks`` > 1 trains the cell on that many local processes (DDP, :mod:`repro.train.launch`):
    a job holding several GPUs uses all of them, the global batch unchanged.
    """

    def prepare_data(self, cell: Cell, ctx: RunContext) -> None:
        if cell.eval is not None and cell.eval.model == "predictions":
            pred = ctx.data_root / str(cell.eval.predictions)
            if not pred.is_dir():
                raise CellSkipped(
                    f"no predictions at {pred}: this model is not implemented in repro; put its "
                    f"depth maps there (one per test image, same stem) to score it"
                )
        if cell.synthetic is not None:
            for ref in cell.datasets():
                synth.ensure_synthetic(ref, cell.synthetic, data_root=ctx.data_root)
            return
        for ref in cell.datasets():
            root = ref.root_dir(ctx.data_root)
            if not root.is_dir():
                raise FileNotFoundError(
                    f"dataset '{ref.dataset}' not found at {root} (pass --data-root, or set the "
                    f"dataset's root: in the suite; `repro data verify` checks a layout)"
                )

    def prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        if cell.train is None or not cell.train.pseudo or cell.train.masks.backend == "none":
            return
        for ref in cell.train.pseudo:
            masks.ensure_masks(ref, cell.train.masks, data_root=ctx.data_root)

    def train(self, cell: Cell, ctx: RunContext) -> Path:
        assert cell.train is not None
        kwargs = {
            "out_dir": ctx.out_dir,
            "data_root": ctx.data_root,
            "init_checkpoint": ctx.init_checkpoint,
            "resume": ctx.resume,
            "force": ctx.force,
            "keep_optimizer": ctx.keep_optimizer,
            "device": ctx.device,
            "progress": ctx.progress,
        }
        if ctx.ranks > 1:
            from repro.train.launch import train_on_ranks

            return train_on_ranks(cell.train, ctx.ranks, **kwargs)
        return Path(train.train(cell.train, **kwargs))

    def evaluate(self, cell: Cell, checkpoint: Path | None, ctx: RunContext) -> dict[str, float]:
        assert cell.eval is not None
        settings = cell.eval
        if settings.input_size is None and cell.train is not None:
            settings = dataclasses.replace(settings, input_size=cell.train.input_size)
        metrics = evaluate.evaluate(
            settings, checkpoint=checkpoint, out_dir=ctx.out_dir, data_root=ctx.data_root, device=ctx.device,
            progress=ctx.progress,
        )
        return {str(k): float(v) for k, v in dict(metrics).items()}

    def profile(self, cell: Cell, ctx: RunContext, steps: int) -> dict[str, float]:
        if cell.train is not None:
            out = train.profile(cell.train, steps=steps, device=ctx.device)
        else:
            assert cell.eval is not None
            out = evaluate.profile(cell.eval, steps=steps, device=ctx.device)
        return {str(k): float(v) for k, v in dict(out).items()}
