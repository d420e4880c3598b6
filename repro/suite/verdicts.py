"""A stored cell result judged against its expectation, under the evaluator that row names.

Glue between :mod:`repro.suite.evidence` (what the run recorded, per evaluator, seed and image),
:mod:`repro.suite.expected` (the rules) and :mod:`repro.suite.stats` (the power of the run). The
runner and the report both judge through here, so ``result.json`` and a rebuilt report agree.
"""

from __future__ import annotations

from typing import Any

from repro.suite.evidence import evaluator_of, recorded_form, seed_images, seed_metrics
from repro.suite.expected import ExpectedFile, ImageValues, MetricVerdict, judge_cell
from repro.suite.stats import row_mde

EVALUATOR_ORDER = ("paper", "released", "cell")


def evaluators_recorded(result: dict[str, Any]) -> list[str]:
    """Evaluators whose aggregates this result holds (``cell`` only when distinct from both)."""
    names: set[str] = set()
    for rec in result.get("seeds") or []:
        names |= set(rec.get("evaluators") or {})
    return [n for n in EVALUATOR_ORDER if n in names]


def judge_result(exp: ExpectedFile, cell: str, result: dict[str, Any], *, compare: bool) -> list[MetricVerdict]:
    """Verdicts of one cell (``ok`` or ``cited``), with every evaluator's mean and the row's MDE."""
    if result.get("status") != "ok":
        return judge_cell(exp, cell, None, compare=compare)
    evaluator = exp.evaluator_for(cell)
    seeds = result.get("seeds") or [{}]
    evaluator = evaluator_of(seeds[0], evaluator) or evaluator  # "cell" is shown as the evaluator it equals
    per_seed = seed_metrics(result, evaluator)
    measured = {m: list(v.values()) for m, v in per_seed.items()}
    forms = {"rmse_log": recorded_form(result, evaluator)}
    verdicts = judge_cell(exp, cell, measured, compare=compare, forms=forms)
    alpha = exp.acceptance_for(cell).alpha
    for v in verdicts:
        v.evaluator = evaluator
        if not per_seed and evaluator != "cell" and v.status == "missing":
            v.test = f"evaluator '{evaluator}' not recorded in this result (re-run its evaluation)"
        for name in evaluators_recorded(result):
            values = seed_metrics(result, name).get(v.metric)
            if values:
                v.by_evaluator[name] = sum(values.values()) / len(values)
        v.mde_images, v.mde_seeds = row_mde(
            seed_images(result, evaluator, v.metric), list(per_seed.get(v.metric, {}).values()), alpha
        )
    return verdicts


def claim_images(results: dict[str, dict[str, Any]], exp: ExpectedFile) -> ImageValues:
    """cell -> metric -> seed -> image -> value for every claim's cells, under the file's evaluator
    (one evaluator for all cells of a claim: a per-row override never mixes protocols in a pair)."""
    out: ImageValues = {}
    for claim in exp.claims:
        for name in claim.names:
            res = results.get(name)
            if res is None or res.get("status") != "ok":
                continue
            values = seed_images(res, exp.evaluator, claim.metric)
            if values:
                out.setdefault(name, {})[claim.metric] = values
    return out


def claim_seeds(results: dict[str, dict[str, Any]], exp: ExpectedFile) -> dict[str, dict[str, dict[str, float]]]:
    """cell -> metric -> {seed: value} of every finished cell under the file's evaluator."""
    return {
        name: seed_metrics(res, exp.evaluator)
        for name, res in results.items()
        if res.get("status") == "ok"
    }
