"""``repro data``: list the supported datasets, write synthetic ones, convert and verify a download."""

from __future__ import annotations

import argparse
from pathlib import Path

# the smoke suite's choice: Matterport3D-like homes vs Stanford2D3D-like offices
DEFAULT_STYLES = {"matterport3d": "a", "structured3d": "a", "spatialaudiogen": "a", "stanford2d3d": "b", "folder": "b"}
SYNTH_DEFAULT = ("matterport3d", "stanford2d3d", "structured3d", "spatialaudiogen")


def configure(parser: argparse.ArgumentParser) -> None:
    from repro.data import DATASETS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    lister = sub.add_parser("list", help="the supported datasets, their layouts, depth encodings and split sizes")
    lister.add_argument(
        "--layouts", action="store_true", help="where each dataset comes from, its access terms, size and layout"
    )

    synth = sub.add_parser("synth", help="write procedural synthetic panoramas in the datasets' real layouts")
    synth.add_argument("--out", type=Path, default=Path("data"), help="data root (datasets go to OUT/<name>)")
    synth.add_argument(
        "--dataset", action="append", choices=sorted(DATASETS), help=f"repeatable; default: {' '.join(SYNTH_DEFAULT)}"
    )
    synth.add_argument("--count", type=int, default=8, help="panoramas per split")
    synth.add_argument("--height", type=int, default=256, help="panorama height (width = 2 x height)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the procedural world")
    synth.add_argument(
        "--style", choices=["a", "b"], help="visual style for all datasets (default: a, b for stanford2d3d/folder)"
    )
    synth.add_argument("--sky-fraction", type=float, default=0.25, help="fraction of panoramas open to the sky")
    synth.add_argument("--watermark-fraction", type=float, default=0.25, help="fraction with a watermark")
    synth.add_argument("--force", action="store_true", help="replace synthetic data already there")

    verify = sub.add_parser("verify", help="check a dataset folder: layout, splits, every file, depth encoding")
    verify.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="layout to check the folder against")
    verify.add_argument("--data-root", type=Path, metavar="DIR", help="the dataset's folder (as `repro eval --data-root`)")
    verify.add_argument(
        "root", type=Path, nargs="?", metavar="ROOT", help="deprecated spelling of --data-root (positional)"
    )
    verify.add_argument("--split", action="append", help="repeatable; default: train, val, test (train for unlabeled)")
    verify.add_argument("--masks", type=Path, help="also check the sky/watermark mask folder")
    verify.add_argument("--limit", type=int, help="check only the first N images per split")
    verify.add_argument("--workers", type=int, default=4, help="reader threads")
    _configure_prepare(sub)


