"""Stanford2D3D: the official per-area ``pano/`` folders -> UniFuse's split layout.

The official release (2D-3D-Semantics) has ``area_N/pano/rgb/<name>_rgb.png`` and
``area_N/pano/depth/<name>_depth.png`` (area 5 as ``area_5a`` and ``area_5b``), as extracted folders
or as the per-area ``.tar`` archives. UniFuse's lists, which we ship, read ``area_N/rgb_/`` and
``area_N/depth/``: the same files under other folder names, so they are hard-linked (copied across
file systems) or extracted straight to their place, nothing else (semantic, normal, pose, XYZ) is.
"""

from __future__ import annotations

import re
from pathlib import Path

from repro.data.prepare.common import (
    PrepareError,
    PrepareSummary,
    extract_selected,
    link_or_copy,
    require_dir,
    run_items,
)

NAME = "stanford2d3d"
_MEMBER = re.compile(r"(?:^|/)(area_[0-9a-z]+)/pano/(rgb|depth)/([^/]+_(?:rgb|depth)\.png)$")
_TARGET = {"rgb": "rgb_", "depth": "depth"}
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")


def target(member: str) -> str | None:
    """Official relative path -> ours (``area_1/pano/rgb/x_rgb.png`` -> ``area_1/rgb_/x_rgb.png``); None if unused."""
    m = _MEMBER.search(member.replace("\\", "/"))
    if m is None:
        return None
    area, kind, name = m.groups()
    return f"{area}/{_TARGET[kind]}/{name}"


def prepare(source: Path, out_root: Path, *, progress: bool = True) -> PrepareSummary:
    """Convert ``source`` (extracted ``area_*`` folders and/or area archives) into ``out_root/stanford2d3d``."""
    require_dir(source, "the Stanford2D3D download", "the folder holding area_1 ... area_6 or their archives")
    out = out_root / NAME
    summary = PrepareSummary(NAME, out)
    files = sorted(p for p in source.glob("area_*/pano/*/*.png") if p.parent.name in _TARGET)
    archives = sorted(p for p in source.glob("area_*") if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES))
    if not files and not archives:
        raise PrepareError(
            f"no area_*/pano/rgb or area_*/pano/depth folders and no area_* archives under {source}; "
            "download the 2D-3D-S area archives (see docs/data.md)"
        )

    def convert(path: Path) -> bool:
        rel = target(path.relative_to(source).as_posix())
        return rel is not None and link_or_copy(path, out / rel)

    run_items(files, convert, summary, desc="stanford2d3d", total=len(files), progress=progress)
    for archive in archives:
        extract_selected(archive, target, out, summary, progress=progress)
    areas = sorted({p.name for p in out.glob("area_*")}) if out.is_dir() else []
    summary.notes.append(f"areas: {', '.join(areas) or 'none'}")
    return summary
