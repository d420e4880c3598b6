"""Cost model of the paper-table suites: GPU-hours on an RTX 4090 and peak VRAM, per cell; writes docs/cost_model.md.

Per training cell of every paper-table suite (``suites/*.yaml`` with ``paper_table``):

* **Steps** — ``repro.suite.cost.estimate`` (what ``repro suite NAME --dry-run`` prints): the
  student's published epochs × the published split sizes ÷ the labeled batch, times the seeds.
* **Step time** — measured where a measurement exists: ``repro suite NAME --random-init`` on a
  CUDA GPU writes ``profile.json`` per cell (this script runs it itself when CUDA is present);
  those figures are used and labelled with the device. Without a GPU the step time is
  EXTRAPOLATED: the step's floating-point operations are *counted* exactly at full size
  (``torch.utils.flop_counter`` on the meta device: student forward + backward on the whole
  labeled + unlabeled batch, plus the teacher's forward on every face), and divided by the RTX
  4090's dense BF16 tensor peak (165.2 TFLOPS with FP32 accumulate, NVIDIA Ada whitepaper) times
  an ASSUMED utilisation (``--mfu``, default 0.40, range shown 0.25–0.60). The counts are exact; the
  utilisation is not measured here, and memory-bound work (projections, grid sampling, data
  loading) is not in the count.
* **Peak VRAM** — measured (torch peak allocated, ``--random-init``) where a GPU ran; otherwise
  EXTRAPOLATED from the CPU allocator: the fp32 training step of the student (whole batch) is run
  on this CPU at two reduced sizes under ``torch.profiler`` (memory events), peak bytes are fitted
  as ``a + b · pixels`` and evaluated at 512×1024; the teacher adds its fp32 weights plus its
  inference activations (measured likewise at its input size for one face, × its chunk of 12
  faces). fp32 on CPU vs bf16 autocast on GPU: activations on the GPU are mostly half as large, so
  this is an upper-side estimate of torch's allocation; the CUDA context (~0.5 GiB), cuDNN
  workspaces and allocator fragmentation are not included.

``--quick``: one suite (table8), smaller CPU sizes, FLOP counts only for the teacher.
"""

from __future__ import annotations

import json
import os
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

# torch.profiler (the CPU memory fit) logs a spurious "gpuGetDeviceCount failed" ERROR without a GPU
os.environ.setdefault("KINETO_LOG_LEVEL", "5")

import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import parser, report  # noqa: E402

from repro.atomic import write_json, write_text  # noqa: E402
from repro.run_settings import TrainSettings  # noqa: E402
from repro.suite.cost import COST_TABLE, TEACHER_IMAGES, cost_key, estimate  # noqa: E402
from repro.suite.runner import run_name  # noqa: E402
from repro.suite.schema import Cell, Suite, iter_suite_files, load_suite  # noqa: E402

RTX4090_BF16_TFLOPS = 165.2  # dense, FP32 accumulate (NVIDIA Ada Lovelace architecture whitepaper, RTX 4090)
MFU_RANGE = (0.25, 0.60)
FULL_PIXELS = 512 * 1024
GIB = 2**30


# --------------------------------------------------------------------------- counted FLOPs (meta device)


def _count(fn: Any) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.device("meta"), counter:
        fn()
    return int(counter.get_total_flops())


@cache
def student_step_flops(name: str, options: tuple, height: int, width: int, batch: int, metric: bool) -> int:
    """Forward + backward FLOPs of one student step on ``batch`` panoramas (2 FLOPs per multiply-add)."""
    from repro.models import build_student

    def step() -> None:
        model = build_student(name, height=height, width=width, metric=metric, **dict(options))
        model(torch.randn(batch, 3, height, width)).mean().backward()

    return _count(step)


@cache
def _teacher_model(teacher_id: str) -> Any:
    from repro.teacher import build_teacher

    with torch.device("meta"):
        return build_teacher(teacher_id, random_init=True).model


@cache
def teacher_image_flops(teacher_id: str, input_size: int) -> int:
    """Forward FLOPs of the teacher network on one face at its input size."""
    model = _teacher_model(teacher_id)
    return _count(lambda: model(pixel_values=torch.randn(1, 3, input_size, input_size)))


# --------------------------------------------------------------------------- measured CPU memory, extrapolated


