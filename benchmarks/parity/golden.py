"""Record the released code's own outputs on one small input, for tests that run without it.

``RELEASED_SRC=... python -m benchmarks.parity.golden`` runs the released ``train.py`` rotation
draw, ``EquirecRotate`` (bilinear and nearest), ``Equirec2Cube`` (bilinear and nearest, the sky
mask path) and ``process_output``'s planar depth on a 32×64 panorama, and writes what they return
to ``tests/fixtures/released_golden.pt`` (tensors only; loaded with ``weights_only=True``).
tests/test_geometry_released_golden.py compares ``repro.geometry.released`` with them, so the
released conventions stay pinned where the released code is not at hand (CI, ``make mutation``).
Only outputs are stored, no code of theirs.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

from benchmarks.parity.checks import panoramas
from benchmarks.parity.released_env import ReleasedSourceMissing, released_code

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "released_golden.pt"
HEIGHT, BATCH, SEED = 32, 2, 3


def record(path: Path = OUT) -> dict[str, torch.Tensor]:
    with released_code():
        import train as released_train

        data = panoramas(BATCH, HEIGHT, SEED)
        rgb, mask, depth = data["rgb"], data["mask"], data["depth"]
        prob = released_train.ProcessDABatch(HEIGHT, 2 * HEIGHT, CUDA=False)
        torch.manual_seed(SEED)
        rotated, rot_vec = prob.randRotate(rgb)  # torch.rand(3) from the global generator
        disp = torch.where(depth > 0, 1.0 / depth.clamp_min(1e-6), 0.0)

        def faces(x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:  # released order B D F L R U
            out = prob.BiFuse_E2C(x, mode)
            return out.reshape(x.shape[0], 6, *out.shape[1:])

        # process_output: the student's equirect disparity (after the labeled batch) -> cube disparity
        inputs = {"gt_depth": torch.zeros(BATCH, 1, HEIGHT, 2 * HEIGHT),
                  "pseudo_depth": torch.zeros(6 * BATCH, 1, HEIGHT // 2, HEIGHT // 2), "pseudo_mask": None}
        _, outputs = prob.process_output(inputs, {"pred_depth": torch.cat((disp, disp))})
        golden = {
            "rgb": rgb, "mask": mask, "disparity": disp, "rot_vec": rot_vec,
            "rotated_bilinear": rotated,
            "rotated_nearest": prob.rotate(disp, rot_vec, mode="nearest"),
            "faces_bilinear": faces(rotated),
            "faces_nearest": faces(prob.rotate(disp, rot_vec, mode="nearest"), "nearest"),
            "sky_faces": faces(prob.rotate(mask.float(), rot_vec)).floor() == 1,
            "cube_disparity": outputs["pred_depth_cube"].reshape(BATCH, 6, 1, HEIGHT // 2, HEIGHT // 2),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone().contiguous() for k, v in golden.items()}, path)
    return golden


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="golden", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the tensors (default: {OUT})")
    args = parser.parse_args(argv)
    if args.out.exists() and args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; give the file to write")
    warnings.filterwarnings("ignore")
    try:
        golden = record(args.out)
    except (ReleasedSourceMissing, OSError) as exc:  # no checkout, or an output path that cannot be written
        print(f"golden: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {', '.join(golden)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
