"""``repro suite compare RUN_A RUN_B [...]``: runs of one suite side by side, and the paper.

Per cell and metric: the paper's value, each run's mean over seeds (± sample std, n), each later
run's difference from the first, and whether that difference lies within the runs' own seed
spread: ``|Δ| ≤ 2·√(s_a²/n_a + s_b²/n_b)`` (about a 95 % band for a difference of two means).
With one seed on either side the spread is unknown and the table says so instead of guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from repro.errors import UserError
from repro.suite.expected import METRIC_LABELS
from repro.suite.report import Report, build_report, load_run
from repro.suite.report_figure import ChartRow, chart_rows

SPREAD_FACTOR = 2.0


@dataclass
class Measured:
    mean: float | None
    std: float | None
    n: int
    status: str  # the cell's status, or the metric verdict's

    def text(self) -> str:
        if self.mean is None:
            return self.status
        out = f"{self.mean:.4f}"
        if self.std is not None:
            out += f" ± {self.std:.4f}"
        return out + f" (n={self.n})"


@dataclass
class Difference:
    delta: float | None
    band: float | None  # SPREAD_FACTOR × the standard error of the difference; None: unknown
    within: bool | None

    def text(self) -> str:
        if self.delta is None:
            return "—"
        if self.within is None:
            verdict = "identical" if self.delta == 0 else "spread unknown (1 seed)"
        else:
            verdict = f"{'within' if self.within else 'OUTSIDE'} ±{self.band:.4f}"
        return f"{self.delta:+.4f} ({verdict})"


@dataclass
class CompareRow:
    cell: str
    metric: str
    paper: float | None
    runs: list[Measured]
    diffs: list[Difference] = field(default_factory=list)  # run i (i ≥ 1) minus run 0


def _measured(row: ChartRow | None, metric: str) -> Measured:
    if row is None:
        return Measured(None, None, 0, "not in run")
    v = row.verdicts.get(metric)
    if v is None or v.measured is None:
        return Measured(None, None, 0, row.state or "not measured")
    return Measured(v.measured, v.std, v.n, v.status)


def difference(a: Measured, b: Measured) -> Difference:
    """b − a, and whether it is within the two runs' seed spread."""
    if a.mean is None or b.mean is None:
        return Difference(None, None, None)
    delta = b.mean - a.mean
    if a.std is None or b.std is None or a.n < 2 or b.n < 2:
        return Difference(delta, None, None)
    band = SPREAD_FACTOR * math.sqrt(a.std**2 / a.n + b.std**2 / b.n)
    return Difference(delta, band, abs(delta) <= band + 1e-12)


def compare_runs(run_dirs: list[Path]) -> tuple[list[Report], list[CompareRow]]:
    """Reports of the runs and one row per cell and metric any of them has."""
    if len(run_dirs) < 2:
        raise UserError("usage: repro suite compare RUN_A RUN_B [RUN_C ...] (two run folders or more)")
    reports = [build_report(load_run(d)) for d in run_dirs]
    suites = {str(r.run.suite.get("suite")) for r in reports}
    if len(suites) > 1:
        raise UserError(f"compare runs of one suite; these are of {', '.join(sorted(suites))}")
    charts = [{r.label: r for r in chart_rows(rep)} for rep in reports]
    cells = list(dict.fromkeys(name for chart in charts for name in chart))
    rows = []
    for cell in cells:
        present = [chart[cell] for chart in charts if cell in chart]
        for metric in (m for m in METRIC_LABELS if any(m in r.verdicts for r in present)):
            paper = next((r.verdicts[metric].paper for r in present if metric in r.verdicts), None)
            runs = [_measured(chart.get(cell), metric) for chart in charts]
            diffs = [difference(runs[0], m) for m in runs[1:]]
            rows.append(CompareRow(cell, metric, paper, runs, diffs))
    return reports, rows


def _names(run_dirs: list[Path]) -> list[str]:
    """Column names: A, B, C, ... (the folders are listed under the table)."""
    return [chr(ord("A") + i) if i < 26 else f"run{i}" for i in range(len(run_dirs))]


def render_markdown(run_dirs: list[Path], reports: list[Report], rows: list[CompareRow]) -> str:
    names = _names(run_dirs)
    headers = ["cell", "metric", "paper", *names, *(f"{n} − A" for n in names[1:])]
    table = [
        [
            r.cell,
            METRIC_LABELS.get(r.metric, r.metric),
            "—" if r.paper is None else f"{r.paper:.3f}",
            *(m.text() for m in r.runs),
            *(d.text() for d in r.diffs),
        ]
        for r in rows
    ]
    lines = [f"# Compare: {reports[0].run.suite.get('title', reports[0].run.suite.get('suite'))}", ""]
    for name, d, rep in zip(names, run_dirs, reports, strict=True):
        s = rep.run.suite
        lines.append(f"- **{name}**: `{d}` (scale {s.get('scale')}, {rep.verdict})")
    lines += [
        "",
        tabulate(table, headers, tablefmt="github", disable_numparse=True),
        "",
        f"Runs: mean ± sample std over seeds (n). Δ is within the spread when |Δ| ≤ {SPREAD_FACTOR:g}·√(s²/n + s²/n)"
        " of the two runs; with one seed on either side the spread is unknown.",
        "",
    ]
    return "\n".join(lines)


def compare_json(run_dirs: list[Path], reports: list[Report], rows: list[CompareRow]) -> dict[str, Any]:
    names = _names(run_dirs)
    return {
        "schema": "repro.suite.compare/1",
        "suite": reports[0].run.suite.get("suite"),
        "runs": [
            {"name": n, "run_dir": str(d), "scale": r.run.suite.get("scale"), "verdict": r.verdict}
            for n, d, r in zip(names, run_dirs, reports, strict=True)
        ],
        "spread_factor": SPREAD_FACTOR,
        "rows": [
            {
                "cell": r.cell,
                "metric": r.metric,
                "paper": r.paper,
                "runs": {n: vars(m) for n, m in zip(names, r.runs, strict=True)},
                "differences": {f"{n}-A": vars(d) for n, d in zip(names[1:], r.diffs, strict=True)},
            }
            for r in rows
        ],
    }