def _cpu_peak_bytes(fn: Any) -> int:
    """Peak bytes the CPU allocator held above its level at the start of ``fn`` (profiler memory events)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(
        ((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    )
    level = peak = 0
    for _, nbytes in events:
        level += nbytes
        peak = max(peak, level)
    return peak


#: reduced sizes (heights) the CPU memory fit uses; BiFuse++ needs at least 128 rows, EGformer 128
MEMORY_HEIGHTS = {"quick": (64, 128), "full": (128, 256)}
MIN_HEIGHT = {"bifusepp": 128, "egformer": 128}


@cache
def student_step_bytes(name: str, options: tuple, batch: int, metric: bool, heights: tuple[int, int]) -> dict:
    """fp32 training-step peak (weights, grads, Adam state, activations) fitted linearly in pixels."""
    from repro.models import build_student

    points = []
    for h in heights:
        h = max(h, MIN_HEIGHT.get(name, 0))
        torch.manual_seed(0)
        model = build_student(name, height=h, width=2 * h, metric=metric, **dict(options)).train()
        opt = torch.optim.Adam(model.parameters())
        x = torch.randn(batch, 3, h, 2 * h)
        static = sum(p.numel() * p.element_size() for p in model.parameters())  # held before fn starts

        def step(model: Any = model, opt: Any = opt, x: torch.Tensor = x) -> None:
            opt.zero_grad(set_to_none=True)
            model(x).mean().backward()
            opt.step()

        step()  # Adam's state exists after the first step, as in training
        opt.zero_grad(set_to_none=True)
        state = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))
        points.append((h * 2 * h, static + state + _cpu_peak_bytes(step)))
        del model, opt, x
    (p0, b0), (p1, b1) = points
    slope = (b1 - b0) / (p1 - p0) if p1 != p0 else 0.0
    return {"bytes": b0 + slope * (FULL_PIXELS - p0), "points": points}


@cache
def teacher_bytes(teacher_id: str, input_size: int, chunk: int = 12, measure: bool = True) -> dict:
    """fp32 weights + inference activations for a chunk of faces (one face measured on the CPU, × chunk)."""
    from repro.teacher import build_teacher

    meta = _teacher_model(teacher_id)
    weights = sum(p.numel() * p.element_size() for p in meta.parameters())
    if not measure:
        return {"bytes": weights, "activations_measured": False}
    model = build_teacher(teacher_id, random_init=True).model.eval()
    x = torch.randn(1, 3, input_size, input_size)
    with torch.no_grad():
        act = _cpu_peak_bytes(lambda: model(pixel_values=x))
    del model
    return {"bytes": weights + chunk * act, "activations_measured": True}


# --------------------------------------------------------------------------- per cell


def paper_suites(quick: bool) -> list[Path]:
    files = [p for p in iter_suite_files(ROOT / "suites") if "paper_table:" in p.read_text()]
    return [p for p in files if p.stem == "table8_projection"] if quick else files


def _batch(train: TrainSettings) -> tuple[int, int]:
    b = int(train.schedule.batch_size or 1)
    return b, (b * train.pseudo_per_labeled if train.pseudo else 0)


def measured_profile(runs: Path, suite: Suite, cell: str) -> dict | None:
    """A ``--random-init`` profile of this cell taken on a CUDA device, if there is one."""
    path = runs / run_name(suite) / cell / "profile.json"  # where SuiteRunner.profile wrote it
    try:
        prof = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    vram = prof.get("vram") or {}
    if prof.get("status") != "ok" or not prof.get("step_time_s") or not vram.get("device"):
        return None  # a CPU profile (no CUDA device) measures nothing about the GPU
    return {**prof, "gpu": vram["device"]}


def cell_row(suite: Suite, cell: Cell, args: Any) -> dict[str, Any] | None:
    train = cell.train
    if train is None:
        return None
    cost = estimate(cell)
    labeled, unlabeled = _batch(train)
    h, w = train.input_size
    metric = train.loss != "affine_inv"
    opts = tuple(sorted(train.student.options.items()))
    s_flops = student_step_flops(train.student.name, opts, h, w, labeled + unlabeled, metric)
    faces = unlabeled * TEACHER_IMAGES[train.distill.projection]
    t_flops = teacher_image_flops(train.teacher.id, train.teacher.input_size) * faces if faces else 0
    flops = s_flops + t_flops
    row: dict[str, Any] = {
        "key": cost_key(train),
        "suite": suite.name,
        "cell": cell.name,
        "student": train.student.name,
        "batch": f"{labeled}+{unlabeled}" if unlabeled else f"{labeled}",
        "projection": train.distill.projection if unlabeled else "—",
        "steps/seed": cost.steps,
        "seeds": cost.seeds,
        "TFLOP/step": flops / 1e12,
    }
    hours = (cost.steps or 0) * cost.seeds / 3600  # × seconds per step = GPU-hours
    prof = measured_profile(args.runs, suite, cell.name)
    if prof is not None:
        step = prof["step_time_s"]
        row["step_s"] = step
        row["step_s (range)"] = "measured"
        row["GPU-h"] = hours * step
        row["GPU-h (range)"] = "measured"
        peak = prof["vram"].get("torch_peak_allocated")
        row["peak VRAM GiB"] = peak / GIB if peak else prof.get("peak_allocated_gib")
        row["source"] = f"measured on {prof['gpu']} (--random-init)"
        return row
    step = flops / (RTX4090_BF16_TFLOPS * 1e12 * args.mfu)
    lo, hi = (flops / (RTX4090_BF16_TFLOPS * 1e12 * m) for m in reversed(MFU_RANGE))
    row["step_s"] = step
    row["step_s (range)"] = f"{lo:.3g}–{hi:.3g}"
    row["GPU-h"] = hours * step
    row["GPU-h (range)"] = f"{hours * lo:.3g}–{hours * hi:.3g}"
    heights = MEMORY_HEIGHTS["quick" if args.quick else "full"]
    mem = student_step_bytes(train.student.name, opts, labeled + unlabeled, metric, heights)["bytes"]
    if unlabeled:
        mem += teacher_bytes(train.teacher.id, train.teacher.input_size, measure=not args.quick)["bytes"]
    row["peak VRAM GiB"] = mem / GIB
    row["source"] = f"extrapolated: counted FLOPs ÷ (4090 BF16 peak × {args.mfu:g}); CPU fp32 memory fit"
    return row


# --------------------------------------------------------------------------- GPU profiles and the page


def profile_on_gpu(paths: list[Path], runs: Path, steps: int) -> str:
    """With CUDA: ``repro suite NAME --random-init`` for every paper suite (full size, random weights)."""
    from repro.suite.executor import ReproExecutor
    from repro.suite.runner import RunOptions, SuiteRunner

    for path in paths:
        suite = load_suite(path)
        SuiteRunner(suite, ReproExecutor(), RunOptions(out=runs, profile_steps=steps)).profile(print)
    return torch.cuda.get_device_name(0)


def _fmt(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.3g}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def render(rows: list[dict[str, Any]], args: Any, gpu: str | None, seconds: float) -> str:
    from tabulate import tabulate

    lines = [
        "# Cost model: the paper-table suites on an RTX 4090",
        "",
        "Generated by `python benchmarks/bench_cost_model.py` (also run by `make bench`); do not edit by hand.",
        "",
        "## How the figures are made",
        "",
        "* **Steps** per seed come from the suite runner's plan (`repro suite NAME --dry-run`,",
        "  `repro.suite.cost.estimate`): each student's published epochs × the published split sizes ÷ the",
        "  labeled batch (`repro.run_settings.RECIPES`), times the cell's seeds.",
        f"* **Step time**: {'measured on ' + gpu + ' with `repro suite NAME --random-init` (full size, random weights)' if gpu else 'no CUDA device was present, so NO step time here is measured'}.",
        "  Where no GPU profile exists the step time is **extrapolated** from the step's floating-point",
        "  operations, *counted* exactly at full size (student forward + backward on the whole labeled +",
        "  pseudo-labeled batch at 512×1024, plus the teacher's forward on every face at its 518² input;",
        "  `torch.utils.flop_counter` on the meta device), divided by the RTX 4090's dense BF16 tensor peak",
        f"  ({RTX4090_BF16_TFLOPS} TFLOPS, FP32 accumulate; NVIDIA Ada Lovelace whitepaper) × an **assumed**",
        f"  utilisation of {args.mfu:.0%} (range shown: {MFU_RANGE[0]:.0%}–{MFU_RANGE[1]:.0%}). The utilisation is an",
        "  assumption, not a measurement; memory-bound work (rotation and projection, grid sampling, data",
        "  loading) is not counted. Replace it with a measurement: run",
        "  `repro suite NAME --random-init --out runs` on the GPU, then this script with `--runs runs`.",
        "* **Peak VRAM**: measured (torch peak allocated) where a GPU profile exists. Otherwise extrapolated",
        "  from this CPU: the student's fp32 training step (weights, gradients, Adam state, activations) is",
        "  run at two reduced sizes under `torch.profiler` memory events, fitted as a + b·pixels and",
        "  evaluated at 512×1024; pseudo-label cells add the teacher's fp32 weights and its inference",
        "  activations (one face measured, × its chunk of 12 faces). The GPU runs bf16 autocast (smaller",
        "  activations), and the CUDA context (~0.5 GiB), cuDNN workspaces and fragmentation are not",
        "  included: read it as a rough figure, not a budget guarantee.",
        "* Evaluation (a few hundred test images) and mask generation (once per unlabeled set) are not",
        "  included; Table 5's fine-tuning starts from Table 3's checkpoint (its own steps only).",
        "* `repro suite NAME --dry-run` prints these figures per cell (GPU-hours, peak VRAM, OVER the budget):",
        "  they are written with this page to `repro/suite/cost_model.json`, keyed by what sets a step's cost",
        "  (`repro.suite.cost.cost_key`); a `--random-init` measurement of a cell replaces them.",
        "",
    ]
    totals: dict[str, dict[str, float]] = {}
    for r in rows:
        t = totals.setdefault(r["suite"], {"GPU-h": 0.0, "peak": 0.0})
        t["GPU-h"] += r["GPU-h"] or 0.0
        t["peak"] = max(t["peak"], r["peak VRAM GiB"] or 0.0)
    lines += ["## Per suite", ""]
    lines.append(
        tabulate(
            [[s, _fmt(t["GPU-h"]), _fmt(t["peak"]), "yes" if t["peak"] <= 24 else "NO"] for s, t in totals.items()],
            ["suite", "GPU-hours (all cells, seeds)", "max peak VRAM GiB", "fits 24 GiB"],
            tablefmt="github",
            disable_numparse=True,
        )
    )
    lines += ["", "## Per cell", ""]
    keys = [k for k in rows[0] if k not in ("suite", "key")] if rows else []
    for suite in totals:
        lines += [f"### {suite}", ""]
        lines.append(
            tabulate(
                [[_fmt(r[k]) for k in keys] for r in rows if r["suite"] == suite],
                keys,
                tablefmt="github",
                disable_numparse=True,
            )
        )
        lines.append("")
    lines += [f"_Computed in {seconds:.0f} s on this machine{' (--quick)' if args.quick else ''}._", ""]
    return "\n".join(lines)


def cost_table(rows: list[dict[str, Any]], gpu: str | None) -> dict[str, Any]:
    """What ``repro suite NAME --dry-run`` reads (repro.suite.cost.cell_estimates): per step-cost key."""
    steps = {
        r["key"]: {
            "step_s": r["step_s"],
            "peak_gib": r["peak VRAM GiB"],
            "source": r["source"],
            "example": f"{r['suite']}/{r['cell']}",
        }
        for r in rows
    }
    return {"schema": "repro.suite.cost_model/1", "generated_by": "benchmarks/bench_cost_model.py", "gpu": gpu,
            "steps": steps}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--mfu", type=float, default=0.40, help="assumed fraction of the 4090's BF16 peak (default 0.40)")
    p.add_argument("--runs", type=Path, default=ROOT / "out" / "cost_model_runs", help="where GPU profiles are")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "cost_model.md", help="the page")
    p.add_argument("--table", type=Path, default=COST_TABLE, help="the per-step figures --dry-run reads")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if not 0 < args.mfu <= 1:
        p.error("--mfu must be in (0, 1]")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    paths = paper_suites(args.quick)
    gpu = profile_on_gpu(paths, args.runs, 3 if args.quick else 10) if torch.cuda.is_available() else None
    rows = []
    for path in paths:
        suite = load_suite(path)
        for cell in suite.cells.values():
            row = cell_row(suite, cell, args)
            if row is not None:
                rows.append(row)
                print(f"{suite.name}/{cell.name}: {row['TFLOP/step']:.3g} TFLOP/step, {row['GPU-h']:.3g} GPU-h", flush=True)
    seconds = time.perf_counter() - t0
    if not args.quick or args.out != p.get_default("out"):
        write_text(args.out, render(rows, args, gpu, seconds))
        write_json(args.table, cost_table(rows, gpu))
        print(f"wrote {args.out} and {args.table}")
    figures = {f"{r['suite']}/{r['cell']}_gpu_hours": r["GPU-h"] for r in rows}
    gpu_note = f"step times measured on {gpu}" if gpu else "n/a (no CUDA device): step times and VRAM extrapolated"
    report(
        f"Cost model: RTX 4090 GPU-hours and peak VRAM per paper-suite cell ({gpu_note}; see docs/cost_model.md)",
        [{k: v for k, v in r.items() if k not in ("source",)} for r in rows],
        args.json,
        figures=figures,
        notes=f"Assumed utilisation {args.mfu:g} of {RTX4090_BF16_TFLOPS} TFLOPS unless measured. "
        + ("" if gpu else "No CUDA device: every time and VRAM figure here is extrapolated (docs/cost_model.md)."),
    )


if __name__ == "__main__":
    main()
