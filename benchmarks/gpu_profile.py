"""``make gpu-profile``: every paper cell's ``--random-init`` profile, online and cached, then docs/cost_model.md.

On one CUDA GPU (budget: under 10 minutes): for every training cell of every paper-table suite,
``repro suite NAME --random-init`` steps at full size with random weights (the real step:
teacher, student forward + backward, optimizer), recording the median step time, torch's peak
allocated memory (``torch.cuda.max_memory_allocated``) and NVML's peak (``nvidia-ml-py``) in
``<runs>/<suite>/<cell>/profile.json``; each pseudo-labeled cell is profiled a second time with
``pseudo_labels: cached`` (cell ``<name>@cached``). Then ``bench_cost_model.py --runs <runs>
--no-profile`` regenerates docs/cost_model.md from those profiles (it does not profile again):
measured figures replace the extrapolated ones, the ``@cached`` twins the cached columns, and say so.
A cell identical to one already profiled (the same training settings in another suite) is not run
twice.

``--reduced`` is the CPU check that keeps this script from rotting (tests/test_gpu_profile.py):
tiny sizes (students at their smallest input, the tiny teacher, one step), no document written,
the table printed.

    make gpu-profile                                  # on the GPU machine
    python benchmarks/gpu_profile.py --reduced --runs /tmp/gp --device cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: smallest input height each student accepts (UniFuse 64, BiFuse++ and EGformer 128 rows)
REDUCED_HEIGHT = {"bifusepp": 128, "egformer": 128}


def paper_suites(only: list[str] | None = None) -> list[Path]:
    from repro.suite.schema import iter_suite_files

    files = [p for p in iter_suite_files(ROOT / "suites") if "paper_table:" in p.read_text()]
    return [p for p in files if p.stem in only] if only else files


def reduced(train: Any) -> Any:
    """The same cell at toy size: for the CPU check of this script, not for any figure."""
    h = REDUCED_HEIGHT.get(train.student.name, 64)
    return dataclasses.replace(
        train,
        input_size=(h, 2 * h),
        teacher=dataclasses.replace(train.teacher, id="tiny", input_size=28, revision=None),
        distill=dataclasses.replace(train.distill, face_size=16),
        schedule=dataclasses.replace(train.schedule, batch_size=1),
    )


def cells_to_profile(reduce: bool, only: list[str] | None = None) -> tuple[list[Any], list[tuple[str, str, str, str]]]:
    """Suites holding every training cell to profile plus its cached twin, each distinct setting once;
    and (suite, cell, first suite, first cell) for the duplicates, which reuse the first's profile."""
    from repro.config import to_plain
    from repro.suite.runner import run_name
    from repro.suite.schema import load_suite

    first: dict[str, tuple[str, str]] = {}
    suites, duplicates = [], []
    for path in paper_suites(only):
        suite = load_suite(path)
        keep = {}
        for name, cell in suite.cells.items():
            if cell.train is None:
                continue
            variants = [(name, cell.train)]
            if cell.train.pseudo:
                variants.append((f"{name}@cached", dataclasses.replace(cell.train, pseudo_labels="cached")))
            for vname, train in variants:
                train = reduced(train) if reduce else train
                key = json.dumps(to_plain(train), sort_keys=True, default=str)
                if key in first:
                    duplicates.append((run_name(suite), vname, *first[key]))
                    continue
                first[key] = (run_name(suite), vname)
                keep[vname] = dataclasses.replace(cell, name=vname, train=train)
        if keep:
            suites.append(dataclasses.replace(suite, cells=keep))
    return suites, duplicates


def profile_all(
    runs: Path, steps: int, device: str | None, reduce: bool, only: list[str] | None = None
) -> list[dict[str, Any]]:
    from repro.atomic import write_json
    from repro.suite.executor import ReproExecutor
    from repro.suite.runner import RunOptions, SuiteRunner

    suites, duplicates = cells_to_profile(reduce, only)
    records = []
    for suite in suites:
        runner = SuiteRunner(suite, ReproExecutor(), RunOptions(out=runs, profile_steps=steps, device=device))
        records += runner.profile(lambda msg, s=suite.name: print(f"{s}/{msg}", flush=True))
    for suite, cell, src_suite, src_cell in duplicates:  # identical settings: the same measurement
        rec = json.loads((runs / src_suite / src_cell / "profile.json").read_text())
        write_json(runs / suite / cell / "profile.json", {**rec, "suite": suite, "cell": cell, "same_as": f"{src_suite}/{src_cell}"})
    return records


def summary_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        vram = r.get("vram") or {}
        torch_peak, nvml_peak = vram.get("torch_peak_allocated"), vram.get("nvml_process_peak")
        rows.append({
            "suite": r["suite"],
            "cell": r["cell"],
            "status": r["status"],
            "step_s": r.get("step_time_s"),
            "teacher_s": r.get("teacher_s"),
            "torch peak GiB": torch_peak / 2**30 if torch_peak else None,
            "NVML peak GiB": nvml_peak / 2**30 if nvml_peak else None,
            "device": vram.get("device") or r.get("device"),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=ROOT / "out" / "cost_model_runs", help="where profiles are written")
    p.add_argument("--steps", type=int, default=5, help="timed steps per cell (after one warm-up)")
    p.add_argument("--device", help="default: cuda")
    p.add_argument("--reduced", action="store_true", help="tiny sizes on any device, no document: the CPU check")
    p.add_argument("--json", type=Path, help="also write the per-cell table here")
    p.add_argument("--only", nargs="*", help="only these suites (e.g. table8_projection)")
    args = p.parse_args(argv)
    import torch
    from tabulate import tabulate

    if not args.reduced and not torch.cuda.is_available():
        print("gpu-profile: error: no CUDA device (use --reduced for the CPU check)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    records = profile_all(args.runs, args.steps, args.device, args.reduced, args.only)
    rows = summary_rows(records)
    print(tabulate(rows, headers="keys", floatfmt=".3g"))
    print(f"{len(rows)} cells profiled in {time.perf_counter() - t0:.0f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    failed = [r for r in rows if r["status"] != "ok"]
    if not args.reduced:  # regenerate docs/cost_model.md with the measured figures
        cmd = [sys.executable, str(HERE / "bench_cost_model.py"), "--runs", str(args.runs), "--no-profile"]
        subprocess.run(cmd, cwd=ROOT, check=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
