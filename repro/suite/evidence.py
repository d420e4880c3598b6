"""What an evaluation left on disk, in the form verdicts need: per evaluator, per seed, per image.

The evaluator (:func:`repro.evaluation.evaluate.evaluate`) writes ``metrics.json`` (aggregates of every
evaluator, see :mod:`repro.evaluation.evaluators`) and ``per_image.<evaluator>.csv``. The runner copies them
into each seed's record of ``result.json`` so a report is rebuilt from the results alone:

* ``record["evaluators"][name]`` — the aggregate metrics of that evaluator;
* ``record["per_image"][name]`` — ``{"images": [...], metric: [value per image]}`` (images with
  no valid pixel are dropped, as the aggregate drops them);
* ``record["evaluations"][name]`` — the settings each evaluator ran with (protocol, crop, clamp,
  RMSElog form), so a verdict can refuse to compare an RMSElog of another form.

Paired statistics (:mod:`repro.suite.stats`) pair images by name across cells and seeds.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

#: Per-image columns kept in result.json (the rest stay in the CSVs).
KEPT_METRICS = ("abs_rel", "delta1", "delta2", "delta3", "mae", "rmse", "rmse_log", "sq_rel", "log10", "seam_ratio")

PerImage = dict[str, list[Any]]  # "images": [names], metric: [values]


def _read_csv(path: Path) -> PerImage:
    out: PerImage = {"images": []}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if not int(float(row.get("valid_pixels") or 0)):
                continue
            out["images"].append(row["image"])
            for key in KEPT_METRICS:
                if key in row:
                    out.setdefault(key, []).append(float(row[key]))
    return out


def read_evaluation(eval_dir: str | Path) -> dict[str, Any]:
    """``{"evaluators", "evaluations", "per_image", "cell_evaluator"}`` of one evaluation folder; ``{}``
    when it holds no multi-evaluator record (an executor that writes none, or an older evaluation)."""
    eval_dir = Path(eval_dir)
    try:
        report = json.loads((eval_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    evaluators = report.get("evaluators")
    if not isinstance(evaluators, dict):
        return {}
    out: dict[str, Any] = {
        "cell_evaluator": report.get("cell_evaluator"),
        "evaluators": {n: e.get("metrics", {}) for n, e in evaluators.items()},
        "evaluations": {n: e.get("evaluation", {}) for n, e in evaluators.items()},
        "per_image": {},
    }
    for name in evaluators:
        path = eval_dir / f"per_image.{name}.csv"
        if path.is_file():
            out["per_image"][name] = _read_csv(path)
    return out


def evaluator_of(record: dict[str, Any], evaluator: str) -> str | None:
    """The evaluator name under which ``record`` stores ``evaluator``'s numbers (``cell`` may be
    recorded under the named evaluator it coincides with); None when the record lacks it."""
    recorded = record.get("evaluators") or {}
    if evaluator in recorded:
        return evaluator
    if evaluator == "cell" and record.get("cell_evaluator") in recorded:
        return str(record["cell_evaluator"])
    return None


def seed_metrics(result: dict[str, Any], evaluator: str) -> dict[str, dict[str, float]]:
    """metric -> {seed: value} of a finished cell under ``evaluator``.

    ``cell`` falls back to each seed's plain ``metrics`` (what every executor returns); a named
    evaluator that a seed did not record is absent, so its verdict reads "missing".
    """
    out: dict[str, dict[str, float]] = {}
    for i, rec in enumerate(result.get("seeds") or []):
        name = evaluator_of(rec, evaluator)
        if name is not None:
            values = rec["evaluators"][name]
        elif evaluator == "cell":
            values = rec.get("metrics") or {}
        else:
            continue
        for m, v in values.items():
            if m in ("images", "images_skipped") or v is None:
                continue
            out.setdefault(m, {})[str(rec.get("seed", i))] = float(v)
    return out


def seed_images(result: dict[str, Any], evaluator: str, metric: str) -> dict[str, dict[str, float]]:
    """seed -> {image: value} of ``metric`` under ``evaluator`` (empty when not recorded)."""
    out: dict[str, dict[str, float]] = {}
    for i, rec in enumerate(result.get("seeds") or []):
        name = evaluator_of(rec, evaluator)
        table = (rec.get("per_image") or {}).get(name) if name else None
        if not table or metric not in table:
            continue
        values = {img: float(v) for img, v in zip(table["images"], table[metric], strict=True) if math.isfinite(v)}
        if values:
            out[str(rec.get("seed", i))] = values
    return out


def recorded_form(result: dict[str, Any], evaluator: str, metric: str = "rmse_log") -> str | None:
    """The form (``ln | log10 | released``) the cell's ``metric`` was computed in, if recorded."""
    for rec in result.get("seeds") or []:
        name = evaluator_of(rec, evaluator)
        if name is not None:
            form = (rec.get("evaluations") or {}).get(name, {}).get(metric)
            if form:
                return str(form)
    return None
