"""Pseudo-labeled training step from the pseudo-label cache vs online (teacher every step): same student, same batch.

Time: the trainer's own step (:class:`repro.train.dry_run.StepRunner`) on random tensors, random
weights, the two alternating so a shared machine slows both alike. On a CPU: UniFuse at 64×128,
3 + 3 panoramas, faces 32², a random ViT-S teacher at 56² (small, so the CPU ratio understates the
full-size one). FLOPs: counted exactly at the paper's size (``repro.train.step_cost``: 512×1024,
published batches, Depth Anything V1 ViT-L at 518²) for every student's 1:1 cell — the ratio a
GPU approaches where the step is compute-bound.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_label, parser, report

from repro.config import from_data
from repro.run_settings import TrainSettings
from repro.train.dry_run import StepRunner
from repro.train.step_cost import step_flops

STUDENTS = ("unifuse", "bifusepp", "hohonet", "egformer")


def settings(student: str, **over: object) -> TrainSettings:
    data = {
        "student": {"name": student, "pretrained": False},
        "labeled": [{"dataset": "matterport3d"}],
        "pseudo": [{"dataset": "structured3d", "split": "all"}],
        **over,
    }
    return from_data(TrainSettings, data)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    repeat = 3 if args.quick else 7
    small = {} if cuda else {
        "input_size": [64, 128],
        "teacher": {"id": "depth-anything-v1-small", "input_size": 56},
        "distill": {"face_size": 32},
    }  # fmt: skip
    online = settings("unifuse", **small)
    runners = {m: StepRunner(dataclasses.replace(online, pseudo_labels=m), device) for m in ("online", "cached")}
    times: dict[str, list[float]] = {m: [] for m in runners}
    for r in runners.values():
        r.step()  # warm-up
    for _ in range(repeat):
        for mode, r in runners.items():
            times[mode].append(r.step())
    med = {m: statistics.median(t) for m, t in times.items()}
    rows = [{
        "what": f"time, UniFuse 3+3 at {online.input_size[0]}×{online.input_size[1]}, {device_label()}",
        "online_s": round(med["online"], 4), "cached_s": round(med["cached"], 4),
        "online / cached": round(med["online"] / med["cached"], 3),
    }]  # fmt: skip
    figures = {"cpu_time_ratio_online_vs_cached" if not cuda else "gpu_time_ratio_online_vs_cached": med["online"] / med["cached"]}
    for student in STUDENTS[:1] if args.quick else STUDENTS:
        full = settings(student)
        a, b = step_flops(full, "online").total, step_flops(full, "cached").total
        rows.append({"what": f"FLOPs, {student} 1:1 at 512×1024, ViT-L teacher at 518² (counted)",
                     "online_s": None, "cached_s": None, "online / cached": round(a / b, 3)})  # fmt: skip
        figures[f"{student}_flop_ratio_online_vs_cached"] = a / b
    report(
        "Pseudo-labeled step: online teacher vs the pseudo-label cache (same student, same batch)",
        rows,
        args.json,
        figures=figures,
        notes="Time measured on " + device_label() + ("" if cuda else " with a small teacher (ViT-S at 56²): the "
              "full-size figure is the FLOP ratio until `make gpu-profile` measures it."),  # fmt: skip
    )


if __name__ == "__main__":
    main()
