"""``repro models``: inspect the student networks.

Actions live in :data:`ACTIONS` (name -> (configure, run, help)); add one there to extend the
command (``repro models fetch`` belongs to the teacher/weights tooling).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from repro.cli import UserError


def _configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def _run_list(args: argparse.Namespace) -> int:
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


ACTIONS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]] = {
    "list": (_configure_list, _run_list, "each student with its parameter count and default input size"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    for name, (configure_action, _, help_text) in ACTIONS.items():
        configure_action(sub.add_parser(name, help=help_text, description=help_text))


def run(args: argparse.Namespace) -> int:
    if not args.action:
        raise UserError(f"choose an action: {', '.join(ACTIONS)}")
    return ACTIONS[args.action][1](args)