def _configure_prepare(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from repro.data.prepare import PREPARERS
    from repro.data.prepare.structured3d import LIGHTINGS

    prepare = sub.add_parser(
        "prepare",
        help="convert an official download into the layout the readers expect (resumable), then verify it",
        description="Sources, access forms and layouts: `repro data list --layouts` and docs/data.md.",
    )
    prepare.add_argument("dataset", choices=sorted(PREPARERS), help="dataset to convert into its training layout")
    prepare.add_argument(
        "--from", dest="source", type=Path, metavar="DOWNLOAD", help="the official download (all but spatialaudiogen)"
    )
    prepare.add_argument("--videos", type=Path, help="spatialaudiogen: the folder of downloaded 360° videos")
    prepare.add_argument("--out", type=Path, default=Path("data"), help="data root; the dataset goes to OUT/<dataset>")
    prepare.add_argument(
        "--height",
        type=int,
        help="matterport3d: panorama height (default 1024, UniFuse's); spatialaudiogen: frame height (default 512, "
        "0 = the video's own)",
    )
    prepare.add_argument(
        "--ray-scale",
        choices=["unifuse", "exact"],
        default="unifuse",
        help="matterport3d: z-depth to ray distance as UniFuse computed it (default) or the exact ray length",
    )
    prepare.add_argument(
        "--lighting", action="append", choices=LIGHTINGS, help="structured3d: repeatable; default raw (the reader's)"
    )
    prepare.add_argument("--fps", type=float, help="spatialaudiogen: frames per second (default 0.846: 344K frames / 113 h)")
    prepare.add_argument(
        "--target-frames", type=int, help="spatialaudiogen: derive the rate from your videos' total duration instead"
    )
    prepare.add_argument(
        "--dedup-threshold", type=float, default=2.0, help="spatialaudiogen: mean grey difference below which a frame "
        "repeats the previous one (0-255, default 2)"
    )
    prepare.add_argument(
        "--stereo", choices=["mono", "top-bottom"], default="mono", help="spatialaudiogen: top-bottom: use the top half"
    )
    prepare.add_argument("--no-verify", action="store_true", help="skip the final `data verify`")
    prepare.add_argument("--workers", type=int, default=4, help="reader threads of the final verify")
    prepare.add_argument("--no-progress", action="store_true", help="no progress bars")


def _list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.layouts:
        from repro.data.sources import layouts_text

        print(layouts_text(), end="")
        return 0

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
    print("\nWhere to get each dataset and how to convert it: repro data list --layouts (and docs/data.md)")
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
    import sys

    from repro.data.verify import verify_dataset
    from repro.errors import UserError

    if args.root is not None and args.data_root is not None:
        raise UserError(f"give the dataset's folder once: --data-root {args.data_root} or {args.root}, not both")
    if args.root is not None:
        print("repro data verify: note: the positional folder is deprecated and will be removed in the next release; "
              "use --data-root", file=sys.stderr)
    root = args.data_root if args.data_root is not None else args.root
    if root is None:
        raise UserError("give the dataset's folder with --data-root DIR")
    report = verify_dataset(args.dataset, root, args.split, mask_root=args.masks, limit=args.limit, workers=args.workers)
    return _print_report(report, args.dataset, root)


def _print_report(report, dataset: str, root: Path) -> int:  # type: ignore[no-untyped-def]
    print(f"{dataset} at {root}")
    print(report.table())
    for warning in report.warnings:
        print(f"warning: {warning}")
    for problem in report.problems[:50]:
        print(f"problem: {problem}")
    if len(report.problems) > 50:
        print(f"... and {len(report.problems) - 50} more problems")
    print("OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def _prepare_options(args: argparse.Namespace) -> tuple[Path, dict]:  # type: ignore[type-arg]
    from repro.errors import UserError

    name = args.dataset
    if name == "spatialaudiogen":
        if args.videos is None:
            raise UserError("spatialaudiogen: give the folder of downloaded videos with --videos DIR")
        from repro.data.prepare.spatialaudiogen import DEFAULT_FPS, FrameSettings

        if args.fps is not None and args.target_frames is not None:
            raise UserError("--fps and --target-frames exclude each other")
        settings = FrameSettings(
            fps=args.fps or DEFAULT_FPS,
            height=512 if args.height is None else args.height,
            dedup_threshold=args.dedup_threshold,
            stereo=args.stereo,
        )
        return args.videos, {"settings": settings, "target_frames": args.target_frames}
    if args.source is None:
        raise UserError(f"{name}: give the official download with --from DOWNLOAD (see `repro data list --layouts`)")
    if name == "matterport3d":
        return args.source, {"height": args.height or 1024, "ray_scale": args.ray_scale}
    if name == "structured3d":
        return args.source, {"lightings": tuple(args.lighting or ("raw",))}
    return args.source, {}


def _prepare(args: argparse.Namespace) -> int:
    from repro.data.prepare import prepare_dataset
    from repro.data.verify import verify_dataset

    source, options = _prepare_options(args)
    summary = prepare_dataset(args.dataset, source, args.out, progress=not args.no_progress, **options)
    print(summary.line())
    for note in summary.notes:
        print(f"  {note}")
    for problem in summary.problems[:50]:
        print(f"problem: {problem}")
    if args.no_verify:
        return 0 if not summary.problems else 1
    report = verify_dataset(args.dataset, summary.out, workers=args.workers, progress=not args.no_progress)
    verified = _print_report(report, args.dataset, summary.out)
    return 1 if summary.problems or verified else 0


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "synth": _synth, "verify": _verify, "prepare": _prepare}[args.action](args)
