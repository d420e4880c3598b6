"""Adversarial: a run folder you can trust (training cache by content, locks, stray temps, resume).

The suite tests drive the real :class:`SuiteRunner` with a TEST-ONLY executor whose "training"
writes the configured learning rate into ``<seed>/train/checkpoints/final.pt`` (the trainer's own
fixed path) and whose "evaluation" reads it back as the metric, so a reused checkpoint of the wrong
configuration shows up as a wrong number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.atomic import write_text
from repro.suite.executor import RunContext
from repro.suite.expected import load_expected
from repro.suite.runner import RunOptions, SuiteRunner
from repro.suite.schema import Cell, load_suite

SUITE = """\
suite: adv
title: "Adversarial mini table"
defaults:
  train:
    student: {{name: unifuse}}
    labeled: [{{dataset: matterport3d, split: train}}]
    schedule: {{epochs: 1, lr: {lr}}}
  eval:
    dataset: {{dataset: stanford2d3d, split: test}}
cells:
  base: {{row: "UniFuse | M"}}
"""

EXPECTED = """\
source: "test"
directions: {abs_rel: lower}
tolerance: {abs_rel: 1.0}
rationale: "test"
cells:
  base: {row: "base", metrics: {abs_rel: 0.5}}
"""


class WeightsExecutor:
    """TEST-ONLY: 'weights' are the config's lr, written where the real trainer writes final.pt."""

    def __init__(self) -> None:
        self.trained = 0

    def prepare_data(self, cell: Cell, ctx: RunContext) -> None:
        pass

    def prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        pass

    def train(self, cell: Cell, ctx: RunContext) -> Path:
        self.trained += 1
        path = ctx.out_dir / "checkpoints" / "final.pt"
        write_text(path, repr(cell.train.schedule.lr))  # atomically, as the real trainer writes
        return path

    def evaluate(self, cell: Cell, checkpoint, ctx: RunContext) -> dict[str, float]:
        return {"abs_rel": float(Path(checkpoint).read_text())}

    def profile(self, cell: Cell, ctx: RunContext, steps: int) -> dict[str, float]:
        return {"step_time_s": 0.1}


def write_suite(root: Path, lr: float) -> Path:
    (root / "suites").mkdir(exist_ok=True)
    (root / "expected").mkdir(exist_ok=True)
    (root / "suites" / "adv.yaml").write_text(SUITE.format(lr=lr))
    (root / "expected" / "adv.yaml").write_text(EXPECTED)
    return root / "suites" / "adv.yaml"


def run_suite(root: Path, lr: float, executor: WeightsExecutor | None = None, **options) -> dict:
    suite = load_suite(write_suite(root, lr))
    runner = SuiteRunner(
        suite, executor or WeightsExecutor(), RunOptions(out=root / "runs", data_root=root / "data", **options),
        load_expected(suite.expected_path),
    )
    runner.run()
    return json.loads((runner.run_dir / "base" / "result.json").read_text())


# ----------------------------------------------------------------------------- training cache


def test_run_edit_revert_rerun_reports_the_reverted_configs_numbers(tmp_path: Path) -> None:
    first = run_suite(tmp_path, 0.25)
    assert first["metrics"]["abs_rel"] == [0.25]
    edited = run_suite(tmp_path, 0.75)
    assert edited["metrics"]["abs_rel"] == [0.75]
    ex = WeightsExecutor()
    reverted = run_suite(tmp_path, 0.25, ex)
    assert reverted["metrics"]["abs_rel"] == [0.25], "the reverted config was scored with the edited config's weights"
    assert ex.trained == 0 and reverted["seeds"][0]["train_reused_from"] == "adv/base"


def test_a_cache_entry_whose_checkpoint_changed_is_not_reused(tmp_path: Path) -> None:
    first = run_suite(tmp_path, 0.25)
    reused = Path(first["seeds"][0]["checkpoint"])
    reused.write_text("0.99")  # edited in place behind the cache's back
    # the cell's own result is current (nothing would run): drop it so the training cache is asked
    (tmp_path / "runs" / "adv" / "base" / "result.json").unlink()
    ex = WeightsExecutor()
    rerun = run_suite(tmp_path, 0.25, ex)
    assert ex.trained == 1, "a checkpoint whose content no longer matches its recorded hash must be retrained"
    assert rerun["metrics"]["abs_rel"] == [0.25]


def test_the_cached_checkpoint_path_is_derived_from_the_training_key(tmp_path: Path) -> None:
    result = run_suite(tmp_path, 0.25)
    key = result["seeds"][0]["train_key"]
    ckpt = Path(result["seeds"][0]["checkpoint"])
    assert key in ckpt.as_posix() and ckpt.is_relative_to(tmp_path / "runs" / "_cache" / "train")
    entry = json.loads((tmp_path / "runs" / "_cache" / "train" / f"{key}.json").read_text())
    assert len(entry["sha256"]) == 64 and entry["bytes"] == ckpt.stat().st_size
