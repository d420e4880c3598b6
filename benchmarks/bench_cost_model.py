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
from repro.suite.cost import COST_TABLE, SPLIT_SIZES, cost_key, estimate, split_size  # noqa: E402
from repro.suite.runner import run_name  # noqa: E402
from repro.suite.schema import Cell, Suite, iter_suite_files, load_suite  # noqa: E402
from repro.train.step_cost import (  # noqa: E402
    RTX4090_BF16_TFLOPS,
    batch_sizes,
    cache_build_flops,
    cache_key,
    gpu_seconds,
    step_flops,
    teacher_model,
)

MFU_RANGE = (0.25, 0.60)
FULL_PIXELS = 512 * 1024
GIB = 2**30
BUDGET_GIB = 22.0  # what every cell must fit in (a 24 GiB RTX 4090 less context, workspaces, fragmentation)
BF16_ACTIVATION_FACTOR = 0.5  # assumed: autocast stores bf16 activations where fp32 stored fp32


# counted FLOPs: repro.train.step_cost (a cell's settings in, FLOPs out; --dry-run can use it too)


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


def _step_peak(name: str, options: tuple, batch: int, metric: bool, h: int) -> tuple[int, int, int, int]:
    """(pixels, peak bytes of one training step above what is resident, weight bytes, Adam state bytes)."""
    from repro.models import build_student

    torch.manual_seed(0)
    model = build_student(name, height=h, width=2 * h, metric=metric, **dict(options)).train()
    opt = torch.optim.Adam(model.parameters())
    x = torch.randn(batch, 3, h, 2 * h)
    static = sum(p.numel() * p.element_size() for p in model.parameters())  # held before fn starts

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model(x).mean().backward()
        opt.step()

    step()  # Adam's state exists after the first step, as in training
    opt.zero_grad(set_to_none=True)
    state = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))
    return h * 2 * h, _cpu_peak_bytes(step), static, state


@cache
def student_step_bytes(name: str, options: tuple, batch: int, metric: bool, heights: tuple[int, int]) -> dict:
    """fp32 training-step peak (weights, grads, Adam state, activations) fitted linearly in pixels.

    A step must not need less memory at more pixels; when the smaller size's peak is not below the
    larger's (one-off allocations dominate a small input: HoHoNet at 64 rows), a size twice the
    larger is measured and the two larger sizes are fitted; failing that too, the largest size's
    peak is scaled in proportion to pixels (an upper-side figure). ``fit`` says which was used."""
    low = max(heights[0], MIN_HEIGHT.get(name, 0))
    high = max(heights[1], 2 * low) if low >= heights[1] else heights[1]  # two distinct sizes
    measured = [_step_peak(name, options, batch, metric, h) for h in (low, high)]
    fit = "linear"
    if measured[1][1] <= measured[0][1]:
        measured.append(_step_peak(name, options, batch, metric, 2 * high))
        fit = "linear (two larger sizes)"
    points = [(px, peak) for px, peak, _, _ in measured]
    static, state = measured[-1][2:]
    (p0, b0), (p1, b1) = points[-2:]
    if b1 > b0:
        step_bytes = b0 + (b1 - b0) / (p1 - p0) * (FULL_PIXELS - p0)  # activations + gradients (+ optimizer temporaries)
    else:
        step_bytes, fit = b1 * FULL_PIXELS / p1, "proportional to pixels (upper side)"
    return {"bytes": static + state + step_bytes, "resident": static + state, "step": step_bytes, "grads": static,
            "points": points, "fit": fit}  # fmt: skip


@cache
def teacher_bytes(teacher_id: str, input_size: int, chunk: int = 12, measure: bool = True) -> dict:
    """fp32 weights + inference activations for a chunk of faces (one face measured on the CPU, × chunk)."""
    from repro.teacher import build_teacher

    meta = teacher_model(teacher_id)
    weights = sum(p.numel() * p.element_size() for p in meta.parameters())
    if not measure:
        return {"bytes": weights, "weights": weights, "per_face": 0, "activations_measured": False}
    model = build_teacher(teacher_id, random_init=True).model.eval()
    x = torch.randn(1, 3, input_size, input_size)
    with torch.no_grad():
        act = _cpu_peak_bytes(lambda: model(pixel_values=x))
    del model
    return {"bytes": weights + chunk * act, "weights": weights, "per_face": act, "activations_measured": True}


