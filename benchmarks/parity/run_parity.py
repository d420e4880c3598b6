"""``make parity RELEASED_SRC=path/to/Depth-Anywhere``: the released code's own functions beside ours.

Prints one table of max differences with pass/fail and exits 1 if any row fails. CPU only; the
default size is the released training size (512×1024 panoramas, 256² faces, teacher at 518²).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.parity import checks
from benchmarks.parity.released_env import ENV_VAR, ReleasedSourceMissing, released_code


def run(src: str | None, height: int) -> list[checks.Row]:
    rows: list[checks.Row] = []
    with released_code(src):
        rows += checks.check_geometry(height)
        rows += checks.check_training_step(height, with_mask=True)
        rows += checks.check_training_step(height, with_mask=False)
        rows += checks.check_loss(min(height, 256))
        rows += checks.check_loss(min(height, 256), empty=True)
        rows += checks.check_evaluator(height)
        rows += checks.check_unifuse(min(height, 256))
        for name in ("bifusepp", "hohonet", "egformer"):  # fixed to 512×1024 by the released code
            rows += checks.check_student(name)
    return rows


def table(rows: list[checks.Row]) -> str:
    from tabulate import tabulate

    body = [(r.check, r.compared, r.unit, f"{r.value:.3g}", f"{r.tolerance:.0e}" if r.tolerance else "0",
             "pass" if r.ok else "FAIL") for r in rows]
    return tabulate(body, headers=["check", "compared", "measure", "value", "tolerance", "result"], tablefmt="github")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parity", description=__doc__.splitlines()[0])
    parser.add_argument("--released-src", help=f"checkout of albert100121/Depth-Anywhere (default: ${ENV_VAR})")
    parser.add_argument("--height", type=int, default=512, help="panorama height (multiple of 16; faces are H/2)")
    args = parser.parse_args(argv)
    if args.height % 16:
        parser.error("--height must be a multiple of 16")
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    try:
        rows = run(args.released_src, args.height)
    except ReleasedSourceMissing as exc:
        print(f"parity: error: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    failed = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} rows within tolerance ({time.perf_counter() - start:.0f} s, "
          f"{args.height}x{2 * args.height})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
