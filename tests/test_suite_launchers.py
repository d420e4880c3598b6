"""Launchers without a cluster: job planning, seed records, status, and ``--launcher local --jobs 2``.

The jobs run the TEST-ONLY executor of launch_fixtures.py in real submitit subprocesses; the
real pipeline on a real SLURM is tests/test_slurm.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from launch_fixtures import LaunchFake
from test_suite_runner import EXPECTED, SUITE

from repro.suite.launchers import local
from repro.suite.launchers.jobs import LaunchSpec, plan_jobs, read_jobs
from repro.suite.report import write_reports
from repro.suite.runner import RunOptions
from repro.suite.schema import load_suite
from repro.suite.status import job_state, render

TESTS = Path(__file__).parent


@pytest.fixture
def mini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "expected").mkdir()
    (tmp_path / "suites" / "mini.yaml").write_text(SUITE)
    (tmp_path / "expected" / "mini.yaml").write_text(EXPECTED)
    paths = [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))  # the jobs import launch_fixtures
    return tmp_path


def _spec(root: Path, out: str = "runs", **fake) -> LaunchSpec:
    suite = load_suite(root / "suites" / "mini.yaml")
    fake_exec = LaunchFake(str(root / "expected" / "mini.yaml"), **fake)
    return LaunchSpec.of(suite, RunOptions(out=root / out, data_root=root / "data"), fake_exec)


def _cells(report_json: Path) -> dict[str, tuple]:
    data = json.loads(report_json.read_text())
    return {c["cell"]: (c["status"], json.dumps(c["verdicts"], sort_keys=True)) for c in data["cells"]}


def test_plan_is_one_job_per_cell_and_seed_with_checkpoint_dependencies(mini: Path) -> None:
    text = SUITE.replace('    row: "UniFuse | M + ST (p)"', '    row: "UniFuse | M + ST (p)"\n    seeds: [1, 2]')
    (mini / "suites" / "mini.yaml").write_text(text)
    plan = plan_jobs(_spec(mini).runner())
    assert plan.cited == ["cited_row"]
    assert plan.cached == []
    by_name = {j.name: j for j in plan.jobs}
    assert set(by_name) == {"base/seed0", "plus/seed1", "plus/seed2", "finetune/seed0", "external/seed0"}
    # finetune's seed 0 is not a seed of plus: it starts from plus's first seed, as the runner does
    assert by_name["finetune/seed0"].after == (("plus", 1),)
    assert by_name["plus/seed1"].after == ()


def test_seed_jobs_in_process_match_a_sequential_run(mini: Path) -> None:
    spec = _spec(mini)
    runner = spec.runner()
    runner.write_suite_json()
    for job in plan_jobs(runner).jobs:
        runner.run_seed_job(job.cell, job.seed)
    for name in runner.suite.cells:
        runner.finish_cell(name)
    write_reports(runner.run_dir)

    seq = _spec(mini, out="seq").runner()
    seq.run()
    write_reports(seq.run_dir)
    assert _cells(runner.run_dir / "report.json") == _cells(seq.run_dir / "report.json")
    ft = json.loads((runner.run_dir / "finetune" / "result.json").read_text())
    ckpt = json.loads(Path(ft["seeds"][0]["checkpoint"]).read_text())
    plus = json.loads((runner.run_dir / "plus" / "result.json").read_text())["seeds"][0]
    assert ckpt["init"] == plus["checkpoint"]  # the dependency's checkpoint, stored by its training key
    assert ckpt["init"].endswith(f"_cache/train/{plus['train_key']}/final.pt")


def test_a_seed_without_record_fails_its_cell_as_a_job(mini: Path) -> None:
    runner = _spec(mini).runner()
    runner.write_suite_json()
    runner.run_seed_job("base", 0)
    assert runner.finish_cell("base").status == "ok"
    assert runner.finish_cell("plus").status == "failed"
    result = json.loads((runner.run_dir / "plus" / "result.json").read_text())
    assert result["error"]["stage"] == "job" and "seed(s) 0" in result["error"]["message"]


@pytest.mark.parametrize(
    ("record", "attempts", "scheduler", "state"),
    [
        ({"status": "ok"}, [], "COMPLETED", "done"),
        ({"status": "failed"}, [], "FAILED", "failed"),
        (None, [], "PENDING", "pending"),
        (None, [{"state": "preempted"}], "PENDING (requeued 1x)", "pending"),
        (None, [{"state": "running"}], "RUNNING", "running"),
        (None, [{"state": "running"}], "CANCELLED", "failed"),
        (None, [{"state": "running"}], None, "running"),
        (None, [], None, "pending"),
    ],
)
def test_job_state_prefers_the_records_then_the_scheduler(record, attempts, scheduler, state) -> None:
    assert job_state(record, attempts, scheduler) == state


@pytest.mark.slow
def test_local_launcher_runs_two_jobs_at_once_and_reports_like_a_sequential_run(mini: Path) -> None:
    spec = _spec(mini, train_s=4.0)
    lines: list[str] = []
    report = local.run(spec, jobs=2, progress=lines.append)
    run_dir = spec.runner().run_dir
    assert report.counts()["ok"] == 3, report.counts()

    def span(cell: str) -> list[float]:
        return json.loads((run_dir / cell / "seed0" / "train" / "span.json").read_text())

    base, plus, ft = span("base"), span("plus"), span("finetune")
    assert base[0] < plus[1] and plus[0] < base[1], "base and plus did not train at the same time"
    assert ft[0] >= plus[1], "finetune started before the checkpoint it starts from was written"
    jobs = read_jobs(run_dir)
    assert jobs["launcher"] == "local" and all(j["job_id"] and Path(j["log"]).is_file() for j in jobs["jobs"])
    text = render(run_dir)
    assert "done" in text and "skipped" in text and "pending" not in text

    seq = _spec(mini, out="seq").runner()
    seq.run()
    write_reports(seq.run_dir)
    assert _cells(run_dir / "report.json") == _cells(seq.run_dir / "report.json")

    # a second launch finds every trained cell current: nothing but the skipped cell is run again
    again = plan_jobs(spec.runner())
    assert {j.name for j in again.jobs} == {"external/seed0"}
    assert set(again.cached) == {"base", "plus", "finetune"}


def test_local_launcher_refuses_more_jobs_than_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from repro.errors import UserError

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert local._slots(2, None) == [(0,), (1,)]
    assert local._slots(1, None, per_job=2) == [(0, 1)]
    with pytest.raises(UserError, match=r"2 GPUs \(--gpus-per-cell\) per job"):
        local._slots(2, None, per_job=2)
    assert local._slots(3, "cpu") == [None, None, None]
    with pytest.raises(UserError, match="--jobs 3"):
        local._slots(3, None)
