"""Argument helpers shared by several commands."""

from __future__ import annotations


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` with 0 ≤ i < n (0-based, like SLURM's default array indices)."""
    head, sep, tail = text.partition("/")
    if not (sep and head.isdigit() and tail.isdigit()) or not 0 <= int(head) < int(tail):
        raise ValueError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return int(head), int(tail)


def positive_int(text: str) -> int:
    """argparse ``type=`` for counts that must be at least 1 (argparse reports the flag on error)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
