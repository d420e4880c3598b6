"""Argument helpers shared by several commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with 0 ≤ i < n (0-based, like SLURM's default array indices)."""
    head, sep, tail = text.partition("/")
    if not (sep and head.isdigit() and tail.isdigit()) or not 0 <= int(head) < int(tail):
        raise ValueError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return int(head), int(tail)


def positive_int(text: str) -> int:
    """argparse ``type=`` for counts that must be at least 1 (argparse reports the flag on error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class HelpFormatter(argparse.HelpFormatter):
    """Shows every option's default in its help, unless the help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown})"


class ReproParser(argparse.ArgumentParser):
    """Every command's parser (and its sub-commands'): defaults shown in the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


class RenamedOption(argparse.Action):
    """Stores like ``store``; an old spelling still works for one release, with a note on stderr.

    ``parser.add_argument("--out", "--output-dir", action=RenamedOption, old=["--output-dir"], ...)``
    """

    def __init__(self, option_strings: list[str], dest: str, old: Sequence[str] = (), **kwargs: Any) -> None:
        unknown = set(old) - set(option_strings)
        if unknown:
            raise ValueError(f"old spellings {sorted(unknown)} are not among {option_strings}")
        self.old = tuple(old)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if option_string in self.old:
            new = next(s for s in self.option_strings if s not in self.old)
            print(
                f"{parser.prog}: note: {option_string} is deprecated and will be removed in the next release; "
                f"use {new}",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)

