"""``repro models``: the student networks and the weight downloads.

Each action is a module exposing ``configure(parser)`` and ``run(args) -> int``, listed in
:data:`ACTIONS` (add a line there to add an action).
"""

from __future__ import annotations

import argparse
import importlib

from repro.errors import UserError

ACTIONS: dict[str, tuple[str, str]] = {
    "list": ("repro.models.list_cli", "each student with its parameter count and default input size"),
    "fetch": ("repro.teacher.fetch_cli", "download Hugging Face weights (teacher, mask models) for offline runs"),
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    for name, (module, help_text) in ACTIONS.items():
        action = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).configure(action)


def run(args: argparse.Namespace) -> int:
    if not args.action:
        raise UserError(f"choose an action: {', '.join(ACTIONS)}")
    return importlib.import_module(ACTIONS[args.action][0]).run(args)
