"""Record the smoke suite's reference numbers: clean CPU runs at several seeds and thread counts.

    python scripts/record_smoke_reference.py --out /tmp/smoke_ref [--threads 1 2] [--seeds 0 1 2]

Prints, per cell and metric of the verdict evaluator, the seed-0 value at each thread count, the
spread over thread counts and over seeds, and the tolerance rule of expected/smoke.yaml applied to
them. The smoke suite runs seed 0 only, so its band has to cover what changes between honest
runs of *that* seed (thread counts, BLAS, CPU) — and must stay below what a broken pipeline moves
(tests/test_smoke_mutations.py); the seed spread is printed as the scale of an untrained student's
numbers, for the record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("abs_rel", "delta1", "delta2", "delta3", "mae", "rmse", "rmse_log")


def one_run(out: Path, seed: int, threads: int) -> dict[str, dict[str, float]]:
    """A clean smoke run in a fresh process with ``threads`` torch threads; cell -> metric -> value."""
    code = (
        "import sys, torch; torch.set_num_threads(int(sys.argv[3])); sys.path.insert(0, 'tests');"
        "from smoke_mutations import run_smoke; from pathlib import Path;"
        "run_smoke(Path(sys.argv[1]), seed=int(sys.argv[2]), force=True)"
    )
    subprocess.run([sys.executable, "-c", code, str(out), str(seed), str(threads)], cwd=ROOT, check=True)
    report = json.loads((out / "smoke" / "report.json").read_text())
    return {
        c["cell"]: {v["metric"]: v["measured"] for v in c["verdicts"] if v["measured"] is not None}
        for c in report["cells"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    runs: dict[tuple[int, int], dict[str, dict[str, float]]] = {}
    for threads in args.threads:
        runs[(0, threads)] = one_run(args.out / f"seed0-t{threads}", 0, threads)
    for seed in args.seeds:
        if seed != 0:
            runs[(seed, args.threads[0])] = one_run(args.out / f"seed{seed}-t{args.threads[0]}", seed, args.threads[0])
    (args.out / "runs.json").write_text(json.dumps({f"{s}-{t}": r for (s, t), r in runs.items()}, indent=1))
    ref = runs[(0, args.threads[0])]
    for cell, metrics in ref.items():
        print(f"{cell}:")
        for m in METRICS:
            if m not in metrics:
                continue
            by_thread = [runs[(0, t)][cell][m] for t in args.threads]
            by_seed = [runs[(s, args.threads[0])][cell][m] for s in args.seeds]
            thread_spread = max(by_thread) - min(by_thread)
            seed_sd = statistics.stdev(by_seed) if len(by_seed) > 1 else float("nan")
            print(
                f"  {m}: {metrics[m]:.6f}  thread spread {thread_spread:.2e}  seed sd {seed_sd:.4f}"
                f"  (seeds {', '.join(f'{x:.4f}' for x in by_seed)})"
            )


if __name__ == "__main__":
    main()
