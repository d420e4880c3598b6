"""Full-size training steps on random tensors with random weights: step time and memory, no data.

Used by ``repro suite --random-init`` (what would a cell cost on this GPU?) and by
``benchmarks/bench_train_step.py``. The step is the real one (:class:`JointObjective`, backward,
optimizer), so its time and peak memory are the training run's.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn

from repro.devices import pick_device
from repro.models import build_student_from_meta
from repro.run_settings import TrainSettings
from repro.teacher import build_teacher_from_spec
from repro.train.build import student_meta
from repro.train.objective import JointObjective, SectionTimer
from repro.train.optim import build_optimizer


def random_batch(
    batch: int, size: tuple[int, int], device: torch.device, generator: torch.Generator, first_key: int = 0
) -> dict[str, torch.Tensor]:
    """A sample-dict batch of noise with plausible ranges (depth 0.5–10 m, everything valid)."""
    h, w = size
    rgb = torch.rand(batch, 3, h, w, generator=generator)
    depth = 0.5 + 9.5 * torch.rand(batch, 1, h, w, generator=generator)
    out = {
        "rgb": rgb,
        "rgb_noaug": rgb.clone(),
        "depth": depth,
        "valid": torch.ones(batch, 1, h, w, dtype=torch.bool),
        "key": torch.arange(first_key, first_key + batch),
    }
    return {k: v.to(device) for k, v in out.items()}


def random_cached(
    batch: int, settings: TrainSettings, device: torch.device, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """What a pseudo-label cache adds to an unlabeled batch: targets, masks, rotations, augmentation."""
    from repro.distill import FACES_PER_PANORAMA
    from repro.geometry.released import draw_rotations

    d = settings.distill
    h, w = settings.input_size
    shape = (batch, 1, h, w) if d.projection == "equirect_stitched" else (
        batch, FACES_PER_PANORAMA[d.projection], 1, d.face_size, d.face_size
    )
    out = {
        "cached_disparity": torch.rand(shape, generator=generator),
        "cached_mask": torch.ones(shape, dtype=torch.bool),
        "cached_rotation": draw_rotations(batch, max(d.rotation_max_deg, 1e-6), generator=generator),
        "aug_roll": torch.randint(0, w, (batch,), generator=generator),
        "aug_flip": torch.rand(batch, generator=generator) < 0.5,
    }
    return {k: v.to(device) for k, v in out.items()}


class StepRunner:
    """One configuration's training step on random data, timed per section."""

    def __init__(
        self,
        settings: TrainSettings,
        device: torch.device,
        *,
        model: nn.Module | None = None,
        teacher: Any | None = None,
        pseudo: bool | None = None,
    ) -> None:
        self.settings = settings
        self.device = device
        self.pseudo = bool(self.settings.pseudo) if pseudo is None else pseudo
        meta = student_meta(self.settings)
        self.model = (model or build_student_from_meta(meta)).to(device).train()
        self.cached = self.pseudo and self.settings.pseudo_labels == "cached"
        if self.pseudo and teacher is None and not self.cached:
            teacher = build_teacher_from_spec(self.settings.teacher, random_init=True)
        self.teacher = teacher.to(device) if isinstance(teacher, nn.Module) and self.pseudo else teacher
        self.timer = SectionTimer(enabled=True, device=device)
        dtype = torch.bfloat16 if device.type == "cuda" and self.settings.precision != "fp32" else None
        self.objective = JointObjective(
            self.settings, self.teacher if self.pseudo else None, autocast_dtype=dtype, timer=self.timer
        )
        self.optimizer = build_optimizer(self.model.parameters(), self.settings)
        gen = torch.Generator().manual_seed(self.settings.seed)
        b = int(self.settings.schedule.batch_size)  # type: ignore[arg-type]
        size = tuple(self.settings.input_size)
        self.labeled = random_batch(b, size, device, gen)  # type: ignore[arg-type]
        self.unlabeled = (
            random_batch(b * self.settings.pseudo_per_labeled, size, device, gen, b) if self.pseudo else None
        )  # type: ignore[arg-type]
        if self.cached and self.unlabeled is not None:
            self.unlabeled.update(random_cached(b * self.settings.pseudo_per_labeled, self.settings, device, gen))

    def step(self) -> float:
        """One optimizer step; returns its wall time in seconds."""
        sync = self.device.type == "cuda"
        if sync:
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self.objective(self.model, self.labeled, self.unlabeled)
        with self.timer("backward"):
            loss.backward()
        with self.timer("optimizer"):
            self.optimizer.step()
        if sync:
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - t0

    def run(self, steps: int, warmup: int = 1) -> dict[str, float]:
        """Median step time after ``warmup`` steps, mean time per section, peak memory."""
        for _ in range(warmup):
            self.step()
        self.timer.reset()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        times = [self.step() for _ in range(steps)]
        out = {"step_time_s": statistics.median(times)}
        out.update({f"{name}_s": total / steps for name, total in self.timer.totals.items()})
        if self.device.type == "cuda":
            out["peak_allocated_gib"] = torch.cuda.max_memory_allocated(self.device) / 2**30
            out["peak_reserved_gib"] = torch.cuda.max_memory_reserved(self.device) / 2**30
        return out


def profile(settings: TrainSettings, *, steps: int = 5, device: str | torch.device | None = None) -> dict[str, float]:
    """The suite's random-init dry run of a training cell (see :mod:`repro.suite.executor`)."""
    device = pick_device(device)
    torch.manual_seed(settings.seed)
    return StepRunner(settings, device).run(steps)
