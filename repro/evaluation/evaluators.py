"""The two named evaluators every evaluated cell is scored under: the paper's and the released code's.

The paper (appendix A.1, eq. 8) states median alignment after converting disparity to depth, with
no clamp and no crop. The authors' released evaluator (``utils/metric.py``
``Affine_Inv_Evaluator``, called from ``train.py:val``) fits scale and shift by least squares in
disparity, inverts, clips to [0, max_depth], median-aligns, clamps prediction and ground truth to
[0.1, max_depth], crops 68 rows top and bottom on Stanford2D3D and reports RMSElog as
``log10(x + 1)``. The two can give different numbers (median alignment cannot remove the shift of
an affine-invariant student), and evaluation is cheap next to training, so both are computed on
every cell rather than asking the user to choose before a run. Which one a verdict uses is the
expected file's ``evaluator:`` (see docs/suites.md for the evidence behind the default).

A cell's own ``eval:`` section is a third evaluation (``cell``) only when it differs from both
(e.g. the science suite's least-squares alignment without the crop). Metric-depth cells
(``protocol: none``) stay unaligned under both evaluators; they differ in clamp, crop and RMSElog.
"""

from __future__ import annotations

import dataclasses

from repro.choices import Evaluator, values
from repro.evaluation.metrics import RELEASED_CLAMP_MIN, RELEASED_ZERO_SHOT_CROP
from repro.run_settings import EvalSettings

#: The evaluation the cell's own ``eval:`` section describes.
CELL, PAPER, RELEASED = values(Evaluator)
NAMED = (PAPER, RELEASED)
EVALUATORS = (CELL, *NAMED)

SOURCES: dict[str, str] = {
    PAPER: "paper appendix A.1, eq. 8: disparity -> depth, median alignment; no clamp, no crop; "
    "RMSElog as the cell's rmse_log setting (the paper does not define it)",
    RELEASED: "released Depth Anywhere utils/metric.py Affine_Inv_Evaluator: least-squares scale+shift in "
    "disparity, clip [0, max], median alignment, clamp [0.1, max]; 68-row crop (at H = 512) on "
    "Stanford2D3D; RMSElog = RMSE of log10(x + 1)",
    CELL: "the cell's own eval: settings",
}


def evaluator_settings(settings: EvalSettings, name: str) -> EvalSettings:
    """``settings`` as evaluator ``name`` would score them (same data, model and depth range)."""
    if name == CELL:
        return settings
    metric = settings.protocol == "none"
    if name == PAPER:
        return dataclasses.replace(
            settings, protocol="none" if metric else "median", crop_rows=0, clamp=None, rmse_log=settings.rmse_log
        )
    if name == RELEASED:
        crop = RELEASED_ZERO_SHOT_CROP if settings.dataset.dataset == "stanford2d3d" else 0
        return dataclasses.replace(
            settings,
            protocol="none" if metric else "lsq_disparity_median",
            crop_rows=crop,
            clamp=(RELEASED_CLAMP_MIN, settings.max_depth),
            rmse_log="released",
        )
    raise ValueError(f"unknown evaluator {name!r}; choose from {', '.join(EVALUATORS)}")


def _signature(s: EvalSettings) -> tuple[object, ...]:
    from repro.evaluation.metrics import resolve_clamp

    return (s.protocol, s.crop_rows, resolve_clamp(s.protocol, s.clamp, s.max_depth), s.rmse_log)


def evaluators_for(settings: EvalSettings) -> dict[str, EvalSettings]:
    """The evaluations of one cell: ``paper`` and ``released``, plus ``cell`` when it is neither."""
    out = {name: evaluator_settings(settings, name) for name in NAMED}
    if all(_signature(settings) != _signature(s) for s in out.values()):
        out = {CELL: settings, **out}
    return out


def same_as(settings: EvalSettings) -> str | None:
    """The named evaluator the cell's own settings coincide with, if any."""
    for name in NAMED:
        if _signature(settings) == _signature(evaluator_settings(settings, name)):
            return name
    return None
