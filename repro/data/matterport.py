"""Matterport3D, the stitched 360° version of UniFuse / Depth Anywhere.

Layout: ``<scene>/pano_skybox_color/<id>.jpg`` and ``<scene>/pano_depth/<id>.png`` (uint16, 4000
units per metre, 0 = no return). Splits: UniFuse's lists, train 7829 / val 957 / test 2014.
"""

from __future__ import annotations

from repro.data.base import ListedDataset


class Matterport3D(ListedDataset):
    name = "matterport3d"
    depth_scale = 4000.0
