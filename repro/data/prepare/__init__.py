"""``repro data prepare``: official downloads -> the layouts the readers expect, then ``data verify``.

One module per dataset (:mod:`.stanford`, :mod:`.matterport`, :mod:`.structured3d`,
:mod:`.spatialaudiogen`); each ``prepare(source, out_root, ...)`` writes ``out_root/<dataset>``,
resumes where an interrupted run stopped and returns a :class:`PrepareSummary`.
:func:`prepare_dataset` runs one and then verifies the result with :func:`repro.data.verify.verify_dataset`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from repro.data.prepare.common import PrepareError, PrepareSummary

PREPARERS: dict[str, str] = {
    "matterport3d": "repro.data.prepare.matterport",
    "stanford2d3d": "repro.data.prepare.stanford",
    "structured3d": "repro.data.prepare.structured3d",
    "spatialaudiogen": "repro.data.prepare.spatialaudiogen",
}


def prepare_dataset(name: str, source: str | Path, out_root: str | Path, **options: Any) -> PrepareSummary:
    """Convert ``source`` (the official download) into ``out_root/<name>``; ``options`` go to the converter."""
    if name not in PREPARERS:
        raise PrepareError(f"no converter for '{name}' (choose from {', '.join(PREPARERS)})")
    module = importlib.import_module(PREPARERS[name])
    return module.prepare(Path(source), Path(out_root), **options)


__all__ = ["PREPARERS", "PrepareError", "PrepareSummary", "prepare_dataset"]
