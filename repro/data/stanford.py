"""Stanford2D3D panoramas in UniFuse's layout.

Layout: ``area_N/rgb_/<camera>_rgb.png`` and ``area_N/depth/<camera>_depth.png`` (uint16, 512 units
per metre, 65535 = no return). Splits: UniFuse's lists, train 1000 / val 40 / test 373, the test
split being area 5 (``area_5a`` + ``area_5b``), the zero-shot target of the paper.
"""

from __future__ import annotations

from repro.data.base import ListedDataset


class Stanford2D3D(ListedDataset):
    name = "stanford2d3d"
    depth_scale = 512.0
    depth_invalid = 65535
