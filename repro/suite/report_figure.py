"""``report.png``: one chart per suite that reads at a glance on a laptop screen.

One panel per metric (a grid, at most four across), one line per table row in every panel: the
paper's value (hollow diamond), the tolerance band around it (shaded; a sanity range where the row
has bounds instead), the measured mean (a dot coloured by its verdict) with its spread over seeds
(± one sample standard deviation, drawn only with two or more seeds), and the other evaluator's
mean where the result recorded both (hollow triangle). Cited, failed and not-run rows keep their
line and say so, so a missing number is visible rather than silently absent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.atomic import write_bytes
from repro.suite.expected import METRIC_LABELS, MetricVerdict, judge_cell

if TYPE_CHECKING:
    from repro.suite.report import Report

#: verdict status -> (colour, legend label) of the measured dot
STATUS_STYLE = {
    "pass": ("#2e7d32", "measured: pass"),
    "fail": ("#c62828", "measured: FAIL"),
    "missing": ("#c62828", "measured: FAIL"),
    "not_compared": ("#546e7a", "measured: not compared"),
    "not_reported": ("#546e7a", "measured: not compared"),
}
BAND_COLOUR = "#cfe0f3"
PAPER_COLOUR = "#111111"
OTHER_COLOUR = "#7b1fa2"
MAX_COLUMNS = 4
WIDTH_IN = 13.0  # 1300 px at the saved 100 dpi: fits a laptop screen without scaling


@dataclass
class ChartRow:
    """One line of every panel: a table row and what is known about it."""

    label: str
    state: str  # "" when measured; else cited | not run | failed | skipped | interrupted
    verdicts: dict[str, MetricVerdict]
    bands: dict[str, tuple[float, float]]  # metric -> acceptable interval (may be open: ±inf)


def _band(v: MetricVerdict, mode: str) -> tuple[float, float] | None:
    """The interval a measured value must fall in for this verdict to pass."""
    if v.bounds is not None:
        return float(v.bounds[0]), float(v.bounds[1])
    if v.paper is None or v.tolerance is None:
        return None
    if mode == "two_sided" or v.direction is None:
        return v.paper - v.tolerance, v.paper + v.tolerance
    if v.direction == "lower":
        return -math.inf, v.paper + v.tolerance
    return v.paper - v.tolerance, math.inf


def chart_rows(report: Report) -> list[ChartRow]:
    """Every cell of the run, in suite order, with the verdicts (or paper values) to draw."""
    exp = report.run.expected
    rows = []
    for c in report.cells:
        verdicts = list(c.verdicts)
        if not verdicts and exp is not None and c.cell in exp.cells:
            verdicts = judge_cell(exp, c.cell, None)  # the paper's numbers of a row that did not run
        mode = exp.mode_for(c.cell) if exp is not None and c.cell in exp.cells else "two_sided"
        state = "" if c.status == "ok" else c.status
        by_metric = {v.metric: v for v in verdicts if v.metric in METRIC_LABELS}
        bands = {m: b for m, v in by_metric.items() if (b := _band(v, mode)) is not None}
        rows.append(ChartRow(c.cell, state, by_metric, bands))
    return rows


def chart_metrics(rows: list[ChartRow]) -> list[str]:
    """Metrics with at least one number to draw, in the order of the paper's tables."""
    present = {m for r in rows for m, v in r.verdicts.items() if v.paper is not None or v.measured is not None}
    return [m for m in METRIC_LABELS if m in present]


def _limits(rows: list[ChartRow], metric: str) -> tuple[float, float]:
    """x range covering every paper value, measured value ± spread and finite band edge, padded."""
    xs: list[float] = []
    for r in rows:
        v = r.verdicts.get(metric)
        if v is None:
            continue
        for x in (v.paper, v.measured, *v.by_evaluator.values()):
            if x is not None and math.isfinite(x):
                xs.append(x)
        if v.measured is not None and v.std:
            xs += [v.measured - v.std, v.measured + v.std]
        xs += [b for b in r.bands.get(metric, ()) if math.isfinite(b)]
    if not xs:
        return 0.0, 1.0
    lo, hi = min(xs), max(xs)
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 1e-3)
    return lo - pad, hi + pad


def _ylabel(r: ChartRow) -> str:
    """The cell's name, and why it has no measured value when it has none."""
    return f"{r.label}  [{r.state}]" if r.state else r.label


