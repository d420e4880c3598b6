"""Checks of an expected file against the paper's own effect sizes, for ``repro suite validate``.

A tolerance band wider than the paper's baseline → method gap lets a run in which the method does
nothing pass that row: the band then cannot tell a reproduction from a failure, and only the
claim's paired test can. Such rows are worth a warning, not an error: the band is still the
right answer to "is this number the paper's?", it is just not evidence of the gain.
"""

from __future__ import annotations

from repro.suite.expected import ExpectedFile
from repro.suite.schema import Suite


def tolerance_warnings(exp: ExpectedFile) -> list[str]:
    """One line per directional claim whose method row's tolerance exceeds the paper's own gap."""
    out = []
    for claim in exp.claims:
        if not claim.better_than:
            continue
        method, base = exp.cells.get(claim.cell), exp.cells.get(claim.better_than)
        m = claim.metric
        if method is None or base is None or m not in method.metrics or m not in base.metrics:
            continue
        gap = abs(method.metrics[m] - base.metrics[m])
        tol = exp.tolerance_for(claim.cell, m)
        if tol > gap - 1e-12:
            out.append(
                f"{claim.cell}.{m}: tolerance ±{tol:g} is not narrower than the paper's gap {gap:.3f} over "
                f"{claim.better_than}: a run without the gain passes this row; only the claim's paired test can tell"
            )
    return out


def form_warnings(suite: Suite, exp: ExpectedFile) -> list[str]:
    """RMSElog rows whose stated form is missing, or differs from what their verdict evaluator computes."""
    out = []
    for name, ce in exp.cells.items():
        if "rmse_log" not in ce.metrics:
            continue
        want = ce.forms.get("rmse_log")
        cell = suite.cells.get(name)
        if want is None:
            out.append(f"{name}: the paper's RMSElog has no stated form (forms: {{rmse_log: ln|log10|released}})")
            continue
        if cell is None or cell.eval is None:
            continue  # a cited row: its form is shown, never compared
        evaluator = exp.evaluator_for(name)
        got = "released" if evaluator == "released" else cell.eval.rmse_log
        if got != want:
            out.append(f"{name}: the paper's RMSElog is the {want} form but the {evaluator} evaluator computes {got}")
    return out
