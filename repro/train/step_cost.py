"""What one training step costs in counted FLOPs, online or from the pseudo-label cache, and the cache's one-off price.

Counted exactly with ``torch.utils.flop_counter`` on the meta device (no weights, no data): the
student's forward + backward on the whole labeled + unlabeled batch, plus, online, the teacher's
forward on every face. With ``pseudo_labels: cached`` the step has no teacher; the cache costs the
teacher's forward on K rotations × faces of every unlabeled panorama once, shared by every cell
with the same teacher, geometry and data (:func:`cache_build_flops`). Time = FLOPs ÷ (a GPU's peak
× an utilisation), which only a measurement (``make gpu-profile``) replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

from repro.distill import FACES_PER_PANORAMA
from repro.run_settings import TrainSettings

RTX4090_BF16_TFLOPS = 165.2  # dense, FP32 accumulate (NVIDIA Ada Lovelace architecture whitepaper, RTX 4090)


def count_flops(fn: Any) -> int:
    """FLOPs of ``fn`` run on the meta device (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.device("meta"), counter:
        fn()
    return int(counter.get_total_flops())


@cache
def student_step_flops(name: str, options: tuple, height: int, width: int, batch: int, metric: bool) -> int:
    """Forward + backward FLOPs of one student step on ``batch`` panoramas."""
    from repro.models import build_student

    def step() -> None:
        model = build_student(name, height=height, width=width, metric=metric, **dict(options))
        model(torch.randn(batch, 3, height, width)).mean().backward()

    return count_flops(step)


@cache
def teacher_model(teacher_id: str) -> Any:
    """The teacher network on the meta device (architecture only)."""
    from repro.teacher import build_teacher

    with torch.device("meta"):
        return build_teacher(teacher_id, random_init=True).model


@cache
def teacher_image_flops(teacher_id: str, input_size: int) -> int:
    """Forward FLOPs of the teacher network on one face at its input size."""
    model = teacher_model(teacher_id)
    return count_flops(lambda: model(pixel_values=torch.randn(1, 3, input_size, input_size)))


def batch_sizes(train: TrainSettings) -> tuple[int, int]:
    """(labeled, unlabeled) panoramas per step."""
    b = int(train.schedule.batch_size or 1)
    return b, (b * train.pseudo_per_labeled if train.pseudo else 0)


@dataclass(frozen=True)
class StepFlops:
    student: int
    teacher: int  # 0 when cached (or no pseudo data)
    faces: int  # teacher images per step (online)

    @property
    def total(self) -> int:
        return self.student + self.teacher


def step_flops(train: TrainSettings, pseudo_labels: str | None = None) -> StepFlops:
    """Counted FLOPs of one step of ``train`` (``pseudo_labels`` overrides the settings' choice)."""
    labeled, unlabeled = batch_sizes(train)
    h, w = train.input_size
    metric = train.loss != "affine_inv"
    opts = tuple(sorted(train.student.options.items()))
    student = student_step_flops(train.student.name, opts, h, w, labeled + unlabeled, metric)
    faces = unlabeled * FACES_PER_PANORAMA[train.distill.projection]
    mode = pseudo_labels or train.pseudo_labels
    if not faces or mode == "cached" or train.teacher.is_oracle:
        return StepFlops(student, 0, faces)
    return StepFlops(student, teacher_image_flops(train.teacher.id, train.teacher.input_size) * faces, faces)


def cache_build_flops(train: TrainSettings, panoramas: int) -> int:
    """The one-off teacher FLOPs of the cache of ``panoramas`` unlabeled panoramas at K rotations."""
    if train.teacher.is_oracle or not train.pseudo:
        return 0
    from repro.train.pseudo_cache import rotation_count

    faces = panoramas * rotation_count(train) * FACES_PER_PANORAMA[train.distill.projection]
    return teacher_image_flops(train.teacher.id, train.teacher.input_size) * faces


def cache_key(train: TrainSettings) -> tuple:
    """Cells with the same key share one cache (the teacher's targets are the same)."""
    t, d = train.teacher, train.distill
    return (
        t.id, t.input_size, t.precision, t.output_resize, t.pos_embed, d.projection, d.face_size, d.rotation_max_deg,
        tuple((r.dataset, r.split) for r in train.pseudo), train.pseudo_cache.rotations,
    )  # fmt: skip


def gpu_seconds(flops: float, mfu: float, peak_tflops: float = RTX4090_BF16_TFLOPS) -> float:
    """Seconds at ``mfu`` of a GPU's dense BF16 peak (an assumption until measured)."""
    return flops / (peak_tflops * 1e12 * mfu)
