"""The authors' released student checkpoints: load one for the network it must hold, or say why not.

Depth Anywhere's release (albert100121/Depth-Anywhere, ``checkpoints/README.md``) is a folder per
network (``UniFuse/``, ``BiFuseV2/``, ``HoHoNet/``, ``EGFormer/``), one ``.pth`` per training set.
Its ``inference.py`` loads them strictly into the network named by the folder; its ``train.py``
saves ``{'model', 'optim', 'settings'}``. :func:`load_released` reads either layout through
:func:`repro.models.checkpoints.load_checkpoint` and decides:

* every parameter of the network filled, nothing mismatched: loaded. Keys the network does not
  have are *named* in the report (``unexpected``), never silently dropped;
* most keys missing or mismatched: the file holds another network — :class:`WrongStudentError`
  names the file, the network the row expects and the one the keys fit best;
* a few keys missing or mismatched: :class:`CheckpointError` listing them (a partly random network
  would give numbers that mean nothing).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from torch import nn

from repro.models.checkpoints import (
    CheckpointError,
    LoadReport,
    build_student_from_meta,
    load_checkpoint,
    read_checkpoint,
    released_meta,
)

#: below this fraction of the expected network's keys present in the file, it is another network
SAME_NETWORK_FRACTION = 0.5


class WrongStudentError(CheckpointError):
    """A released file that holds a different network from the one its row expects."""


@cache
def _student_keys(name: str) -> frozenset[str]:
    """``state_dict`` keys of a student (built on the meta device: no memory, no weights)."""
    import torch

    from repro.models.registry import build_student, student_info

    h, w = student_info(name).default_size
    with torch.device("meta"):
        return frozenset(build_student(name, height=h, width=w).state_dict())


def _strip(keys: set[str]) -> set[str]:
    for prefix in ("module.", "model."):
        if keys and all(k.startswith(prefix) for k in keys):
            return {k[len(prefix) :] for k in keys}
    return keys


def best_match(keys: set[str]) -> tuple[str, float]:
    """The registered student whose keys the file's keys cover best, and that fraction."""
    from repro.models.registry import STUDENTS

    keys = _strip(set(keys))
    scores = {name: len(keys & _student_keys(name)) / len(_student_keys(name)) for name in STUDENTS}
    name = max(scores, key=lambda n: scores[n])
    return name, scores[name]


def load_released(
    path: str | os.PathLike[str],
    name: str,
    options: dict[str, Any] | None = None,
    input_size: tuple[int, int] = (512, 1024),
    *,
    expected_by: str = "",
) -> tuple[nn.Module, dict[str, Any], LoadReport]:
    """(network in eval mode, its description, the key-by-key load report) of a released file.

    ``expected_by`` names who expects ``name`` (e.g. the suite row) for the error messages.
    """
    path = Path(path)
    meta = released_meta(name, options or {}, input_size)
    model = build_student_from_meta(meta)
    who = f" ({expected_by})" if expected_by else ""
    state, _, _ = read_checkpoint(path)
    own = set(model.state_dict())
    present = len(_strip(set(state)) & own) / max(len(own), 1)
    if present < SAME_NETWORK_FRACTION:
        guess, score = best_match(set(state))
        looks = f"its keys fit '{guess}' ({score:.0%} of them present)" if score >= SAME_NETWORK_FRACTION else (
            "its keys fit none of the registered students"
        )
        raise WrongStudentError(
            f"{path} does not hold a '{name}' network{who}: only {present:.0%} of '{name}' keys are in it; {looks}"
        )
    report = load_checkpoint(model, path, strict=False)
    if report.missing or report.mismatched:
        size = "" if not report.mismatched else (
            f"\n  hint: the network was built for {input_size[0]}×{input_size[1]}; a file made for another input "
            "size has other shapes where a layer depends on it"
        )
        raise CheckpointError(
            f"{path} is an incomplete '{name}' checkpoint{who} (nothing loaded):\n{report.summary()}{size}"
        )
    return model.eval(), meta, report


def report_dict(report: LoadReport) -> dict[str, Any]:
    """A load report for JSON: every key list in full (unexpected keys are the point of it)."""
    return {
        "path": report.path,
        "layout": report.layout,
        "prefix": report.prefix,
        "loaded": len(report.loaded),
        "missing": report.missing,
        "unexpected": report.unexpected,
        "mismatched": [[k, list(a), list(b)] for k, a, b in report.mismatched],
        "derived": len(report.derived),
        "defaulted": report.defaulted,
        "extras": {k: v for k, v in report.extras.items() if k != "settings"} | (
            {"settings": "<argparse.Namespace>"} if "settings" in report.extras else {}
        ),
    }