def bf16_peak(student: dict, teacher: dict | None, faces: int) -> float:
    """bf16 estimate: fp32 master weights, gradients and Adam state, activations × the bf16 factor;
    the frozen teacher's weights held in bf16 and its activations for all ``faces`` in one chunk.
    The teacher runs before the student's forward (no gradients), so the two activation peaks do
    not coincide: resident memory + the larger of the two."""
    s_act = student["grads"] + BF16_ACTIVATION_FACTOR * (student["step"] - student["grads"])
    if teacher is None:
        return student["resident"] + s_act
    t_act = BF16_ACTIVATION_FACTOR * teacher["per_face"] * faces
    return student["resident"] + teacher["weights"] / 2 + max(s_act, t_act)


# --------------------------------------------------------------------------- per cell


def paper_suites(quick: bool) -> list[Path]:
    files = [p for p in iter_suite_files(ROOT / "suites") if "paper_table:" in p.read_text()]
    return [p for p in files if p.stem == "table8_projection"] if quick else files


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
    """One cell: counted FLOPs, GPU-hours online and cached (K = pseudo_cache.rotations), peak VRAM."""
    train = cell.train
    if train is None:
        return None
    cost = estimate(cell)
    labeled, unlabeled = batch_sizes(train)
    online, cached = step_flops(train, "online"), step_flops(train, "cached")
    row: dict[str, Any] = {
        "key": cost_key(train),
        "suite": suite.name,
        "cell": cell.name,
        "student": train.student.name,
        "batch": f"{labeled}+{unlabeled}" if unlabeled else f"{labeled}",
        "steps/seed": cost.steps,
        "seeds": cost.seeds,
        "TFLOP/step": online.total / 1e12,
        "TFLOP/step cached": cached.total / 1e12,
    }
    hours = (cost.steps or 0) * cost.seeds / 3600  # × seconds per step = GPU-hours
    row["GPU-h"] = hours * gpu_seconds(online.total, args.mfu)
    row["GPU-h (range)"] = "–".join(f"{hours * gpu_seconds(online.total, m):.3g}" for m in reversed(MFU_RANGE))
    row["GPU-h cached"] = hours * gpu_seconds(cached.total, args.mfu)
    row["_step_s"] = gpu_seconds(online.total, args.mfu)  # what --dry-run reads (cost_table)
    row["_cache"] = cache_key(train) if unlabeled else None
    row["_cache_flops"] = cache_build_flops(train, sum(split_size(r) or 0 for r in train.pseudo)) if unlabeled else 0
    prof = measured_profile(args.runs, suite, cell.name)
    heights = args.memory_heights or MEMORY_HEIGHTS["quick" if args.quick else "full"]
    opts = tuple(sorted(train.student.options.items()))
    metric = train.loss != "affine_inv"
    student = student_step_bytes(train.student.name, opts, labeled + unlabeled, metric, heights)
    teacher = teacher_bytes(train.teacher.id, train.teacher.input_size, measure=not args.quick) if unlabeled else None
    faces = online.faces
    row["peak fp32 GiB"] = (student["bytes"] + (teacher["bytes"] if teacher else 0)) / GIB
    row["peak bf16 GiB"] = bf16_peak(student, teacher, faces) / GIB
    row["peak bf16 GiB cached"] = bf16_peak(student, None, 0) / GIB
    row["source"] = f"extrapolated: counted FLOPs ÷ (4090 BF16 peak × {args.mfu:g}); CPU memory fit"
    if prof is not None:  # a GPU measured this cell: its figures replace the estimates
        step = row["_step_s"] = prof["step_time_s"]
        row["GPU-h"] = hours * step
        row["GPU-h (range)"] = "measured"
        peak = prof["vram"].get("torch_peak_allocated")
        row["peak bf16 GiB"] = peak / GIB if peak else prof.get("peak_allocated_gib")
        row["source"] = f"MEASURED on {prof['gpu']} (--random-init): step time, peak VRAM"
    twin = measured_profile(args.runs, suite, f"{cell.name}@cached") if unlabeled else None
    if twin is not None:  # make gpu-profile's cached twin (pseudo_labels: cached): the cached columns
        row["GPU-h cached"] = hours * twin["step_time_s"]
        peak = twin["vram"].get("torch_peak_allocated")
        row["peak bf16 GiB cached"] = peak / GIB if peak else twin.get("peak_allocated_gib")
        row["source"] += "; cached step MEASURED too"
    return row


