"""The ``--dry-run`` table: per cell what it trains on, its steps, estimated GPU-hours and peak VRAM.

The figures come from :func:`repro.suite.cost.cell_estimates` (a ``--random-init`` measurement on
this machine when there is one, else the cost model); a cell estimated above the VRAM budget is
marked, and the suite's total is the sum over the cells that will run.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate


def _hours(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if x < 10 else f"{x:,.0f}"


def _peak(est: dict[str, Any]) -> str:
    if est["peak_gib"] is None:
        return "—"
    return f"{est['peak_gib']:.1f}" + (" OVER" if est["over_budget"] else "")


def render_plan(runner: Any) -> str:
    """The table and its totals for a :class:`repro.suite.runner.SuiteRunner`."""
    rows = []
    total_hours, unknown, runnable, over, sources = 0.0, 0, 0, [], set()
    for item in runner.plan():
        cell, est = item["cell"], item["estimates"]
        t = cell.train
        data = "—"
        if t is not None:
            data = " + ".join(r.label for r in t.labeled) + "".join(f", {r.label} (p)" for r in t.pseudo)
        test = cell.eval.dataset.label if cell.eval else "—"
        model = t.student.name if t else (cell.eval.model if cell.eval else "—")
        if cell.kind != "cited" and t is not None:
            runnable += 1
            if est["gpu_hours"] is None:
                unknown += 1
            else:
                total_hours += est["gpu_hours"]
                sources.add(est["source"])
            if est["over_budget"]:
                over.append(cell.name)
        state = item["state"] + (f"; missing data: {', '.join(item['missing_data'])}" if item["missing_data"] else "")
        rows.append(
            [
                cell.name,
                cell.kind,
                model,
                data,
                test,
                "—" if est["steps"] is None else f"{est['steps']:,}",
                "—" if not est["teacher_images"] else f"{est['teacher_images']:,}",
                _hours(est["gpu_hours"]),
                _peak(est),
                state,
            ]
        )
    budget = runner.options.budget_gib
    table = tabulate(
        rows,
        ["cell", "kind", "model", "train data", "test", "steps/seed", "teacher images", "GPU-h", "peak GiB", "state"],
        tablefmt="simple",
        disable_numparse=True,
    )
    suite = runner.suite
    lines = [
        f"{suite.title} — scale {suite.scale}" + (f", variant {suite.variant}" if suite.variant else ""),
        f"outputs: {runner.run_dir}",
        "",
        table,
        "",
    ]
    known = runnable - unknown
    total = f"estimated GPU time: {_hours(total_hours)} GPU-hours for {known} of {runnable} training cells (all seeds)"
    if sources:
        total += f"; from: {'; '.join(sorted(sources))}"
    lines.append(total + ".")
    if any(not src.startswith("measured") for src in sources):
        lines.append(
            f"Model figures are estimates (docs/cost_model.md); `repro suite {suite.name} --random-init` on the "
            "target GPU measures step time and VRAM, and --dry-run then uses the measurement."
        )
    if unknown:
        lines.append(
            f"No estimate for {unknown} cell(s) (a configuration the cost model, docs/cost_model.md, does not cover): "
            f"run `repro suite {suite.name} --random-init` once on the target GPU to measure their step times."
        )
    if over:
        lines.append(
            f"OVER the {budget:g} GiB VRAM budget (estimated peak): {', '.join(over)} — a rough figure "
            "(docs/cost_model.md); measure with --random-init, or lower the batch."
        )
    return "\n".join(lines)
