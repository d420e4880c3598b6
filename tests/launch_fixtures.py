"""TEST-ONLY executor for the launcher tests, in its own module so that job subprocesses can
unpickle it (they import it by name from tests/, which the tests put on PYTHONPATH).

It trains nothing: "training" sleeps ``train_s`` and writes a checkpoint naming what it started
from; it records when each training ran (to check concurrency and dependency order). Metrics are
the cell's paper value plus ``offset``, so a launched run and an in-process run must agree exactly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from repro.suite.executor import CellSkipped, RunContext
from repro.suite.expected import load_expected
from repro.suite.schema import Cell


@dataclass
class LaunchFake:
    expected_file: str
    train_s: float = 0.0
    offset: float = 0.0

    def prepare_data(self, cell: Cell, ctx: RunContext) -> None:
        if cell.eval is not None and cell.eval.model == "predictions":
            raise CellSkipped("no predictions supplied")

    def prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        pass

    def train(self, cell: Cell, ctx: RunContext) -> Path:
        start = time.time()
        if ctx.init_checkpoint is not None and not Path(ctx.init_checkpoint).is_file():
            raise FileNotFoundError(f"init checkpoint {ctx.init_checkpoint} missing")
        time.sleep(self.train_s)
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        ckpt = ctx.out_dir / "final.pt"
        ckpt.write_text(json.dumps({"cell": cell.name, "init": str(ctx.init_checkpoint)}))
        (ctx.out_dir / "span.json").write_text(json.dumps([start, time.time()]))
        return ckpt

    def evaluate(self, cell: Cell, checkpoint, ctx: RunContext) -> dict[str, float]:
        paper = load_expected(Path(self.expected_file)).cells[cell.name].metrics
        return {m: v + self.offset for m, v in paper.items()}

    def profile(self, cell: Cell, ctx: RunContext, steps: int) -> dict[str, float]:
        return {"step_time_s": 0.5}