def suite_totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per suite: GPU-hours online, cached (steps + each cache built once), worst peaks."""
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = totals.setdefault(r["suite"], {"online": 0.0, "cached": 0.0, "caches": {}, "fp32": 0.0, "bf16": 0.0, "bf16c": 0.0})
        t["online"] += r["GPU-h"] or 0.0
        t["cached"] += r["GPU-h cached"] or 0.0
        if r["_cache"] is not None:
            t["caches"][r["_cache"]] = r["_cache_flops"]
        t["fp32"] = max(t["fp32"], r["peak fp32 GiB"] or 0.0)
        t["bf16"] = max(t["bf16"], r["peak bf16 GiB"] or 0.0)
        t["bf16c"] = max(t["bf16c"], r["peak bf16 GiB cached"] or 0.0)
    return totals


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


def cache_storage(rows: list[dict[str, Any]]) -> list[str]:
    """Disk the cache needs per unlabeled dataset (K = 8, 256² cube faces), before compression."""
    from repro.run_settings import DataRef, StudentSpec
    from repro.train.pseudo_cache import raw_entry_bytes

    probe = TrainSettings(StudentSpec("unifuse"), [DataRef("matterport3d")], pseudo=[DataRef("structured3d", "all")])
    per = raw_entry_bytes(probe)
    lines = ["## Pseudo-label cache storage (K = 8, 256² cube faces)", "",
             f"{per:,} bytes ({per / 1e6:.2f} MB) per panorama before compression: uint16 targets and mask bits",
             "(`repro.train.pseudo_cache.raw_entry_bytes`; npz deflate shrinks them further).", ""]  # fmt: skip
    table = [[name, f"{n:,}", f"{n * per / 1e9:,.0f}"] for name, n in
             (("Structured3D (all)", SPLIT_SIZES["structured3d"]["all"]), ("SpatialAudioGen (all)", SPLIT_SIZES["spatialaudiogen"]["all"]))]  # fmt: skip
    lines.append(tabulate_md(table, ["unlabeled set", "panoramas", "cache GB"]))
    return lines + [""]


def tabulate_md(rows: list[list[str]], headers: list[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def render(rows: list[dict[str, Any]], args: Any, gpu: str | None, seconds: float) -> str:
    from tabulate import tabulate

    measured = gpu or any(r["GPU-h (range)"] == "measured" for r in rows)
    lines = [
        "# Cost model: the paper-table suites on an RTX 4090, online and with the pseudo-label cache",
        "",
        "Generated by `python benchmarks/bench_cost_model.py` (also run by `make bench` and `make gpu-profile`);",
        "do not edit by hand.",
        "",
        "## How the figures are made",
        "",
        "* **Steps** per seed come from the suite runner's plan (`repro suite NAME --dry-run`,",
        "  `repro.suite.cost.estimate`): each student's published epochs × the published split sizes ÷ the",
        "  labeled batch (`repro.run_settings.RECIPES`), times the cell's seeds.",
        f"* **Step time**: {'MEASURED on ' + gpu + ' by `make gpu-profile` (full size, random weights) where a row says so' if measured else 'no CUDA device was present, so NO step time here is measured'}.",
        "  Otherwise it is **extrapolated** from the step's floating-point operations, *counted* exactly at",
        "  full size (`repro.train.step_cost`: student forward + backward on the whole labeled +",
        "  pseudo-labeled batch at 512×1024, plus online the teacher's forward on every face at its 518²",
        "  input; `torch.utils.flop_counter` on the meta device), divided by the RTX 4090's dense BF16 tensor",
        f"  peak ({RTX4090_BF16_TFLOPS} TFLOPS, FP32 accumulate; NVIDIA Ada Lovelace whitepaper) × an **assumed**",
        f"  utilisation of {args.mfu:.0%} (online range shown: {MFU_RANGE[0]:.0%}–{MFU_RANGE[1]:.0%}). Memory-bound work",
        "  (rotation and projection, grid sampling, data loading, reading the cache) is not counted.",
        "* **Cached** (`pseudo_labels: cached`, K = 8 rotations per unlabeled panorama, docs/teacher.md): the",
        "  step runs no teacher; the cache costs the teacher's forward on K × 6 faces of every unlabeled",
        "  panorama ONCE, counted at the same utilisation. A suite's cached total counts each distinct cache",
        "  (same teacher, geometry, unlabeled data, K) once; the whole-paper row counts it once over all suites.",
        "* **Peak VRAM**: the student's fp32 training step (weights, gradients, Adam state, activations) is",
        f"  run on this CPU at two reduced sizes (heights {args.memory_heights or MEMORY_HEIGHTS['quick' if args.quick else 'full']}, "
        "BiFuse++/EGformer at least 128) under `torch.profiler` memory events, fitted as a + b·pixels",
        "  and evaluated at 512×1024 (where the smaller size's peak is not below the larger's, as for HoHoNet",
        "  at 64 rows, a third size twice the larger is measured and the two larger ones fitted;",
        "  `student_step_bytes`); the teacher's weights and one face's inference activations are",
        "  measured likewise. *fp32* is that upper-side figure with the fp32 teacher (chunk of 12 faces).",
        "  *bf16* is the training configuration: fp32 master weights, gradients and Adam state, activations ×",
        f"  {BF16_ACTIVATION_FACTOR} (bf16 autocast; an assumption until measured), the frozen teacher held in bf16",
        "  (`precision: bf16_weights`) with all the step's faces in one chunk; the teacher runs before the",
        "  student's forward, so resident memory + the larger of the two activation peaks. *cached*: no",
        f"  teacher at all. Budget: {BUDGET_GIB:g} GiB (24 GiB less the CUDA context, workspaces, fragmentation).",
        "* Evaluation, mask generation (once per unlabeled set) are not included; Table 5's fine-tuning",
        "  starts from Table 3's checkpoint (its own steps only).",
        "* `repro suite NAME --dry-run` prints these figures per cell (GPU-hours, peak VRAM, OVER the budget):",
        "  they are written with this page to `repro/suite/cost_model.json`, keyed by what sets a step's cost",
        "  (`repro.suite.cost.cost_key`); a `--random-init` measurement of a cell replaces them.",
        "",
    ]
    totals = suite_totals(rows)
    peak_flops = RTX4090_BF16_TFLOPS * 1e12 * args.mfu
    table, all_caches = [], {}
    online_sum = cached_sum = 0.0
    for name, t in totals.items():
        build = sum(t["caches"].values()) / peak_flops / 3600
        all_caches.update(t["caches"])
        cached = t["cached"] + build
        online_sum += t["online"]
        cached_sum += t["cached"]
        table.append([
            name, _fmt(t["online"]), _fmt(t["cached"]), _fmt(build), _fmt(cached), f"{cached / t['online']:.0%}",
            _fmt(t["fp32"]), _fmt(t["bf16"]), _fmt(t["bf16c"]), "yes" if max(t["bf16"], t["bf16c"]) <= BUDGET_GIB else "NO",
        ])  # fmt: skip
    build_all = sum(all_caches.values()) / peak_flops / 3600
    table.append([
        "**whole paper** (each cache once)", _fmt(online_sum), _fmt(cached_sum), _fmt(build_all),
        _fmt(cached_sum + build_all), f"{(cached_sum + build_all) / online_sum:.0%}", "", "", "", "",
    ])  # fmt: skip
    lines += cache_storage(rows)
    lines += ["## Per suite", ""]
    lines.append(
        tabulate(
            table,
            ["suite", "GPU-h online", "GPU-h cached: steps", "+ cache build", "= GPU-h cached", "cached / online",
             "max peak fp32 GiB", "max peak bf16 GiB", "max peak bf16 GiB cached", f"fits {BUDGET_GIB:g} GiB (bf16)"],
            tablefmt="github",
            disable_numparse=True,
        )  # fmt: skip
    )
    lines += [
        "",
        "The cache pays where a panorama is visited more often than it has rotations. Structured3D's",
        "21,835 panoramas are visited ~100 times per 1:1 cell, SpatialAudioGen's 344,000 about 6 times:",
        "at K = 8 its cache computes more teacher faces than one cell would online, and only the sharing",
        "between cells pays it back. The same totals (GPU-hours, cached) with fewer rotations per panorama",
        "(K scales the cache build linearly; the steps do not change):",
        "",
    ]
    k_rows = []
    for name, t in totals.items():
        row = [name, _fmt(t["online"])]
        for k in (8, 4, 2):
            cached = t["cached"] + sum(t["caches"].values()) * k / 8 / peak_flops / 3600
            row.append(f"{_fmt(cached)} ({cached / t['online']:.0%})")
        k_rows.append(row)
    lines.append(tabulate(k_rows, ["suite", "GPU-h online", "cached K = 8", "K = 4", "K = 2"], tablefmt="github", disable_numparse=True))
    lines += ["", "## Per cell", ""]
    keys = [k for k in rows[0] if k not in ("suite", "key") and not k.startswith("_")] if rows else []
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
            "step_s": r["_step_s"],
            "peak_gib": r["peak bf16 GiB"],
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
    p.add_argument("--memory-heights", type=lambda t: tuple(int(x) for x in t.split(",")),
                   help="the two reduced heights of the CPU memory fit, e.g. 64,128 (default 128,256)")
    p.add_argument("--rows", type=Path, help="also write every row (for re-rendering) to this JSON file")
    p.add_argument("--no-profile", action="store_true",
                   help="on a GPU, read the profiles already under --runs (make gpu-profile took them) instead of "
                   "profiling every cell again")
    args = p.parse_args()
    if not 0 < args.mfu <= 1:
        p.error("--mfu must be in (0, 1]")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    paths = paper_suites(args.quick)
    gpu = None
    if torch.cuda.is_available():
        steps = 3 if args.quick else 10
        gpu = torch.cuda.get_device_name(0) if args.no_profile else profile_on_gpu(paths, args.runs, steps)
    rows = []
    for path in paths:
        suite = load_suite(path)
        for cell in suite.cells.values():
            row = cell_row(suite, cell, args)
            if row is not None:
                rows.append(row)
                print(f"{suite.name}/{cell.name}: {row['TFLOP/step']:.3g} TFLOP/step, {row['GPU-h']:.3g} GPU-h", flush=True)
    seconds = time.perf_counter() - t0
    if args.rows is not None:
        args.rows.write_text(json.dumps(rows, indent=1, default=str))
    if not args.quick or args.out != p.get_default("out"):
        write_text(args.out, render(rows, args, gpu, seconds))
        write_json(args.table, cost_table(rows, gpu))
        print(f"wrote {args.out} and {args.table}")
    figures = {f"{r['suite']}/{r['cell']}_gpu_hours": r["GPU-h"] for r in rows}
    figures.update({f"{r['suite']}/{r['cell']}_gpu_hours_cached": r["GPU-h cached"] for r in rows})
    figures.update({f"{r['suite']}/{r['cell']}_flop_ratio_online_vs_cached": r["TFLOP/step"] / r["TFLOP/step cached"] for r in rows})
    gpu_note = f"step times measured on {gpu}" if gpu else "n/a (no CUDA device): step times and VRAM extrapolated"
    report(
        f"Cost model: RTX 4090 GPU-hours and peak VRAM per paper-suite cell ({gpu_note}; see docs/cost_model.md)",
        [{k: v for k, v in r.items() if k != "source" and not k.startswith("_")} for r in rows],
        args.json,
        figures=figures,
        notes=f"Assumed utilisation {args.mfu:g} of {RTX4090_BF16_TFLOPS} TFLOPS unless measured. "
        + ("" if gpu else "No CUDA device: every time and VRAM figure here is extrapolated (docs/cost_model.md)."),
    )


if __name__ == "__main__":
    main()
