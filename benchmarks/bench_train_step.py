"""Training step with the pseudo-label branch vs a GT-only step, per student, same run, with a breakdown.

All steps are the trainer's own (:class:`repro.train.dry_run.StepRunner`: one forward of the
labeled (+ unlabeled) batch, losses, backward, optimizer) on random tensors with randomly
initialised weights. The joint step (B labeled + B unlabeled, ratio 1:1) adds: rotate + project the
RGB, mask and depth to cube faces, run the teacher on 6·B faces, bring the student's prediction to
the faces, per-face loss. Two GT-only baselines: ``gt`` puts as many images through the student
(2B, the student's own published batch, which Depth Anywhere halves), so ``ratio`` is the cost of the
pseudo-label branch itself; ``gt_half`` is the labeled half alone (B). The three alternate so a
shared machine slows them alike.

CUDA: the paper's sizes (512×1024, published batch per student, faces 256², Depth Anything V1
ViT-L at 518, bf16 autocast). CPU: 64×128 (BiFuse++ 128×256, its minimum), faces 32², a random
ViT-S teacher at 56 — the ratio then says little about a GPU, the breakdown still shows the shape.

Sections: ``teacher_projection`` (rotate + project RGB/mask/depth), ``teacher_inference``
(Depth Anything on the faces), ``student_forward`` (the whole concatenated batch),
``student_to_faces`` (student disparity → distance → planar face disparity), ``losses`` (the rest
of the loss), ``backward``, ``optimizer``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, report

from repro import distill
from repro.config import from_data
from repro.run_settings import RECIPES, TrainSettings
from repro.train.dry_run import StepRunner
from repro.train.objective import SectionTimer

STUDENTS = ("unifuse", "bifusepp", "hohonet", "egformer")
CPU_SIZE = {"bifusepp": (128, 256)}  # its smallest input (pooling pyramid); the others run at 64×128


class TimedTeacher(torch.nn.Module):
    """The teacher with its ``predict_faces`` timed as ``teacher_inference``."""

    def __init__(self, teacher: Any, timer: SectionTimer) -> None:
        super().__init__()
        self.teacher, self.timer = teacher, timer
        self.is_stand_in = getattr(teacher, "is_stand_in", False)

    def predict_faces(self, faces: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        with self.timer("teacher_inference"):
            return self.teacher.predict_faces(faces, depth=depth)


@contextlib.contextmanager
def timed_student_faces(timer: SectionTimer) -> Iterator[None]:
    """Time ``repro.distill.student_faces`` (looked up at call time by ``pseudo_label_loss``)."""
    original = distill.student_faces

    def timed(pred: torch.Tensor, targets: Any) -> torch.Tensor:
        with timer("student_to_faces"):
            return original(pred, targets)

    distill.student_faces = timed
    try:
        yield
    finally:
        distill.student_faces = original


def settings_for(student: str, cuda: bool, teacher_id: str, teacher_size: int) -> TrainSettings:
    h, w = (512, 1024) if cuda else CPU_SIZE.get(student, (64, 128))
    return from_data(
        TrainSettings,
        {
            "student": {"name": student, "pretrained": False},
            "labeled": [{"dataset": "matterport3d"}],
            "pseudo": [{"dataset": "structured3d", "split": "all"}],
            "teacher": {"id": teacher_id, "input_size": teacher_size},
            "distill": {"face_size": h // 2},
            "input_size": [h, w],
            "precision": "auto",
            "schedule": {"batch_size": RECIPES[student].batch_size if cuda else 1},
        },
    )


def breakdown(timer: SectionTimer, steps: int) -> dict[str, float]:
    """Per-step seconds of each section (``teacher`` and ``loss`` minus their timed parts)."""
    t = {k: v / steps for k, v in timer.totals.items()}
    out = {
        "teacher_projection": t.get("teacher", 0.0) - t.get("teacher_inference", 0.0),
        "teacher_inference": t.get("teacher_inference", 0.0),
        "student_forward": t.get("student_forward", 0.0),
        "student_to_faces": t.get("student_to_faces", 0.0),
        "losses": t.get("loss", 0.0) - t.get("student_to_faces", 0.0),
        "backward": t.get("backward", 0.0),
        "optimizer": t.get("optimizer", 0.0),
    }
    return out


def measure(student: str, device: torch.device, args: Any) -> dict[str, Any]:
    cuda = device.type == "cuda"
    teacher_id = "LiheYoung/depth-anything-large-hf" if cuda else "LiheYoung/depth-anything-small-hf"
    s = settings_for(student, cuda, teacher_id, 518 if cuda else 56)
    b = int(s.schedule.batch_size)  # type: ignore[arg-type]
    torch.manual_seed(0)
    pseudo = StepRunner(s, device)
    pseudo.teacher = TimedTeacher(pseudo.teacher, pseudo.timer)
    pseudo.objective.teacher = pseudo.teacher
    gt_only = dataclasses.replace(s, pseudo=[])
    runners = {
        # the published GT-only recipe: as many images through the student as the joint step
        "gt": StepRunner(
            dataclasses.replace(gt_only, schedule=dataclasses.replace(s.schedule, batch_size=2 * b)),
            device,
            model=pseudo.model,
        ),
        # only the labeled half of the joint step
        "gt_half": StepRunner(gt_only, device, model=pseudo.model),
        "pseudo": pseudo,
    }
    steps = 3 if args.quick else 10
    times: dict[str, list[float]] = {name: [] for name in runners}
    with timed_student_faces(pseudo.timer):
        for runner in runners.values():  # warm-up: kernels, allocator, autocast caches
            runner.step()
        pseudo.timer.reset()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(steps):  # interleaved, so a shared machine slows all alike
            for name, runner in runners.items():
                times[name].append(runner.step())
    median = {name: statistics.median(t) for name, t in times.items()}
    h, w = s.input_size
    row: dict[str, Any] = {
        "student": student,
        "size": f"{h}x{w}",
        "batch": f"{b}+{b}",
        "gt_step_s": median["gt"],
        "gt_half_step_s": median["gt_half"],
        "pseudo_step_s": median["pseudo"],
        "ratio": median["pseudo"] / median["gt"],
        "ratio_vs_half": median["pseudo"] / median["gt_half"],
    }
    row.update({f"{k}_s": v for k, v in breakdown(pseudo.timer, steps).items()})
    if cuda:
        row["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--students", nargs="+", default=list(STUDENTS), choices=STUDENTS)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads (default 1: OpenMP spinning makes more threads slower on a shared machine)",
    )
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    rows = [measure(name, device, args) for name in args.students]
    figures = {f"{r['student']}_pseudo_vs_gt_step": r["ratio"] for r in rows}
    notes = []
    for r in rows:
        extra = r["pseudo_step_s"] - r["gt_step_s"]  # same number of images through the student
        share = {k: r[f"{k}_s"] for k in ("teacher_projection", "teacher_inference", "student_to_faces")}
        figures.update({f"{r['student']}_{k}_s": v for k, v in share.items()})
        parts = ", ".join(f"{k} {v:.3g} s" for k, v in share.items())
        notes.append(
            f"{r['student']}: a {r['batch']} joint step takes {r['ratio']:.2f}x a GT-only step of as many images "
            f"({extra:+.3g} s; {r['ratio_vs_half']:.2f}x the labeled half alone); teacher and projections: {parts}."
        )
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU threads={torch.get_num_threads()}"
    report(
        f"Training step, pseudo-label branch vs GT only ({where}; goal on GPU: ratio <= 1.5)",
        rows,
        args.json,
        figures=figures,
        notes="\n".join(f"- {n}" for n in notes),
    )
    print("\n".join(notes))


if __name__ == "__main__":
    main()
