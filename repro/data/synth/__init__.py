"""A procedural panorama world: random rooms ray-cast to equirect RGB, exact depth and true masks.

* :func:`render_panorama` — one panorama in memory (rgb, distance, sky, watermark, scene).
* :func:`write_dataset` — a whole dataset in a real layout (splits, lists, masks).
* :func:`ensure_synthetic` — the suite's data stage for synthetic cells.
"""

from repro.data.synth.layouts import (
    LAYOUTS,
    SynthOptions,
    ensure_synthetic,
    read_marker,
    write_dataset,
)
from repro.data.synth.render import render
from repro.data.synth.scene import STYLES, Scene, sample_scene
from repro.data.synth.world import (
    Panorama,
    add_watermark,
    panorama_generator,
    render_panorama,
)

__all__ = [
    "LAYOUTS",
    "STYLES",
    "Panorama",
    "Scene",
    "SynthOptions",
    "add_watermark",
    "ensure_synthetic",
    "panorama_generator",
    "read_marker",
    "render",
    "render_panorama",
    "sample_scene",
    "write_dataset",
]
