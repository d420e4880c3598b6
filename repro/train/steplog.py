"""Structured training logs (JSON lines per step and per epoch) and the progress bar.

``<out>/log/steps.jsonl`` gets one record per optimizer step (losses, lr, gradient norm, skipped
flag, seconds; a skipped step has null losses and a ``skip_reason``); ``<out>/log/epochs.jsonl`` one per epoch (means over the epoch's good steps).
Records are appended and flushed as they happen, so a crashed run keeps its log; on resume the
records after the checkpoint's step are dropped first, so the log reads like one uninterrupted
run. Only rank 0 writes.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, TextIO

from repro.progress import progress_bar


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as strings so the line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class JsonlLog:
    """Append-only JSON-lines file keyed by an increasing field (``step`` or ``epoch``)."""

    def __init__(self, path: Path, key: str, resume_from: int | None = None) -> None:
        self.path, self.key = Path(path), key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_from is not None and self.path.exists():
            self._truncate(resume_from)
        elif resume_from is None:
            self.path.unlink(missing_ok=True)
        self._fh: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _truncate(self, keep_below: int) -> None:
        """Keep only records with ``key < keep_below`` (those the checkpoint already covers)."""
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the crash
            if int(record.get(self.key, -1)) < keep_below:
                kept.append(line)
        self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


class TrainLog:
    """Step and epoch logs plus a tqdm bar (steps/s and ETA come from tqdm's own rate estimate)."""

    def __init__(
        self, out_dir: Path, total_steps: int, start_step: int, start_epoch: int, *, enabled: bool, progress: bool
    ) -> None:
        self.enabled = enabled
        resume = start_step if start_step > 0 else None
        self.steps = JsonlLog(out_dir / "log" / "steps.jsonl", "step", resume) if enabled else None
        self.epochs = (
            JsonlLog(out_dir / "log" / "epochs.jsonl", "epoch", start_epoch if resume else None) if enabled else None
        )
        self.bar = progress_bar(
            total=total_steps,
            initial=start_step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            enabled=enabled and progress,
        )
        self._t = time.perf_counter()

    def step(self, record: dict[str, Any]) -> None:
        now = time.perf_counter()
        record["seconds"] = now - self._t
        self._t = now
        if self.steps is not None:
            self.steps.write(record)
        self.bar.update(1)
        if record.get("loss") is not None and (self.bar.n % 10 == 0 or self.bar.n == self.bar.total):
            self.bar.set_postfix(loss=f"{record['loss']:.4g}", epoch=record["epoch"], refresh=False)

    def epoch(self, record: dict[str, Any]) -> None:
        if self.epochs is not None:
            self.epochs.write(record)
        if self.enabled:
            parts = ", ".join(
                f"{k} {record[k]:.4g}" if record[k] is not None else f"{k} n/a (no good step)"
                for k in ("loss", "loss_gt", "loss_pseudo")
                if k in record
            )
            self.bar.write(f"epoch {record['epoch']}: {parts}, {record.get('skipped', 0)} skipped steps")

    def close(self) -> None:
        self.bar.close()
        for log in (self.steps, self.epochs):
            if log is not None:
                log.close()
