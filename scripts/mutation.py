"""Mutation testing of the code whose numbers and verdicts people cite (``make mutation``).

The tool is mutmut (configured under ``[tool.mutmut]`` in pyproject.toml): it copies ``repro/``
to ``mutants/`` with every mutant behind a switch, records once which tests execute each
function, and runs each mutant against only those tests. This script adds what mutmut lacks:
runs only the chosen modules (all their mutants, or a seeded sample of each, for CI), a per-module table (killed /
survived / timed out / score) with the reviewed equivalent mutants of ``mutation/equivalent.txt``
counted out, and an exit status below a minimum score.

    python scripts/mutation.py run [--modules metrics losses] [--sample 40 --seed 0] [--min-score 95]
    python scripts/mutation.py table [--names-file F] [--min-score 95]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
EQUIVALENT = ROOT / "mutation" / "equivalent.txt"
LAST_RUN = MUTANTS / "last-run.txt"  # the mutant names of the latest run, for `table --last`


@dataclass(frozen=True)
class Module:
    name: str
    files: tuple[str, ...]  # meta files under mutants/ (relative to repro/)
    patterns: tuple[str, ...] = ("*",)  # mutant names (fnmatch) counted for this module


# The report's overall pass/fail lives in three places of report.py; its formatting is not mutated.
MODULES = (
    Module("metrics", ("evaluation/metrics.py",)),
    Module("losses", ("losses.py",)),
    # every file of the package, so a new projection module is mutated without an edit here
    Module("geometry", tuple(sorted(str(p.relative_to(ROOT / "repro")) for p in (ROOT / "repro" / "geometry").glob("*.py")))),
    Module("suite.stats", ("suite/stats.py",)),
    Module("suite.expected", ("suite/expected.py",)),
    Module("suite.verdicts", ("suite/verdicts.py",)),
    Module("suite.paired", ("suite/paired.py",)),
    Module("suite.power", ("suite/power.py",)),
    Module("suite.report", ("suite/report.py",), ("*.xǁReportǁ*", "*.xǁCellRowǁ*", "*.x_build_report__*")),
)
BY_NAME = {m.name: m for m in MODULES}

KILLED = {1, 3, 37}  # mutmut exit codes: test failure, pytest internal error, type check
TIMEOUT = {24, -24, 36, 152, 255}


def mutmut(*args: str) -> int:
    """``mutmut`` from this interpreter's environment, niced (the machine is shared)."""
    exe = Path(sys.executable).with_name("mutmut")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the tests import mutants/repro
    return subprocess.call(["nice", "-n", "10", str(exe), *args], cwd=ROOT, env=env)


def generate() -> None:
    """Write the mutants (mutmut's first step) so their names are known before a sampled run."""
    code = (
        "import os; os.makedirs('mutants', exist_ok=True)\n"
        "from mutmut.utils.file_utils import copy_src_dir, copy_also_copy_files\n"
        "from mutmut.__main__ import create_mutants\n"
        "copy_src_dir(); copy_also_copy_files(); create_mutants(os.cpu_count() or 2)\n"
    )
    subprocess.check_call([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL)


def results(module: Module) -> dict[str, int | None]:
    """mutant name -> mutmut exit code (None: not run) for the module's counted mutants."""
    out: dict[str, int | None] = {}
    for f in module.files:
        meta = MUTANTS / "repro" / f"{f}.meta"
        if not meta.exists():
            continue
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatchcase(name, p) for p in module.patterns):
                out[name] = code
    return out


def equivalents() -> set[str]:
    """Mutant names reviewed as equivalent (first field of each non-comment line)."""
    if not EQUIVALENT.exists():
        return set()
    lines = (ln.split("#", 1)[0].strip() for ln in EQUIVALENT.read_text().splitlines())
    return {ln.split()[0] for ln in lines if ln}


