"""Adversarial: a report never says PASS for results it could not read, nor for a metric never stated.

A real :class:`SuiteRunner` with a TEST-ONLY executor (metrics = the paper's values, so an intact
run passes) makes the run folder; the tests then delete, truncate or replace its files the way a
killed job, a full disk or a hurried edit would, and ask ``repro suite report``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.cli import main
from repro.config import ConfigError
from repro.suite.executor import RunContext
from repro.suite.expected import load_expected
from repro.suite.runner import RunOptions, SuiteRunner
from repro.suite.schema import Cell, load_suite

SUITE = """\
suite: rep
title: "Report integrity"
defaults:
  train:
    student: {name: unifuse}
    labeled: [{dataset: matterport3d, split: train}]
    schedule: {epochs: 1}
  eval:
    dataset: {dataset: stanford2d3d, split: test}
cells:
  a: {row: "A"}
  b: {row: "B", train: {schedule: {epochs: 2}}}
"""

EXPECTED = """\
source: "test"
directions: {abs_rel: lower, delta1: higher}
tolerance: {abs_rel: 0.01, delta1: 0.01}
rationale: "test"
cells:
  a: {row: "A", metrics: {abs_rel: 0.10, delta1: 0.90}}
  b: {row: "B", metrics: {abs_rel: 0.09, delta1: 0.91}}
"""


class PaperExecutor:
    """TEST-ONLY: every cell measures exactly the paper's values."""

    def __init__(self, expected) -> None:
        self.expected = expected

    def prepare_data(self, cell: Cell, ctx: RunContext) -> None:
        pass

    def prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        pass

    def train(self, cell: Cell, ctx: RunContext) -> Path:
        path = ctx.out_dir / "final.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(cell.name.encode())
        return path

    def evaluate(self, cell: Cell, checkpoint, ctx: RunContext) -> dict[str, float]:
        return dict(self.expected.cells[cell.name].metrics)

    def profile(self, cell: Cell, ctx: RunContext, steps: int) -> dict[str, float]:
        return {"step_time_s": 0.1}


def _write(root: Path, expected_text: str = EXPECTED) -> Path:
    (root / "suites").mkdir(exist_ok=True)
    (root / "expected").mkdir(exist_ok=True)
    (root / "suites" / "rep.yaml").write_text(SUITE)
    (root / "expected" / "rep.yaml").write_text(expected_text)
    return root / "suites" / "rep.yaml"


def _runner(tmp_path: Path) -> SuiteRunner:
    suite = load_suite(_write(tmp_path))
    expected = load_expected(suite.expected_path)
    return SuiteRunner(
        suite, PaperExecutor(expected), RunOptions(out=tmp_path / "runs", data_root=tmp_path / "data"), expected
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    runner = _runner(tmp_path)
    runner.run()
    return runner.run_dir


def _report(run_dir: Path, capsys) -> tuple[int, str]:
    rc = main(["suite", "report", str(run_dir)])
    return rc, capsys.readouterr().out


def test_an_intact_run_passes(run_dir: Path, capsys) -> None:
    rc, out = _report(run_dir, capsys)
    assert rc == 0 and "PASS" in out and "FAIL" not in out  # the baseline the attacks below break


def test_every_result_missing_fails_the_report(run_dir: Path, capsys) -> None:
    for name in ("a", "b"):
        (run_dir / name / "result.json").unlink()
    rc, out = _report(run_dir, capsys)
    assert rc == 1 and "FAIL" in out and "PASS" not in out
    assert "2 not run" in out and "no result.json" in out
    report = json.loads((run_dir / "report.json").read_text())
    assert report["passed"] is False


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda text: text[: len(text) // 2], id="truncated"),
        pytest.param(lambda text: "", id="empty"),
        pytest.param(lambda text: "[1, 2, 3]\n", id="not-an-object"),
        pytest.param(lambda text: json.dumps({"cell": "a"}), id="no-status"),
        pytest.param(lambda text: "\x00" * 64, id="zeros"),
    ],
)
def test_a_corrupt_result_is_reported_as_corrupt_and_fails(run_dir: Path, capsys, damage) -> None:
    path = run_dir / "a" / "result.json"
    path.write_text(damage(path.read_text()))
    rc, out = _report(run_dir, capsys)
    assert rc == 1 and "PASS" not in out
    assert "1 corrupt" in out and str(path) in out


def test_a_missing_seed_record_fails_the_launched_cell(tmp_path: Path) -> None:
    runner = _runner(tmp_path)
    runner.write_suite_json()
    runner.run_seed_job("a", 0)
    runner.seed_record_path("a", 0).write_text('{"status": "ok", "rec')  # a job killed mid-write
    outcome = runner.finish_cell("a")
    assert outcome.status == "failed" and "ended without a result" in outcome.result["error"]["message"]


# ----------------------------------------------------------------------------- expected files


def test_an_expected_row_missing_a_metric_fails_validation(tmp_path: Path, capsys) -> None:
    _write(tmp_path, EXPECTED.replace("a: {row: \"A\", metrics: {abs_rel: 0.10, delta1: 0.90}}",
                                      "a: {row: \"A\", metrics: {abs_rel: 0.10}}"))
    with pytest.raises(ConfigError, match=r"cells\.a.*delta1 missing from this row"):
        load_expected(tmp_path / "expected" / "rep.yaml")
    rc = main(["suite", "validate", "rep", "--suites", str(tmp_path / "suites")])
    out = capsys.readouterr().out
    assert rc == 1 and "FAIL" in out and "delta1" in out


def test_a_metric_the_paper_prints_as_dash_is_declared_not_reported(tmp_path: Path) -> None:
    _write(tmp_path, EXPECTED.replace("a: {row: \"A\", metrics: {abs_rel: 0.10, delta1: 0.90}}",
                                      "a: {row: \"A\", metrics: {abs_rel: 0.10}, not_reported: [delta1]}"))
    exp = load_expected(tmp_path / "expected" / "rep.yaml")
    assert exp.cells["a"].not_reported == ["delta1"]
