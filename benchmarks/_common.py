"""Shared helpers for the benchmarks: timing, machine description, result tables and JSON."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def timeit(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1, sync: bool = False) -> float:
    """Median wall time of ``fn`` in milliseconds (CUDA-synchronised when ``sync``)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def device_label() -> str:
    """What a figure was measured on, for table titles."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU threads={torch.get_num_threads()}"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (CI)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return p


def report(name: str, rows: list[dict[str, Any]], json_path: Path | None, **extra: Any) -> None:
    """Print ``rows`` as a table and optionally write them, with the machine, to ``json_path``."""
    from tabulate import tabulate

    print(f"\n{name}")
    print(tabulate(rows, headers="keys", floatfmt=".3g"))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"benchmark": name, "machine": machine(), "rows": rows, **extra}
        json_path.write_text(json.dumps(payload, indent=2))