def _panel(ax: Any, rows: list[ChartRow], metric: str, first_column: bool) -> None:
    lo, hi = _limits(rows, metric)
    for y, r in enumerate(rows):
        v = r.verdicts.get(metric)
        band = r.bands.get(metric)
        if band is not None:
            left, right = max(band[0], lo), min(band[1], hi)
            if right > left:
                ax.barh(y, right - left, left=left, height=0.62, color=BAND_COLOUR, zorder=1)
        if v is not None and v.paper is not None:
            ax.plot(v.paper, y, "D", mfc="white", mec=PAPER_COLOUR, mew=1.4, ms=7, zorder=3)
        if v is not None and v.measured is not None and math.isfinite(v.measured):
            colour = STATUS_STYLE.get(v.status, STATUS_STYLE["not_compared"])[0]
            ax.errorbar(
                v.measured, y, xerr=v.std if v.std else None, fmt="o", color=colour, ms=7, capsize=4, zorder=4
            )
            for name, value in v.by_evaluator.items():
                if name != v.evaluator and math.isfinite(value):
                    ax.plot(value, y + 0.22, "^", mfc="none", mec=OTHER_COLOUR, ms=6, zorder=3)
    ax.set_xlim(lo, hi)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_ylabel(r) for r in rows] if first_column else [], fontsize=9)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.8, zorder=0)
    ax.tick_params(axis="x", labelsize=8)
    arrow = {"lower": " (lower is better)", "higher": " (higher is better)"}
    direction = next((v.direction for v in (r.verdicts.get(metric) for r in rows) if v and v.direction), None)
    ax.set_title(METRIC_LABELS[metric] + arrow.get(direction or "", ""), fontsize=10)


def other_evaluators(rows: list[ChartRow]) -> list[str]:
    """Evaluators drawn as triangles: recorded beside the judged one."""
    names = {e for r in rows for v in r.verdicts.values() for e in v.by_evaluator if e != v.evaluator}
    return sorted(names)


def _legend_handles(others: list[str]) -> list[Any]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    dot = {"marker": "o", "linestyle": "none", "ms": 7}
    handles = [
        Line2D([], [], marker="D", linestyle="none", mfc="white", mec=PAPER_COLOUR, ms=7, label="paper"),
        Patch(color=BAND_COLOUR, label="tolerance band"),
        Line2D([], [], color=STATUS_STYLE["pass"][0], label="measured: pass", **dot),
        Line2D([], [], color=STATUS_STYLE["fail"][0], label="measured: FAIL", **dot),
        Line2D([], [], color=STATUS_STYLE["not_compared"][0], label="measured: not compared", **dot),
        Line2D([], [], color="#333333", marker="|", ms=10, linestyle="-", label="± std over seeds"),
    ]
    if others:
        label = "other evaluator: " + ", ".join(others)
        handles.append(Line2D([], [], marker="^", linestyle="none", mfc="none", mec=OTHER_COLOUR, ms=6, label=label))
    return handles


def render_png(report: Report, path: Path) -> bytes:
    """Write the chart as a PNG (atomically); its bytes, for the HTML report to embed."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = chart_rows(report)
    metrics = chart_metrics(rows)
    ncols = max(1, min(MAX_COLUMNS, len(metrics)))
    nrows = max(1, math.ceil(len(metrics) / ncols))
    panel_h = 0.34 * max(len(rows), 1) + 0.9
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(WIDTH_IN, min(panel_h * nrows + 1.3, 30.0)), squeeze=False, layout="constrained"
    )
    for i, ax in enumerate(axes.flat):
        if i < len(metrics):
            _panel(ax, rows, metrics[i], first_column=i % ncols == 0)
        else:
            ax.set_axis_off()
    if not metrics:
        axes[0][0].text(0.5, 0.5, "no metrics to plot", ha="center", va="center", transform=axes[0][0].transAxes)
    s = report.run.suite
    title = f"{s.get('title', s.get('suite'))} — scale {s.get('scale')} — {report.verdict}"
    if report.run.expected is not None:
        title += f" (judged on the {report.run.expected.evaluator} evaluator)"
    fig.suptitle(title, fontsize=12)
    fig.legend(handles=_legend_handles(other_evaluators(rows)), loc="outside lower center", ncol=7, fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    png = buf.getvalue()
    write_bytes(path, png)
    return png
