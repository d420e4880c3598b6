"""``repro models fetch``: download model weights for offline use (wired under ``repro models``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from repro.teacher.fetch import default_fetch_ids, fetch_weights


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ids",
        nargs="*",
        help=f"Hugging Face ids or short teacher names (default: {', '.join(default_fetch_ids())})",
    )
    parser.add_argument("--cache-dir", type=Path, help="Hugging Face cache folder (default: $HF_HOME/hub)")
    parser.add_argument("--local-dir", type=Path, help="write plain folders <owner>--<name> here instead of the cache")
    parser.add_argument(
        "--revision",
        help="a commit (or branch) for every id given (default: each model's pin in repro/revisions.py; "
        "required for ids without one)",
    )


def run(args: argparse.Namespace) -> int:
    from repro.errors import UserError

    try:
        paths = fetch_weights(
            args.ids or None, cache_dir=args.cache_dir, local_dir=args.local_dir, revision=args.revision
        )
    except (RuntimeError, OSError) as exc:  # offline, no network, unknown id
        raise UserError(str(exc)) from exc
    for path in paths:
        print(path)
    return 0
