"""Synthetic panorama generation speed: 64 panoramas at 256x512 written to disk (target < 30 s on 2 cores).

Timed end to end (scene sampling, ray casting with shadows, textures, PNG/JPEG encoding, masks,
manifest) with ``repro.data.synth.write_dataset`` (folder layout: RGB, depth, mask per panorama). The baseline, measured
in the same run, is a plain per-pixel, per-object Python ray caster computing depth only (no
shading) on a sample of rays and extrapolated to a full panorama: the speed-up of vectorising.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, report

from repro.data.synth import panorama_generator, render, sample_scene, write_dataset
from repro.data.synth.layouts import default_workers
from repro.geometry import equirect_directions


def _naive_depth(scene, dirs: list[tuple[float, float, float]]) -> list[float]:
    """One ray at a time, one object at a time (the loop a direct port would write)."""
    lo, hi = scene.room[:3].tolist(), scene.room[3:].tolist()
    boxes, cyls = scene.boxes.tolist(), scene.cylinders.tolist()
    out = []
    for d in dirs:
        best = min((hi[a] if d[a] > 0 else lo[a]) / d[a] for a in range(3) if d[a] != 0)
        for b in boxes:
            t0, t1 = -math.inf, math.inf
            for a in range(3):
                if d[a] == 0:
                    continue
                ta, tb = b[a] / d[a], b[a + 3] / d[a]
                t0, t1 = max(t0, min(ta, tb)), min(t1, max(ta, tb))
            if t0 <= t1 and 0 < t0 < best:
                best = t0
        for cx, cz, r, y0, y1 in cyls:
            a = d[0] ** 2 + d[2] ** 2
            b = -(cx * d[0] + cz * d[2])
            c = cx * cx + cz * cz - r * r
            disc = b * b - a * c
            if a > 0 and disc >= 0:
                t = (-b - math.sqrt(disc)) / a
                if 0 < t < best and y0 <= t * d[1] <= y1:
                    best = t
        out.append(best)
    return out


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    count, height = (8, 128) if args.quick else (64, 256)
    width = 2 * height

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()  # the folder layout has one split: exactly `count` panoramas
        write_dataset("folder", Path(tmp) / "f", count=count, height=height, seed=0, style="a", progress=False)
        total = time.perf_counter() - t0
    written = count
    per_pano = total / written

    scenes = [sample_scene("a", panorama_generator(0, i)) for i in range(4)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in write_dataset's worker processes
    t0 = time.perf_counter()
    for s in scenes:
        render(s, height, width)
    render_only = (time.perf_counter() - t0) / len(scenes)
    torch.set_num_threads(threads)

    rays = equirect_directions(height, width).reshape(-1, 3)
    sample = rays[torch.randperm(len(rays), generator=torch.Generator().manual_seed(0))[:2000]].tolist()
    t0 = time.perf_counter()
    _naive_depth(scenes[0], sample)
    naive = (time.perf_counter() - t0) / len(sample) * len(rays)

    rows = [
        {"what": f"write_dataset, {written} panoramas", "s total": total, "s/panorama": per_pano, "vs ours": 1.0},
        {
            "what": "render only, 1 process (rgb+depth+shadows)",
            "s total": render_only * written,
            "s/panorama": render_only,
            "vs ours": render_only / per_pano,
        },
        {
            "what": "naive per-pixel Python (depth only)",
            "s total": naive * written,
            "s/panorama": naive,
            "vs ours": naive / per_pano,
        },
    ]
    figures = {
        "seconds_total": total,
        "panoramas": written,
        "seconds_per_panorama": per_pano,
        "speedup_vs_naive_depth_only": naive / per_pano,
    }
    report(
        f"synthetic panoramas {height}x{width}, {default_workers()} worker processes", rows, args.json, figures=figures
    )


if __name__ == "__main__":
    main()
