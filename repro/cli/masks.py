"""``repro masks generate|audit``: offline Grounded-SAM sky/watermark masks and their audit."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = sub.add_parser("generate", help="mask every image under IMAGES that has no mask yet (resumable)")
    gen.add_argument("images", type=Path, help="image folder (searched recursively)")
    gen.add_argument(
        "--out", type=Path, required=True, help="mask root: PNGs at the images' relative paths + manifest.jsonl"
    )
    gen.add_argument(
        "--backend",
        choices=["transformers", "grounded-sam"],
        default="transformers",
        help="Grounding DINO + SAM from transformers, or the original Grounded-SAM code",
    )
    gen.add_argument("--prompts", nargs="+", default=["sky", "watermark"], help="text prompts of the regions to mask")
    gen.add_argument("--box-threshold", type=float, default=0.3, help="Grounding DINO box score threshold")
    gen.add_argument("--text-threshold", type=float, default=0.25, help="Grounding DINO phrase score threshold")
    gen.add_argument("--min-valid", type=float, default=0.2, help="images with a smaller valid fraction are dropped")
    gen.add_argument("--shard", help="process only shard i/n of the sorted image list (0-based i)")
    gen.add_argument("--batch-size", type=int, default=4, help="images per detector/segmenter batch")
    gen.add_argument("--workers", type=int, default=2, help="image-decoding worker processes")
    gen.add_argument("--device", help="default: cuda if available")
    gen.add_argument("--detector", help="transformers: Grounding DINO id or folder")
    gen.add_argument("--segmenter", help="transformers: SAM id or folder")
    gen.add_argument("--detector-config", type=Path, help="grounded-sam: GroundingDINO_SwinT_OGC.py")
    gen.add_argument("--detector-checkpoint", type=Path, help="grounded-sam: groundingdino_swint_ogc.pth")
    gen.add_argument("--sam-checkpoint", type=Path, help="grounded-sam: sam_vit_h_4b8939.pth")
    gen.add_argument("--sam-type", default="vit_h", help="grounded-sam: SAM variant of the checkpoint")

    aud = sub.add_parser("audit", help="coverage statistics and a contact sheet of a mask folder")
    aud.add_argument("masks", type=Path, help="mask root (with manifest.jsonl)")
    aud.add_argument("--images", type=Path, help="image folder, to draw the masks over the images")
    aud.add_argument("--sheet", type=Path, help="write a contact-sheet PNG here (default: MASKS/audit.png)")
    aud.add_argument("--samples", type=int, default=16, help="tiles on the contact sheet")
    aud.add_argument("--seed", type=int, default=0, help="seed of the tile sample")


def _backend_options(args: argparse.Namespace) -> dict:
    if args.backend == "transformers":
        names = {"detector_id": args.detector, "segmenter_id": args.segmenter}
    else:
        names = {
            "detector_config": args.detector_config,
            "detector_checkpoint": args.detector_checkpoint,
            "sam_checkpoint": args.sam_checkpoint,
            "sam_type": args.sam_type,
        }
    return {k: v for k, v in names.items() if v is not None}


def _generate(args: argparse.Namespace) -> int:
    from repro.cli.args import parse_shard
    from repro.errors import UserError
    from repro.masks import build_backend, generate_masks
    from repro.masks.generate import MaskFn

    def make_backend() -> MaskFn:
        try:
            return build_backend(
                args.backend,
                prompts=args.prompts,
                box_threshold=args.box_threshold,
                text_threshold=args.text_threshold,
                device=args.device,
                **_backend_options(args),
            )
        except (ValueError, FileNotFoundError, ImportError) as exc:
            raise UserError(str(exc)) from exc

    try:
        shard = parse_shard(args.shard) if args.shard else None
        if not args.images.is_dir():
            raise FileNotFoundError(f"image folder {args.images} does not exist")
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from exc
    summary = generate_masks(
        args.images,
        args.out,
        make_backend=make_backend,
        shard=shard,
        batch_size=args.batch_size,
        num_workers=args.workers,
        min_valid_fraction=args.min_valid,
    )
    print(
        f"{summary.written} masks written ({summary.images_per_s:.2f} images/s), {summary.skipped} already done, "
        f"{summary.dropped} dropped (< {args.min_valid:.0%} valid), {len(summary.failed)} unreadable -> {args.out}"
    )
    for rel, err in summary.failed:
        print(f"  unreadable: {rel}: {err}")
    return 1 if summary.failed else 0


def _audit(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from repro.errors import UserError
    from repro.masks import audit_masks

    sheet = args.sheet or args.masks / "audit.png"
    try:
        report = audit_masks(args.masks, args.images, sheet=sheet, samples=args.samples, seed=args.seed)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    print(tabulate(report.rows(), headers=["masks", str(args.masks)]))
    print(f"contact sheet: {report.sheet}")
    return 0


def run(args: argparse.Namespace) -> int:
    return _generate(args) if args.action == "generate" else _audit(args)
