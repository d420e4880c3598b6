"""`repro predict PANORAMA... --checkpoint CKPT`: 16-bit depth PNG, colour preview and PLY per panorama."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("panoramas", nargs="+", type=Path, help="equirectangular images (2:1)")
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="a `repro train` checkpoint, or a released one with --student"
    )
    parser.add_argument(
        "--student", help="network of a released checkpoint (unifuse, bifusepp, hohonet, egformer, equi)"
    )
    parser.add_argument("--out", type=Path, default=Path("out/predict"), help="output folder (default: out/predict)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from repro.evaluation.predict import predict

    records = predict(
        args.panoramas, checkpoint=args.checkpoint, out_dir=args.out, student=args.student, device=args.device,
        progress=not args.no_progress,
    )
    for record in records:
        print(f"{record['image']}: {record['depth_png']}, {record['preview_png']}, {record['ply']}")
    return 0
