"""``repro data``: list the supported datasets, write synthetic ones, verify a download."""

from __future__ import annotations

import argparse
from pathlib import Path

# the smoke suite's choice: Matterport3D-like homes vs Stanford2D3D-like offices
DEFAULT_STYLES = {"matterport3d": "a", "structured3d": "a", "spatialaudiogen": "a", "stanford2d3d": "b", "folder": "b"}
SYNTH_DEFAULT = ("matterport3d", "stanford2d3d", "structured3d", "spatialaudiogen")


def configure(parser: argparse.ArgumentParser) -> None:
    from repro.data import DATASETS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="the supported datasets, their layouts, depth encodings and split sizes")

    synth = sub.add_parser("synth", help="write procedural synthetic panoramas in the datasets' real layouts")
    synth.add_argument("--out", type=Path, default=Path("data"), help="data root (datasets go to OUT/<name>)")
    synth.add_argument(
        "--dataset", action="append", choices=sorted(DATASETS), help=f"repeatable; default: {' '.join(SYNTH_DEFAULT)}"
    )
    synth.add_argument("--count", type=int, default=8, help="panoramas per split")
    synth.add_argument("--height", type=int, default=256, help="panorama height (width = 2 x height)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--style", choices=["a", "b"], help="visual style for all datasets (default: a, b for stanford2d3d/folder)"
    )
    synth.add_argument("--sky-fraction", type=float, default=0.25, help="fraction of panoramas open to the sky")
    synth.add_argument("--watermark-fraction", type=float, default=0.25, help="fraction with a watermark")
    synth.add_argument("--force", action="store_true", help="replace synthetic data already there")

    verify = sub.add_parser("verify", help="check a dataset folder: layout, splits, every file, depth encoding")
    verify.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    verify.add_argument("root", type=Path, help="the dataset's root folder")
    verify.add_argument("--split", action="append", help="repeatable; default: train, val, test (train for unlabeled)")
    verify.add_argument("--masks", type=Path, help="also check the sky/watermark mask folder")
    verify.add_argument("--limit", type=int, help="check only the first N images per split")
    verify.add_argument("--workers", type=int, default=4, help="reader threads")


def _list() -> int:
    from tabulate import tabulate

    from repro.data import DATASETS
    from repro.data.base import SPLITS_DIR
    from repro.data.structured3d import SCENE_RANGES

    rows = []
    for name, cls in DATASETS.items():
        if (SPLITS_DIR / f"{name}_train.txt").is_file():
            counts = [
                sum(1 for ln in (SPLITS_DIR / f"{name}_{s}.txt").read_text().splitlines() if ln.strip())
                for s in ("train", "val", "test")
            ]
            splits = " / ".join(map(str, counts)) + " (UniFuse lists)"
        elif name == "structured3d":
            splits = "scenes " + " / ".join(f"{r.start}-{r.stop - 1}" for r in SCENE_RANGES.values())
        else:
            splits = "all images (or <name>_<split>.txt)"
        depth = "none (unlabeled)" if not cls.labeled else f"uint16 / {cls.depth_scale:g}"
        if cls.depth_invalid is not None:
            depth += f", {cls.depth_invalid} = invalid"
        rows.append(
            {
                "dataset": name,
                "depth": depth,
                "splits train / val / test": splits,
                "synthetic style": DEFAULT_STYLES[name],
            }
        )
    print(tabulate(rows, headers="keys"))
    return 0


def _synth(args: argparse.Namespace) -> int:
    import shutil
    import time

    from repro.data.synth import read_marker, write_dataset
    from repro.errors import UserError

    options = {"sky_fraction": args.sky_fraction, "watermark_fraction": args.watermark_fraction}
    for name in args.dataset or SYNTH_DEFAULT:
        root, masks = args.out / name, args.out / "masks" / name
        if root.exists():
            if read_marker(root) is None:
                raise UserError(f"{root} exists and is not synthetic data; choose another --out")
            if not args.force:
                print(f"{root}: synthetic data already there (--force to regenerate)")
                continue
            shutil.rmtree(root)
        start = time.perf_counter()
        try:
            write_dataset(
                name,
                root,
                mask_root=masks,
                count=args.count,
                height=args.height,
                seed=args.seed,
                style=args.style or DEFAULT_STYLES[name],
                options=options,
            )
        except (ValueError, FileExistsError) as exc:
            raise UserError(str(exc)) from None
        print(f"{root}: written in {time.perf_counter() - start:.1f} s (masks in {masks})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from repro.data.verify import verify_dataset

    report = verify_dataset(
        args.dataset, args.root, args.split, mask_root=args.masks, limit=args.limit, workers=args.workers
    )
    print(f"{args.dataset} at {args.root}")
    print(report.table())
    for warning in report.warnings:
        print(f"warning: {warning}")
    for problem in report.problems[:50]:
        print(f"problem: {problem}")
    if len(report.problems) > 50:
        print(f"... and {len(report.problems) - 50} more problems")
    print("OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def run(args: argparse.Namespace) -> int:
    return {"list": lambda a: _list(), "synth": _synth, "verify": _verify}[args.action](args)
