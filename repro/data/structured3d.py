"""Structured3D panoramas in the official layout.

``scene_XXXXX/2D_rendering/<room>/panorama/full/rgb_<lighting>light.png`` and ``depth.png``
(uint16 millimetres, 0 = no return). Splits are the published scene ranges (train 0–2999, val
3000–3249, test 3250–3499); ``all`` is their union. A root holding a single ``Structured3D/`` folder
(as the official archives extract) is accepted too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from repro.data.base import DataError, Entry, PanoramaDataset, read_split_file

SCENE_RANGES: dict[str, range] = {"train": range(3000), "val": range(3000, 3250), "test": range(3250, 3500)}
_SCENE = re.compile(r"scene_(\d{5})$")


def scene_range(split: str) -> range:
    return range(3500) if split == "all" else SCENE_RANGES[split]


class Structured3D(PanoramaDataset):
    name = "structured3d"
    depth_scale = 1000.0

    def __init__(self, *args, lighting: Literal["raw", "cold", "warm"] = "raw", **kwargs) -> None:
        self.lighting = lighting
        super().__init__(*args, **kwargs)

    def list_entries(self, split: str, split_file: Path | None) -> list[Entry]:
        if split_file is not None:
            self.sources = [split_file]
            return read_split_file(split_file, self.root)
        base = self.root
        if not any(_SCENE.match(p.name) for p in base.iterdir()) and (base / "Structured3D").is_dir():
            base = base / "Structured3D"
        wanted = scene_range(split)
        entries = []
        for scene in sorted(p for p in base.iterdir() if p.is_dir() and _SCENE.match(p.name)):
            if int(_SCENE.match(scene.name).group(1)) not in wanted:  # type: ignore[union-attr]
                continue
            rendering = scene / "2D_rendering"
            if not rendering.is_dir():
                raise DataError(f"Structured3D scene {scene} has no 2D_rendering folder")
            for room in sorted(p for p in rendering.iterdir() if p.is_dir()):
                full = (room / "panorama" / "full").relative_to(self.root).as_posix()
                entries.append(Entry(f"{full}/rgb_{self.lighting}light.png", f"{full}/depth.png", ""))
        if not entries:
            raise DataError(
                f"no Structured3D rooms for split '{split}' (scenes {wanted.start}-{wanted.stop - 1}) under {base}"
            )
        return entries
