"""`repro suite ...` end to end through the CLI, with the real executor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.cli import main

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"

TINY_SUITE = """\
suite: tiny_cli
title: "CLI test suite"
defaults:
  train:
    student: {name: unifuse}
    labeled: [{dataset: matterport3d, split: train}]
  eval:
    dataset: {dataset: stanford2d3d, split: test}
cells:
  cited_row: {kind: cited, row: "cited"}
  a_cell: {row: "a"}
"""
TINY_EXPECTED = """\
source: "test"
directions: {abs_rel: lower}
tolerance: {abs_rel: 0.01}
rationale: "test"
cells:
  cited_row: {row: "cited", metrics: {abs_rel: 0.1}}
  a_cell: {row: "a", metrics: {abs_rel: 0.1}}
"""


def test_list_shows_every_paper_suite(capsys):
    assert main(["suite", "list", "--suites", str(SUITES)]) == 0
    out = capsys.readouterr().out
    for name in (
        "table2_matterport",
        "table3_zero_shot",
        "zero_shot",
        "table4_structured3d",
        "table5_metric_ft",
        "table7_ratio",
        "table8_projection",
        "smoke",
    ):
        assert name in out


def test_every_shipped_suite_validates(capsys):
    assert main(["suite", "validate", "--suites", str(SUITES)]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_validate_names_file_line_and_key(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(TINY_SUITE.replace('  a_cell: {row: "a"}', "  a_cell:\n    trian: {}"))
    assert main(["suite", "validate", "--suites", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml:12: key 'cells.a_cell.trian': unknown key (did you mean 'train'?)" in out


@pytest.mark.parametrize("name", ["zero_shot", "table2_matterport", "table5_metric_ft", "smoke"])
def test_dry_run_prints_plan(name, capsys, tmp_path):
    assert main(["suite", name, "--dry-run", "--suites", str(SUITES), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "steps/seed" in out and "--random-init" in out
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


def test_unknown_suite_and_bad_shard_are_user_errors(capsys):
    assert main(["suite", "no_such_suite", "--suites", str(SUITES)]) == 2
    assert "no suite 'no_such_suite'" in capsys.readouterr().err
    assert main(["suite", "smoke", "--shard", "2/2", "--suites", str(SUITES)]) == 2
    assert "--shard must be i/n" in capsys.readouterr().err


def test_failing_stage_fails_the_cell_honestly_and_sets_exit_code(tmp_path, capsys, monkeypatch):
    """A stage that raises fails its cell with the message recorded, and the run's exit code."""
    import repro.train

    def broken_train(*args, **kwargs):
        raise RuntimeError("the trainer broke")

    monkeypatch.setattr(repro.train, "train", broken_train)
    (tmp_path / "suites").mkdir()
    (tmp_path / "expected").mkdir()
    (tmp_path / "suites" / "tiny_cli.yaml").write_text(TINY_SUITE)
    (tmp_path / "expected" / "tiny_cli.yaml").write_text(TINY_EXPECTED)
    for d in ("matterport3d", "stanford2d3d"):  # the run checks its data up front: real layouts needed
        main(["data", "synth", "--out", str(tmp_path / "data"), "--count", "1", "--height", "8", "--dataset", d])
    args = [
        "suite",
        "tiny_cli",
        "--suites",
        str(tmp_path / "suites"),
        "--out",
        str(tmp_path / "runs"),
        "--data-root",
        str(tmp_path / "data"),
    ]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL: train: the trainer broke" in out
    result = json.loads((tmp_path / "runs" / "tiny_cli" / "a_cell" / "result.json").read_text())
    assert result["status"] == "failed" and result["error"]["type"] == "RuntimeError"
    assert main([*args, "--report-only"]) == 0
    capsys.readouterr()
    assert main(["suite", "report", str(tmp_path / "runs" / "tiny_cli")]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert (tmp_path / "runs" / "tiny_cli" / "report.png").is_file()


def test_missing_data_stops_before_any_cell_with_one_message(tmp_path, capsys):
    """No per-cell tracebacks: every missing split listed once, with its prepare command."""
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "tiny_cli.yaml").write_text(TINY_SUITE)
    data = tmp_path / "data"
    (data / "stanford2d3d").mkdir(parents=True)  # there, but empty: the official test list's files are missing
    args = ["suite", "tiny_cli", "--suites", str(tmp_path / "suites"), "--out", str(tmp_path / "runs")]
    assert main([*args, "--data-root", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro suite: error: 2 dataset split(s) this run needs are missing")
    assert f"matterport3d split 'train' (needed by cell a_cell): {data / 'matterport3d'} does not exist" in err
    assert "stanford2d3d split 'test' (needed by cell a_cell): 746 listed file(s) missing" in err
    assert f"repro data prepare matterport3d --from MP/v1/scans --out {data}" in err
    assert f"repro data prepare stanford2d3d --from S2D3S --out {data}" in err
    assert "Traceback" not in err and not (tmp_path / "runs" / "tiny_cli" / "a_cell").exists()


def test_report_of_a_folder_without_a_run_is_a_user_error(tmp_path, capsys):
    assert main(["suite", "report", str(tmp_path)]) == 2
    assert "no suite.json" in capsys.readouterr().err
