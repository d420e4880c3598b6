"""The training loop: joint labeled + unlabeled steps, NaN guard, checkpoints, exact resume, DDP.

Each step draws one labeled batch and one unlabeled batch (``ratio`` 1:N → N× as many unlabeled
images); an epoch is one pass over the labeled data while the unlabeled stream cycles on its own
(as the released ``train.py`` does). What a step reads depends only on the step number
(:mod:`repro.train.sampling`), so a checkpoint's step *is* the data position.

NaN/inf guard: after the backward pass the loss and the global gradient norm (after DDP's
all-reduce) are checked; a non-finite step is skipped — no optimizer update — and counted, and
``max_bad_steps`` consecutive bad steps stop training with an error naming the images of the last
bad batch (the paper reports NaNs when training on uncleaned data). All ranks agree on a skip.
After every optimizer step the weights are checked too: NaN/inf there (a learning rate far too
high) stops the run at once, naming the step and the last good ``last.pt``, which is kept.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from repro.atomic import write_text
from repro.config import dump_yaml, to_plain
from repro.errors import UserError
from repro.models import checkpoints as ckpt
from repro.run_settings import TrainSettings
from repro.train import preemption
from repro.train.distributed import (
    DistInfo,
    all_reduce_mean,
    barrier,
    broadcast_object,
    gather_objects,
    wrap_model,
)
from repro.train.objective import JointObjective, SectionTimer
from repro.train.optim import build_optimizer, build_scheduler
from repro.train.rng import capture_rng, restore_rng
from repro.train.sampling import LABELED, UNLABELED, Stream, mix_seed, stream_loader
from repro.train.steplog import TrainLog

log = logging.getLogger("repro.train")


class NonFiniteLossError(UserError, RuntimeError):
    """Too many consecutive steps with a NaN/inf loss or gradient."""


class NonFiniteParametersError(UserError, RuntimeError):
    """An optimizer step left NaN/inf in the weights (the last good checkpoint is kept)."""


class InterruptedRunError(UserError):
    """The output folder holds an interrupted run and neither resume nor force was asked for."""


@dataclass
class Components:
    """What a run trains and reads; built from settings by :func:`repro.train.build.build_components`."""

    model: nn.Module
    labeled: Dataset
    unlabeled: Dataset | None = None
    teacher: Any | None = None
    #: how to rebuild the network for evaluation: name, options, output_kind, input_size
    student: dict[str, Any] = field(default_factory=dict)


class Callback(Protocol):
    def __call__(self, trainer: Trainer, step: int) -> None: ...


@dataclass(frozen=True)
class Plan:
    labeled: Stream
    unlabeled: Stream | None
    total_steps: int

    @property
    def steps_per_epoch(self) -> int:
        return self.labeled.batches_per_epoch


def make_plan(settings: TrainSettings, n_labeled: int, n_unlabeled: int | None, info: DistInfo) -> Plan:
    """Streams and step count of a run; ``settings`` resolved (batch size filled in)."""
    sched = settings.schedule
    batch = int(sched.batch_size)  # type: ignore[arg-type]
    labeled = Stream(n_labeled, batch, settings.seed, LABELED, True, info.rank, info.world_size)
    unlabeled = None
    if n_unlabeled is not None:
        pseudo = batch * settings.pseudo_per_labeled
        unlabeled = Stream(n_unlabeled, pseudo, settings.seed, UNLABELED, True, info.rank, info.world_size)
    by_epochs = sched.epochs * labeled.batches_per_epoch if sched.epochs else None
    candidates = [n for n in (by_epochs, sched.steps) if n is not None]
    if not candidates:
        raise ValueError("schedule: give epochs or steps")
    return Plan(labeled, unlabeled, min(candidates))


@dataclass
class EpochStats:
    """Running sums of one epoch (checkpointed, so a resumed epoch logs like an uninterrupted one)."""

    loss: float = 0.0
    loss_gt: float = 0.0
    loss_pseudo: float = 0.0
    good: int = 0
    skipped: int = 0

    def add(self, values: dict[str, float], ok: bool) -> None:
        if not ok:
            self.skipped += 1
            return
        self.good += 1
        self.loss += values["loss"]
        self.loss_gt += values["loss_gt"]
        self.loss_pseudo += values.get("loss_pseudo", 0.0)

    def record(self, epoch: int, has_pseudo: bool) -> dict[str, Any]:
        """Means over the good steps; None (JSON null) when every step was skipped, never a fake 0."""
        n = self.good

        def mean(total: float) -> float | None:
            return total / n if n else None

        out: dict[str, Any] = {"epoch": epoch, "loss": mean(self.loss), "loss_gt": mean(self.loss_gt)}
        if has_pseudo:
            out["loss_pseudo"] = mean(self.loss_pseudo)
        out.update(steps=self.good + self.skipped, skipped=self.skipped)
        return out


def _precision(settings: TrainSettings, device: torch.device) -> torch.dtype | None:
    if settings.precision == "bf16" or (settings.precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def resume_identity(settings: TrainSettings) -> dict[str, Any]:
    """The settings a resumed run must share with the checkpoint (worker count and checkpoint
    frequency may change: they cannot change a number)."""
    plain = to_plain(settings)
    for key in ("num_workers", "checkpoint_every_steps"):
        plain["schedule"].pop(key, None)
    return plain


class Trainer:
    """Runs one training configuration to its final checkpoint."""

    def __init__(
        self,
        settings: TrainSettings,
        components: Components,
        out_dir: str | Path,
        *,
        device: torch.device | str = "cpu",
        info: DistInfo | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
        timer: SectionTimer | None = None,
    ) -> None:
        self.settings = settings
        self.components = components
        self.out_dir = Path(out_dir)
        self.device = torch.device(device)
        self.info = info or DistInfo()
        self.callbacks = list(callbacks)
        self.progress = progress
        self.timer = timer or SectionTimer()
        self.ckpt_dir = self.out_dir / "checkpoints"
        n_unlabeled = len(components.unlabeled) if components.unlabeled is not None else None  # type: ignore[arg-type]
        online = settings.pseudo_labels == "online"
        if online and (n_unlabeled is None) != (components.teacher is None):
            raise ValueError("unlabeled data and a teacher go together")
        self.plan = make_plan(self.settings, len(components.labeled), n_unlabeled, self.info)  # type: ignore[arg-type]
        self.model = components.model.to(self.device)
        if isinstance(components.teacher, nn.Module):
            components.teacher.to(self.device)
        self.ddp_model = wrap_model(self.model, self.device, self.info)
        self.optimizer = build_optimizer(self.model.parameters(), self.settings)
        self.scheduler = build_scheduler(
            self.optimizer, self.settings, self.plan.steps_per_epoch, self.plan.total_steps
        )
        self.objective = JointObjective(
            self.settings, components.teacher, autocast_dtype=_precision(self.settings, self.device), timer=self.timer
        )
        self.step = 0
        self.bad_in_a_row = 0
        self.skipped_total = 0
        self.epoch_stats = EpochStats()
        self.stop_requested = False  # a preemption request reached every rank at this step
        self.saved_step: int | None = None  # step of the last.pt this run wrote or resumed from

    # ------------------------------------------------------------------ state

    def _generators(self) -> dict[str, torch.Generator]:
        gen = getattr(self.components.teacher, "generator", None)
        return {"teacher": gen} if isinstance(gen, torch.Generator) else {}

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs (collective in DDP: every rank must call it)."""
        rng = gather_objects(capture_rng(self._generators()), self.info)
        return {
            "format": ckpt.FORMAT,
            "kind": "train_state",
            "step": self.step,
            "epoch": self.step // self.plan.steps_per_epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng,
            "guard": {"bad_in_a_row": self.bad_in_a_row, "skipped_total": self.skipped_total},
            "epoch_stats": dataclasses.asdict(self.epoch_stats),
            "world_size": self.info.world_size,
            "settings": resume_identity(self.settings),
            "student": self.components.student,
        }

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        if state.get("kind") != "train_state":
            raise ckpt.CheckpointError(f"{source}: a finished model, not a resumable training state")
        theirs, ours = state["settings"], resume_identity(self.settings)
        if theirs != ours:
            diff = _differences(theirs, ours)
            raise ckpt.CheckpointError(
                f"{source} was written by a run with other settings ({'; '.join(diff[:5])}); "
                "resume with the same configuration or start a new output folder"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        if len(rng) != self.info.world_size:
            log.warning(
                "checkpoint written by %d processes, resuming with %d: data order is unchanged, but "
                "per-process random streams (dropout, oracle noise) will differ from an uninterrupted run",
                len(rng),
                self.info.world_size,
            )
        restore_rng(rng[self.info.rank % len(rng)], self._generators())
        self.step = int(state["step"])
        self.saved_step = self.step
        self.bad_in_a_row = int(state["guard"]["bad_in_a_row"])
        self.skipped_total = int(state["guard"]["skipped_total"])
        self.epoch_stats = EpochStats(**state["epoch_stats"])

    def save(self) -> Path:
        """Write ``last.pt`` atomically (rank 0; collective because of the RNG gather)."""
        state = self.state_dict()
        path = self.ckpt_dir / ckpt.LAST
        if self.info.is_main:
            ckpt.save_state(state, path)
        barrier(self.info)
        self.saved_step = self.step
        return path

    def _require_finite_weights(self, when: str) -> None:
        """Stop at once when the weights hold NaN/inf: nothing broken reaches last.pt or final.pt."""
        tensors = [(n, t) for n, t in self.model.state_dict().items() if t.is_floating_point()]
        if not tensors:
            return
        local = (~torch.stack([torch.isfinite(t).all() for _, t in tensors]).all()).float()
        if float(all_reduce_mean(local, self.info)) == 0.0:  # every rank agrees (buffers may differ by rank)
            return
        bad = [n for n, t in tensors if not bool(torch.isfinite(t).all())] or ["on another rank"]
        last = self.ckpt_dir / ckpt.LAST
        kept = (
            f"the last good checkpoint, {last} ({self.saved_step} steps done), is kept"
            if self.saved_step is not None and last.is_file()
            else "no checkpoint had been written yet"
        )
        raise NonFiniteParametersError(
            f"training diverged: {when} left NaN/inf in {len(bad)} weight tensor(s) ({', '.join(bad[:3])}); "
            f"stopped without writing it ({kept}). Lower the learning rate "
            f"(schedule.lr {self.settings.schedule.lr}) or check the data"
        )

    def save_final(self) -> Path:
        self._require_finite_weights(f"step {self.step}")
        path = self.ckpt_dir / ckpt.FINAL
        if self.info.is_main:
            payload = ckpt.model_payload(
                self.model.state_dict(),
                self.components.student,
                step=self.step,
                settings=to_plain(self.settings),
                teacher=_describe_teacher(self.components.teacher),
            )
            ckpt.save_state(payload, path)
        barrier(self.info)
        return path

    # ------------------------------------------------------------------ run

    def _start(self, resume: bool, init_checkpoint: str | Path | None, force: bool = False) -> None:
        last = self.ckpt_dir / ckpt.LAST
        have_last = broadcast_object(last.is_file(), self.info)
        refuse_interrupted(self.out_dir, resume=resume, force=force, info=self.info)
        if resume and have_last:
            self.load_state_dict(ckpt.load_state(last), last)
            epoch = self.step // self.plan.steps_per_epoch
            log.info("resuming %s at step %d of %d", last, self.step, self.plan.total_steps)
            if self.info.is_main:
                print(
                    f"resumed from {last} at step {self.step} of {self.plan.total_steps} (epoch {epoch}, counted from 0)",
                    file=sys.stderr,
                    flush=True,
                )
            return
        if init_checkpoint is not None:
            ckpt.load_weights(self.model, init_checkpoint)
        seed_process(self.settings.seed, self.info.rank)
        if self.info.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_text(self.out_dir / "resolved.yaml", dump_yaml(self.settings))

    def fit(self, resume: bool = False, init_checkpoint: str | Path | None = None, force: bool = False) -> Path:
        """Train to ``plan.total_steps``; returns ``final.pt``."""
        self._start(resume, init_checkpoint, force)
        plan, sched = self.plan, self.settings.schedule
        pin = self.device.type == "cuda"
        workers = int(sched.num_workers)
        labeled = iter(
            stream_loader(self.components.labeled, plan.labeled, self.step, num_workers=workers, pin_memory=pin)
        )
        unlabeled = None
        if plan.unlabeled is not None:
            unlabeled = iter(
                stream_loader(self.components.unlabeled, plan.unlabeled, self.step, num_workers=workers, pin_memory=pin)  # type: ignore[arg-type]
            )
        logbook = TrainLog(
            self.out_dir,
            plan.total_steps,
            self.step,
            self.step // plan.steps_per_epoch,
            enabled=self.info.is_main,
            progress=self.progress,
        )
        self.ddp_model.train()
        try:
            while self.step < plan.total_steps:
                lab = _to_device(next(labeled), self.device)
                unl = _to_device(next(unlabeled), self.device) if unlabeled is not None else None
                record = self._train_step(lab, unl)
                logbook.step(record)
                for callback in self.callbacks:
                    callback(self, self.step)
                if self.step % plan.steps_per_epoch == 0:
                    epoch = self.step // plan.steps_per_epoch - 1
                    logbook.epoch(self.epoch_stats.record(epoch, unl is not None))
                    self.epoch_stats = EpochStats()
                    self.save()
                elif sched.checkpoint_every_steps and self.step % sched.checkpoint_every_steps == 0:
                    self.save()
                if self.stop_requested and self.step < plan.total_steps:
                    raise preemption.TrainingPreempted(self.step, str(self.save()))
            if self.step % plan.steps_per_epoch:
                self.save()  # a steps-bounded run may end mid-epoch: last.pt is the end state
            return self.save_final()
        finally:
            logbook.close()
            del labeled, unlabeled  # shut the workers down now, not at garbage collection

    def _train_step(self, lab: dict[str, Any], unl: dict[str, Any] | None) -> dict[str, Any]:
        epoch = self.step // self.plan.steps_per_epoch
        self.optimizer.zero_grad(set_to_none=True)
        loss, parts = self.objective(self.ddp_model, lab, unl)
        with self.timer("backward"):
            loss.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.get_total_norm(grads) if grads else loss.new_zeros(())
        scalars = [loss.detach(), parts["gt"], parts.get("pseudo", loss.new_zeros(()))]
        bad = (~torch.isfinite(torch.stack(scalars))).any() | ~torch.isfinite(grad_norm)
        stop = loss.new_tensor(float(preemption.requested()))  # any rank's request stops every rank
        # grad_norm is taken after DDP's all-reduce, so it is already the same on every rank
        reduced = all_reduce_mean(torch.stack([*scalars, bad.float(), grad_norm.float(), stop]).float(), self.info)
        values = reduced.tolist()  # the step's one host sync
        self.stop_requested = values[5] > 0.0
        ok = values[3] == 0.0
        if ok:
            with self.timer("optimizer"):
                self.optimizer.step()
            self.bad_in_a_row = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.bad_in_a_row += 1
            self.skipped_total += 1
        # a skipped step is checked too: its forward pass updated BatchNorm statistics
        self._require_finite_weights(f"step {self.step}" + (" (an optimizer step)" if ok else " (skipped, forward only)"))
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        # a skipped step has no loss to report (a NaN prediction can even make it read 0): null + why
        record = {
            "step": self.step,
            "epoch": epoch,
            "loss": values[0] if ok else None,
            "loss_gt": values[1] if ok else None,
            "lr": lr,
            "grad_norm": values[4],
            "skipped": not ok,
        }
        if unl is not None:
            record["loss_pseudo"] = values[2] if ok else None
        if not ok:
            finite = all(math.isfinite(v) for v in values[:3])
            record["skip_reason"] = "non-finite gradient" if finite else "non-finite loss"
        self.epoch_stats.add(record, ok)
        self.step += 1
        if self.bad_in_a_row >= self.settings.schedule.max_bad_steps:
            paths = [*lab.get("path", []), *((unl or {}).get("path", []))]
            raise NonFiniteLossError(
                f"{self.bad_in_a_row} consecutive steps had a NaN/inf loss or gradient (last: step "
                f"{self.step - 1}, epoch {epoch}; {self.skipped_total} skipped in all). "
                + (
                    "The paper reports NaNs when the unlabeled data is not cleaned: check its masks "
                    "(`repro masks audit`), or lower the learning rate. "
                    if unl is not None
                    else f"Lower the learning rate (schedule.lr {self.settings.schedule.lr}) or check the data. "
                )
                + f"Images of the last bad step: {', '.join(map(str, paths[:8])) or 'n/a'}"
            )
        return record


def refuse_interrupted(out_dir: Path, *, resume: bool, force: bool, info: DistInfo) -> None:
    """Never start over silently on top of an interrupted run (its step log and last.pt would go)."""
    interrupted = broadcast_object(interrupted_run(Path(out_dir)) if not (resume or force) else None, info)
    if interrupted:
        raise InterruptedRunError(
            f"{out_dir} holds an interrupted training run ({interrupted}); pass --resume to continue "
            "it, or --force to start over (its step log and last.pt are replaced)"
        )


def interrupted_run(out_dir: Path) -> str | None:
    """What shows that ``out_dir`` holds a run that did not finish (None when it holds none).

    A run is interrupted when it left ``last.pt`` or a step log that is newer than its ``final.pt``
    (a finished run writes ``final.pt`` last; a later run that was killed leaves newer files).
    """
    final = out_dir / "checkpoints" / ckpt.FINAL
    traces = [p for p in (out_dir / "checkpoints" / ckpt.LAST, out_dir / "log" / "steps.jsonl") if p.is_file()]
    if not traces:
        return None
    final_mtime = final.stat().st_mtime if final.is_file() else None
    if final_mtime is not None and all(p.stat().st_mtime <= final_mtime for p in traces):
        return None
    steps = out_dir / "log" / "steps.jsonl"
    logged = sum(1 for line in steps.read_text(encoding="utf-8").splitlines() if line.strip()) if steps.is_file() else 0
    found = ", ".join(p.relative_to(out_dir).as_posix() for p in traces)
    return f"{found}; {logged} steps logged; " + ("final.pt older than them" if final_mtime else "no final.pt")


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if a == b else [f"{path}: {a!r} in the checkpoint, {b!r} now"]


def _describe_teacher(teacher: Any) -> dict[str, Any] | None:
    if teacher is None:
        return None
    describe = getattr(teacher, "describe", None)
    provenance = getattr(teacher, "provenance", None)
    return {
        "description": describe() if callable(describe) else type(teacher).__name__,
        "stand_in": bool(getattr(teacher, "is_stand_in", False)),
        "provenance": provenance() if callable(provenance) else None,  # id, revision, precision, resizes
    }


class EpochConcat(ConcatDataset):
    """ConcatDataset that forwards ``set_epoch`` to its parts (fresh augmentations per epoch)."""

    epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        for part in self.datasets:
            if hasattr(part, "set_epoch"):
                part.set_epoch(epoch)


def seed_process(seed: int, rank: int) -> None:
    """Seed the global RNGs that training itself draws from (dropout, ...), differently per rank.

    Called after the model is built (its initialisation is seeded by ``seed`` alone, the same on
    every rank), so a process's stream depends on (seed, rank) only.
    """
    import random

    import numpy as np

    mixed = mix_seed(seed, 0x7EA1, rank)
    random.seed(mixed)
    np.random.seed(mixed % 2**32)
    torch.manual_seed(mixed)
