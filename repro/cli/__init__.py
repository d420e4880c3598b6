"""The ``repro`` command line: a thin, lazy dispatcher (the top layer: no library module imports ``repro.cli``).

Each subcommand lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs, so ``repro --help`` stays fast and a
broken optional dependency of one command cannot take the others down.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from repro.errors import UserError

# name -> (module, one-line help). Add a line here when a new subcommand lands.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("repro.cli.demo", "write the randomly rotated cube faces of a built-in panorama as PNGs"),
    "data": ("repro.cli.data", "list datasets, write synthetic ones in the real layouts, verify a download"),
    "masks": ("repro.cli.masks", "generate Grounded-SAM sky/watermark masks (resumable, sharded) or audit them"),
    "models": ("repro.cli.models", "the student networks (list with parameter counts) and weight downloads (fetch)"),
    "suite": ("repro.cli.suite", "run a paper-table suite and diff it against the paper; list, validate, report"),
    "docker": ("repro.cli.docker", "build the CUDA image, or run a repro command in it (docker or podman)"),
    "teacher": ("repro.cli.teacher", "precompute the pseudo-label cache: teacher targets for K rotations per panorama"),
    "train": ("repro.cli.train", "train a student from a YAML config (resumable; torchrun for several GPUs)"),
    "eval": ("repro.cli.eval", "evaluate a checkpoint on a test split: per-image CSV and aggregate JSON"),
    "predict": ("repro.cli.predict", "depth PNG, colour preview and PLY point cloud for panoramas"),
    "figures": ("repro.cli.figures", "the paper's qualitative comparison sheet (RGB | depth per model | point clouds)"),
}


def _top_parser() -> argparse.ArgumentParser:
    from repro import __version__

    parser = argparse.ArgumentParser(
        prog="repro",
        description="Reproduce the tables of Depth Anywhere (NeurIPS 2024).",
    )
    parser.add_argument("--version", action="version", version=f"repro {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


#: argparse destinations that name a command's output folder (checked before the command runs); a
#: command module whose flags differ declares its own ``OUTPUT_DIRS``.
OUTPUT_DESTS = ("out", "output_dir")


def _check_outputs(args: argparse.Namespace, dests: Sequence[str] = OUTPUT_DESTS) -> None:
    """Every output folder given on the command line: writable, not a file, room on its disk."""
    from pathlib import Path

    from repro.preflight import check_output_dir

    for dest in dests:
        value = getattr(args, dest, None)
        if isinstance(value, (str, Path)):
            check_output_dir(value, "--" + dest.replace("_", "-"))


def command_parser(name: str) -> argparse.ArgumentParser:
    """The full parser of one subcommand (imports its module)."""
    from repro.cli.args import ReproParser

    module_name, help_text = COMMANDS[name]
    parser = ReproParser(prog=f"repro {name}", description=help_text)
    importlib.import_module(module_name).configure(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        if not argv:
            parser.print_help()
            return 2
        parser.parse_args(argv)  # handles --help/--version, errors on unknown commands
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    args = command_parser(name).parse_args(rest)
    try:
        _check_outputs(args, getattr(module, "OUTPUT_DIRS", OUTPUT_DESTS))
        return int(module.run(args) or 0)
    except UserError as exc:
        print(f"repro {name}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from repro.preflight import disk_error_message

        message = disk_error_message(exc)  # a full disk, a quota, a read-only or forbidden folder
        if message is None:
            raise
        print(f"repro {name}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"repro {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
