"""`repro figures PANORAMAS... --checkpoints A.pth B.pth ...`: the paper's qualitative comparison sheet."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "RGB | depth of each model (one colour scale, colourbar) | a point-cloud view per model, one row per "
        "panorama, as the paper's Figs. 7, 8 and 12; plus each model's depth PNG and PLY at the image's resolution. "
        "Try it on the released repo's data/examples/in-the-wild and data/examples/sf3d."
    )
    parser.add_argument("panoramas", nargs="+", type=Path, help="equirectangular images, or folders of them")
    parser.add_argument(
        "--checkpoints",
        nargs="+",
        type=Path,
        required=True,
        help="models to compare: `repro train` checkpoints, or released files (their folder/name says the network)",
    )
    parser.add_argument("--student", help="network of released files whose name the suites do not map")
    parser.add_argument(
        "--input-size", type=int, nargs=2, metavar=("H", "W"), help="input size of released files (default: the suites')"
    )
    parser.add_argument("--labels", nargs="+", help="column titles (default: each file's name)")
    parser.add_argument("--out", type=Path, default=Path("out/figures"), help="output folder (default: out/figures)")
    parser.add_argument("--suites", type=Path, default=None, help="suites folder (where released files are mapped)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")


def _labels(paths: list[Path], given: list[str] | None) -> list[str]:
    from repro.errors import UserError

    if given:
        if len(given) != len(paths):
            raise UserError(f"--labels gives {len(given)} names for {len(paths)} checkpoints")
        return given
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{p.parent.name}_{p.stem}" for p in paths]


def run(args: argparse.Namespace) -> int:
    from repro.devices import pick_device
    from repro.errors import UserError
    from repro.evaluation.figures import FigureModel, comparison_sheet, panoramas
    from repro.models.checkpoints import NotOurFormat, load_state, load_student
    from repro.models.released import load_released
    from repro.suite.released import network_of
    from repro.suite.schema import suites_dir

    device = pick_device(args.device)
    images = panoramas(args.panoramas)
    models = []
    for path, label in zip(args.checkpoints, _labels(args.checkpoints, args.labels), strict=True):
        try:
            load_state(path)
            model, meta = load_student(path, args.student, device)
        except NotOurFormat:
            found = network_of(path, suites_dir(args.suites))
            if found is None and not args.student:
                raise UserError(
                    f"{path}: not a repro checkpoint and no suite maps a released file of that name; "
                    "say which network it holds with --student NAME"
                ) from None
            spec, size = found if found else (None, (512, 1024))
            size = tuple(args.input_size) if args.input_size else size
            name = args.student or spec.name  # type: ignore[union-attr]
            options = dict(spec.options) if spec is not None and not args.student else {}
            model, meta, _ = load_released(path, name, options, size, expected_by="repro figures")
        models.append(FigureModel(label, model, meta, str(path)))
    sheet = comparison_sheet(images, models, args.out, device)
    print(f"{sheet}  ({len(images)} panoramas × {len(models)} models; depth PNG, JSON and PLY beside it)")
    return 0
