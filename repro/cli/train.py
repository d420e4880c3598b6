"""`repro train CONFIG`: one training run from a YAML file (``repro.run_settings.TrainConfig``).

Multi-GPU: ``torchrun --nproc_per_node N -m repro train CONFIG`` (the global batch stays the
configured one; each process reads 1/N of it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from repro.cli.args import RenamedOption


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="training YAML (train:, optional eval:, output_dir:, data_root:)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoints/last.pt if present")
    parser.add_argument(
        "--force", action="store_true", help="start over in an output folder that holds an interrupted run"
    )
    parser.add_argument(
        "--out",
        "--output-dir",
        dest="output_dir",
        type=Path,
        metavar="DIR",
        action=RenamedOption,
        old=["--output-dir"],
        help="output folder; overrides output_dir of the config (--output-dir: deprecated spelling)",
    )
    parser.add_argument("--data-root", type=Path, help="override data_root of the config")
    parser.add_argument("--init", type=Path, help="start from these weights (overrides train.init_from)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    parser.add_argument(
        "--keep-optimizer",
        action="store_true",
        help="keep checkpoints/last.pt (optimizer state) after a finished run; default: only final.pt stays",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs are still written)")


def run(args: argparse.Namespace) -> int:
    from repro.data import DataError
    from repro.errors import UserError
    from repro.run_settings import load_train_config
    from repro.train import train
    from repro.train.distributed import env_info

    config = load_train_config(args.config)
    out_dir = args.output_dir or Path(config.output_dir)
    if args.output_dir is None:  # a folder given on the command line was checked before run()
        from repro.preflight import check_output_dir

        check_output_dir(out_dir, f"{args.config}: output_dir")
    data_root = args.data_root or Path(config.data_root)
    init = args.init or (Path(config.train.init_from) if config.train.init_from else None)
    if config.train.init_cell:
        raise UserError(f"{args.config}: init_from 'cell:...' only works inside a suite; give a checkpoint path")
    from repro.data.requirements import require_data, train_needs

    require_data(train_needs(config.train, config.eval), data_root)  # every missing split in one message
    with _own(out_dir, f"repro train {args.config}"):  # after the checks that write nothing
        try:
            checkpoint = train(
                config.train,
                out_dir=out_dir,
                data_root=data_root,
                init_checkpoint=init,
                resume=args.resume,
                force=args.force,
                keep_optimizer=args.keep_optimizer,
                device=args.device,
                progress=not args.no_progress,
            )
        except DataError as exc:
            raise UserError(str(exc)) from None
    if not env_info().is_main:
        return 0
    print(f"checkpoint: {checkpoint}")
    if config.eval is not None:
        from repro.evaluation.evaluate import evaluate

        settings = config.eval
        if settings.input_size is None:
            import dataclasses

            settings = dataclasses.replace(settings, input_size=config.train.input_size)
        metrics = evaluate(
            settings,
            checkpoint=checkpoint,
            out_dir=out_dir / "eval",
            data_root=data_root,
            device=args.device,
            progress=not args.no_progress,
        )
        print(json.dumps(metrics, indent=2))
    return 0


@contextlib.contextmanager
def _own(out_dir: Path, command: str) -> Iterator[None]:
    """The output folder's run lock (rank 0 of a torchrun launch holds it for every rank)."""
    from repro.suite.lock import run_folder
    from repro.train.distributed import env_info

    if not env_info().is_main:
        yield
        return
    with run_folder(out_dir, command) as notes:
        for note in notes:
            print(f"repro train: note: {note}", file=sys.stderr)
        yield
