"""Equirect -> cube projection speed: repro.geometry vs py360convert and pyequilib, same run.

B panoramas 3×512×1024 -> 6 faces of 256², random rotation on (CPU). py360convert has no
rotation, so its loop does strictly less work than ours; pyequilib rotates like we do. A bare
``grid_sample`` producing the same number of output pixels is the floor we try to approach.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, report, timeit  # noqa: E402

from repro.geometry import equirect_to_cube, random_rotation  # noqa: E402


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    b, h, face = (2, 256, 128) if args.quick else (8, 512, 256)
    repeat = 3 if args.quick else 5
    w = 2 * h
    equi = torch.rand(b, 3, h, w)
    rot = random_rotation(b, 45.0, generator=torch.Generator().manual_seed(0))
    angles = torch.rand(b, 3, generator=torch.Generator().manual_seed(0)) * 90 - 45

    ours = timeit(lambda: equirect_to_cube(equi, face, rotation=rot), repeat)
    ours_norot = timeit(lambda: equirect_to_cube(equi, face), repeat)

    grid = torch.rand(b, 6 * face, face, 2) * 2 - 1
    bare = timeit(lambda: F.grid_sample(equi, grid, align_corners=True), repeat)

    rows = [
        {"method": "repro.geometry (rotation)", "ms/batch": ours, "vs ours": 1.0},
        {"method": "repro.geometry (no rotation)", "ms/batch": ours_norot, "vs ours": ours_norot / ours},
        {"method": "bare grid_sample (floor)", "ms/batch": bare, "vs ours": bare / ours},
    ]
    figures = {"ours_ms": ours, "bare_grid_sample_ms": bare}

    try:
        import py360convert

        imgs = [x.permute(1, 2, 0).numpy() for x in equi]
        p360 = timeit(lambda: [py360convert.e2c(im, face_w=face, cube_format="list") for im in imgs], repeat)
        rows.append({"method": "py360convert loop (no rotation)", "ms/batch": p360, "vs ours": p360 / ours})
        figures["speedup_vs_py360convert"] = p360 / ours
        figures["bare_vs_py360convert"] = p360 / bare
    except ImportError:
        print("py360convert not installed: pip install py360convert")

    try:
        from equilib import equi2cube

        # pyequilib's rotation dicts (radians); the angle convention differs from ours, cost does not
        rots = [{"roll": float(a[0]) * np.pi / 180, "pitch": float(a[1]) * np.pi / 180, "yaw": float(a[2]) * np.pi / 180} for a in angles]
        eq = timeit(lambda: equi2cube(equi=equi, rots=rots, w_face=face, cube_format="list"), repeat)
        rows.append({"method": "pyequilib equi2cube (torch)", "ms/batch": eq, "vs ours": eq / ours})
        figures["speedup_vs_pyequilib"] = eq / ours
    except ImportError:
        print("pyequilib not installed: pip install pyequilib")

    report(f"equirect->cube, B={b}, 3x{h}x{w} -> 6x{face}^2, CPU threads={torch.get_num_threads()}", rows, args.json, figures=figures)


if __name__ == "__main__":
    main()