def table(names: set[str] | None, min_score: float | None, min_total: float | None = None) -> int:
    """Print the per-module table; 1 when a module with run mutants scores below ``min_score``, or
    all of them together below ``min_total`` (a small sample: a per-module score is too coarse)."""
    eq = equivalents()
    rows, low, survivors = [], [], []
    total = Counter()
    for module in MODULES:
        res = {n: c for n, c in results(module).items() if names is None or n in names}
        run = {n: c for n, c in res.items() if c is not None}
        counts = Counter(
            "equivalent" if n in eq and c not in KILLED else
            "killed" if c in KILLED else "timeout" if c in TIMEOUT else "no tests" if c in (5, 33) else "survived"
            for n, c in run.items()
        )
        judged = len(run) - counts["equivalent"]
        killed = counts["killed"] + counts["timeout"]  # a mutant that hangs the tests is caught
        score = 100.0 * killed / judged if judged else None
        total.update(judged=judged, killed=killed)
        survivors += sorted(n for n, c in run.items() if c not in KILLED | TIMEOUT and n not in eq)
        rows.append([module.name, len(res), len(run), counts["killed"], counts["survived"] + counts["no tests"],
                     counts["timeout"], counts["equivalent"], "-" if score is None else f"{score:.1f}"])
        if min_score is not None and score is not None and score < min_score:
            low.append(module.name)
    overall = 100.0 * total["killed"] / total["judged"] if total["judged"] else None
    rows.append(["all", sum(r[1] for r in rows), sum(r[2] for r in rows), *(sum(r[i] for r in rows) for i in (3, 4, 5, 6)),
                 "-" if overall is None else f"{overall:.1f}"])
    if min_total is not None and overall is not None and overall < min_total:
        low.append("all")
    print(tabulate(rows, ["module", "mutants", "run", "killed", "survived", "timed out", "equivalent",
                          "score %"], tablefmt="github"))
    if survivors:
        print("\nsurvivors (`mutmut show NAME`):\n  " + "\n  ".join(survivors))
    if low:
        print(f"\nmutation score below the minimum in: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


def run(modules: list[Module], sample: int | None, seed: int, max_children: int) -> set[str]:
    """Run the chosen modules' mutants (all, or a seeded sample of ``sample`` per module) in one
    mutmut call: mutmut starts once (stats, clean run) and each mutant runs its covering tests."""
    generate()
    chosen: set[str] = set()
    for module in modules:
        names = sorted(results(module))
        if sample is not None and sample < len(names):  # each module's sample whatever else is chosen
            names = random.Random(f"{seed}:{module.name}").sample(names, sample)
        print(f"== {module.name}: {len(names)} mutants", flush=True)
        chosen |= set(names)
    if chosen:
        # mutmut runs explicitly named mutants again, whatever a previous run found
        rc = mutmut("run", "--max-children", str(max_children), *sorted(chosen))
        if rc != 0:
            raise SystemExit(f"mutmut run failed (exit {rc})")
    LAST_RUN.write_text("".join(f"{n}\n" for n in sorted(chosen)))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the mutants, then print the table")
    p_run.add_argument("--modules", nargs="+", choices=list(BY_NAME), default=list(BY_NAME))
    p_run.add_argument("--sample", type=int, help="a seeded sample of this many mutants per module")
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--max-children", type=int, default=2)
    p_tab = sub.add_parser("table", help="the table of the results on disk")
    p_tab.add_argument("--last", action="store_true", help="only the mutants of the latest run")
    for p in (p_run, p_tab):
        p.add_argument("--min-score", type=float, help="exit 1 when a module scores below this (%%)")
        p.add_argument("--min-total", type=float, help="exit 1 when all modules together score below this (%%)")
    args = parser.parse_args(argv)
    if args.command == "run":
        chosen = run([BY_NAME[m] for m in args.modules], args.sample, args.seed, args.max_children)
        return table(chosen, args.min_score, args.min_total)
    names = set(LAST_RUN.read_text().split()) if args.last and LAST_RUN.exists() else None
    return table(names, args.min_score, args.min_total)


if __name__ == "__main__":
    sys.exit(main())
