"""`repro eval`: score a checkpoint on a test split under a named protocol (per-image CSV + JSON)."""

from __future__ import annotations

import argparse
import json
import typing
from pathlib import Path

from repro.cli.args import RenamedOption


def configure(parser: argparse.ArgumentParser) -> None:
    from repro.run_settings import DatasetName, Protocol

    parser.add_argument("--checkpoint", type=Path, help="a `repro train` checkpoint, or a released one with --student")
    parser.add_argument("--dataset", required=True, choices=typing.get_args(DatasetName), help="dataset layout")
    parser.add_argument(
        "--data-root",
        "--root",
        dest="root",
        type=Path,
        required=True,
        metavar="DIR",
        action=RenamedOption,
        old=["--root"],
        help="the dataset's folder (--root: deprecated spelling)",
    )
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument(
        "--protocol",
        default="median",
        choices=typing.get_args(Protocol),
        help="median (paper), lsq_disparity_median (released code), none (metric)",
    )
    parser.add_argument(
        "--crop-rows",
        type=int,
        default=0,
        help="rows dropped top and bottom, counted at H=512 (released Stanford2D3D: 68)",
    )
    parser.add_argument(
        "--clamp", type=float, nargs=2, metavar=("LO", "HI"), help="clamp prediction and GT after alignment"
    )
    parser.add_argument("--rmse-log", default="ln", choices=["ln", "log10", "released"], help="RMSElog: ln, log10 (UniFuse), released (log10(x+1))")
    parser.add_argument("--min-depth", type=float, default=0.0, help="ground truth at or below this (m) is invalid")
    parser.add_argument("--max-depth", type=float, default=10.0, help="ground truth above this (m) is invalid")
    parser.add_argument(
        "--model",
        default="student",
        choices=["student", "teacher_equirect", "predictions"],
        help="what to score: the checkpoint, the teacher on equirect input, or a folder of --predictions",
    )
    parser.add_argument("--teacher", help="teacher id for --model teacher_equirect (default: the paper's)")
    parser.add_argument("--predictions", type=Path, help="folder of depth maps for --model predictions")
    parser.add_argument(
        "--student", help="network of a released checkpoint (unifuse, bifusepp, hohonet, egformer, equi)"
    )
    parser.add_argument(
        "--input-size", type=int, nargs=2, metavar=("H", "W"), help="evaluation size (default: the model's)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/eval"), help="output folder (default: runs/eval)")
    parser.add_argument("--batch-size", type=int, default=1, help="panoramas per forward pass")
    parser.add_argument("--num-workers", type=int, default=2, help="data-loader worker processes")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (results are still written)")


def run(args: argparse.Namespace) -> int:
    from repro.config import ConfigError, from_data
    from repro.data import DataError
    from repro.errors import UserError
    from repro.evaluation.evaluate import evaluate
    from repro.run_settings import EvalSettings

    raw = {
        "dataset": {"dataset": args.dataset, "split": args.split, "root": str(args.root.resolve())},
        "protocol": args.protocol,
        "crop_rows": args.crop_rows,
        "min_depth": args.min_depth,
        "max_depth": args.max_depth,
        "rmse_log": args.rmse_log,
        "model": args.model,
    }
    if args.clamp:
        raw["clamp"] = list(args.clamp)
    if args.teacher:
        raw["teacher"] = {"id": args.teacher}
    if args.predictions:
        raw["predictions"] = str(args.predictions.resolve())
    if args.input_size:
        raw["input_size"] = list(args.input_size)
    try:
        settings = from_data(EvalSettings, raw)
    except ConfigError as exc:
        raise UserError(f"bad option: {exc}") from None
    if args.model == "student" and args.checkpoint is None:
        raise UserError("--checkpoint is required to evaluate a student")
    try:
        metrics = evaluate(
            settings,
            checkpoint=args.checkpoint,
            out_dir=args.out,
            data_root=Path("/"),
            device=args.device,
            student=args.student,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            progress=not args.no_progress,
        )
    except DataError as exc:
        raise UserError(str(exc)) from None
    print(json.dumps(metrics, indent=2))
    print(f"per-image metrics: {args.out / 'per_image.csv'}; aggregate: {args.out / 'metrics.json'}")
    return 0
