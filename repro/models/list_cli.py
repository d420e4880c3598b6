"""``repro models list``: each student with its parameter count and default input size."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args: argparse.Namespace) -> int:
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
