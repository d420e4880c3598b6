"""``repro models``: the student networks (``list``) and the weight downloads (``fetch``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repro.errors import UserError

ACTIONS: dict[str, str] = {
    "list": "each student with its parameter count and default input size",
    "fetch": "download Hugging Face weights (teacher, mask models) for offline runs",
}


def default_fetch_ids() -> list[str]:
    """Everything the paper's pipeline loads: the teacher and the transformers mask backend."""
    from repro.choices import DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID, DEFAULT_TEACHER

    return [DEFAULT_TEACHER, DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = sub.add_parser("list", help=ACTIONS["list"], description=ACTIONS["list"])
    listing.add_argument("--json", action="store_true", help="print the table as JSON")
    fetch = sub.add_parser("fetch", help=ACTIONS["fetch"], description=ACTIONS["fetch"])
    fetch.add_argument(
        "ids",
        nargs="*",
        help=f"Hugging Face ids or short teacher names (default: {', '.join(default_fetch_ids())})",
    )
    fetch.add_argument("--cache-dir", type=Path, help="Hugging Face cache folder (default: $HF_HOME/hub)")
    fetch.add_argument("--local-dir", type=Path, help="write plain folders <owner>--<name> here instead of the cache")
    fetch.add_argument(
        "--revision",
        help="a commit (or branch) for every id given (default: each model's pin in repro/revisions.py; "
        "required for ids without one)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    if args.action == "fetch":
        return _fetch(args)
    raise UserError(f"choose an action: {', '.join(ACTIONS)}")


def _list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from repro.models.registry import list_students, parameter_counts

    rows = []
    for info in list_students():
        total, trainable = parameter_counts(info.name)
        h, w = info.default_size
        rows.append(
            {
                "name": info.name,
                "parameters": total,
                "trainable": trainable,
                "input": f"{h}x{w}",
                "source": info.source,
                "summary": info.summary,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table = [[r["name"], f"{r['parameters']:,}", f"{r['trainable']:,}", r["input"], r["summary"]] for r in rows]
        print(tabulate(table, headers=["student", "parameters", "trainable", "input", "architecture"]))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from repro.teacher.hub import fetch_weights

    try:
        paths = fetch_weights(
            args.ids or default_fetch_ids(), cache_dir=args.cache_dir, local_dir=args.local_dir, revision=args.revision
        )
    except (RuntimeError, OSError) as exc:  # offline, no network, unknown id
        raise UserError(str(exc)) from exc
    for path in paths:
        print(path)
    return 0
