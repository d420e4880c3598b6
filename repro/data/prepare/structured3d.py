"""Structured3D: the official ``Structured3D_panorama_XX.zip`` archives -> the panoramas the reader uses.

Each zip holds ``Structured3D/scene_XXXXX/2D_rendering/<room>/panorama/{full,simple,empty}/...``
(RGB under three lightings, depth, semantics, normals, albedo) plus layouts. The reader needs only
``full/rgb_<lighting>light.png`` and ``full/depth.png``: those members are extracted (without the
leading ``Structured3D/``), nothing else, which cuts the disk need to about a quarter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from repro.data.prepare.common import (
    PrepareError,
    PrepareSummary,
    extract_selected,
    require_dir,
)

NAME = "structured3d"
LIGHTINGS = ("raw", "cold", "warm")
_MEMBER = re.compile(r"(?:^|/)(scene_\d{5}/2D_rendering/[^/]+/panorama/full/([^/]+\.png))$")


def selector(lightings: Sequence[str] = ("raw",)) -> Callable[[str], str | None]:
    """Member path -> output path for the files the reader needs, None for everything else."""
    unknown = sorted(set(lightings) - set(LIGHTINGS))
    if unknown:
        raise PrepareError(f"unknown lighting(s) {unknown}; choose from {', '.join(LIGHTINGS)}")
    wanted = {"depth.png", *(f"rgb_{name}light.png" for name in lightings)}

    def select(member: str) -> str | None:
        m = _MEMBER.search(member.replace("\\", "/"))
        return m.group(1) if m is not None and m.group(2) in wanted else None

    return select


def prepare(
    source: Path, out_root: Path, *, lightings: Sequence[str] = ("raw",), progress: bool = True
) -> PrepareSummary:
    """Extract the needed members of every ``*.zip`` under ``source`` into ``out_root/structured3d``."""
    require_dir(source, "the Structured3D download", "the folder holding Structured3D_panorama_*.zip")
    zips = sorted(source.glob("Structured3D_panorama_*.zip")) or sorted(source.glob("*.zip"))
    if not zips:
        raise PrepareError(
            f"no Structured3D_panorama_*.zip under {source}; download the panorama archives (see docs/data.md)"
        )
    out = out_root / NAME
    summary = PrepareSummary(NAME, out)
    select = selector(lightings)
    for archive in zips:
        extract_selected(archive, select, out, summary, progress=progress)
    scenes = len(list(out.glob("scene_*"))) if out.is_dir() else 0
    summary.notes.append(f"{scenes} scene(s) from {len(zips)} archive(s)")
    return summary
