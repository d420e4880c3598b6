"""``repro teacher cache CONFIG``: precompute the pseudo-label cache of a training config (sharded, resumable).

Runs the config's teacher on K seeded rotations of every unlabeled panorama and writes one file per
panorama under ``DATA_ROOT/<pseudo_cache.root>/<settings hash>/`` (:mod:`repro.train.pseudo_cache`).
Entries already there are skipped, so a killed job is simply started again, and ``--shard i/n``
splits the work over a job array (``i`` 0-based, like SLURM's array index).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from repro.cli.args import positive_int


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    cache = sub.add_parser("cache", help="teacher targets for K rotations of every unlabeled panorama of CONFIG")
    cache.add_argument("config", type=Path, help="training YAML (its train: section; pseudo_cache: sets K)")
    cache.add_argument("--data-root", type=Path, help="override data_root of the config")
    cache.add_argument("--shard", help="process only shard i/n of the sorted panorama list (0-based i)")
    cache.add_argument("--rotations", type=positive_int, help="override pseudo_cache.rotations (K)")
    cache.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from repro.cli.args import parse_shard
    from repro.data import DataError
    from repro.devices import pick_device
    from repro.errors import UserError
    from repro.run_settings import load_train_config
    from repro.train.pseudo_cache import build_cache

    config = load_train_config(args.config)
    settings = config.train
    if args.rotations is not None:
        settings = dataclasses.replace(
            settings, pseudo_cache=dataclasses.replace(settings.pseudo_cache, rotations=args.rotations)
        )
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    data_root = args.data_root or Path(config.data_root)
    try:
        summary = build_cache(settings, data_root, shard=shard, device=pick_device(args.device), progress=print)
    except DataError as exc:
        raise UserError(str(exc)) from None
    print(
        f"{summary.written} panoramas cached ({summary.bytes_per_panorama / 2**20:.2f} MiB each, "
        f"{summary.seconds:.1f} s), {summary.skipped} already there -> {summary.folder}"
    )
    return 0
