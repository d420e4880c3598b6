"""Suites through a real SLURM: slurmctld + slurmd + munged on localhost (tests/slurm_cluster.py).

Skipped, saying why, only where SLURM cannot be started (not root, packages not installed);
with REPRO_REQUIRE_SLURM=1 (set by .ci/slurm-smoke) a missing SLURM is a failure instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from launch_fixtures import LaunchFake
from slurm_cluster import LocalSlurm, unavailable
from test_suite_runner import EXPECTED, SUITE

from repro.suite.launchers import slurm
from repro.suite.launchers.jobs import LaunchSpec, read_jobs
from repro.suite.runner import RunOptions
from repro.suite.schema import load_suite
from repro.suite.status import render

TESTS = Path(__file__).parent
REPO = TESTS.parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    reason = unavailable()
    if reason:
        if os.environ.get("REPRO_REQUIRE_SLURM") == "1":
            pytest.fail(f"SLURM required but cannot start: {reason}")
        pytest.skip(f"SLURM cannot be started here: {reason}")
    c = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    t0 = time.monotonic()
    try:
        c.start()
    except RuntimeError as exc:
        c.stop()
        pytest.fail(f"SLURM did not start: {exc}")
    print(f"\nSLURM up in {time.monotonic() - t0:.1f} s (SLURM_CONF={c.conf})")
    yield c
    c.stop()


@pytest.fixture
def slurm_env(cluster: LocalSlurm, monkeypatch: pytest.MonkeyPatch) -> LocalSlurm:
    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    paths = [str(TESTS), str(REPO), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    return cluster


def _wait_for(predicate, timeout: float, what: str, cluster: LocalSlurm, poll: float = 1.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    queue = subprocess.run(["scontrol", "show", "job"], env=cluster.env, check=False, capture_output=True, text=True).stdout
    raise AssertionError(f"timed out waiting for {what}\n{queue[-3000:]}\n{cluster.logs(tail=1500)}")


def _cells(report_json: Path) -> dict[str, tuple]:
    data = json.loads(report_json.read_text())
    return {c["cell"]: (c["status"], json.dumps(c["verdicts"], sort_keys=True)) for c in data["cells"]}


def _report_done(run_dir: Path, report_job: str) -> bool:
    states = slurm.scheduler_states([report_job])
    return states.get(report_job, "").startswith(("COMPLETED", "FAILED", "CANCELLED"))


def test_mini_suite_through_slurm_with_dependencies_status_and_report(slurm_env: LocalSlurm, tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "expected").mkdir()
    (tmp_path / "suites" / "mini.yaml").write_text(SUITE)
    (tmp_path / "expected" / "mini.yaml").write_text(EXPECTED)
    suite = load_suite(tmp_path / "suites" / "mini.yaml")
    fake = LaunchFake(str(tmp_path / "expected" / "mini.yaml"), train_s=5.0)
    spec = LaunchSpec.of(suite, RunOptions(out=tmp_path / "runs", data_root=tmp_path / "data"), fake)
    lines: list[str] = []
    data = slurm.submit(spec, slurm.SlurmSettings(cpus_per_task=1, time_min=30), progress=lines.append)
    print("\n".join(lines))
    run_dir = spec.runner().run_dir
    assert read_jobs(run_dir)["jobs"] == data["jobs"]
    ft = next(j for j in data["jobs"] if j["cell"] == "finetune")
    plus = next(j for j in data["jobs"] if j["cell"] == "plus")
    assert ft["after"] == [plus["job_id"]]
    script = Path(ft["script"]).read_text()
    assert f"--dependency=afterok:{plus['job_id']}" in script and "--requeue" in script

    _wait_for(lambda: _report_done(run_dir, data["report_job"]["job_id"]), 600, "the report job", slurm_env)
    status = render(run_dir)
    print(status)
    assert status.count(" done ") >= 4, status  # base, plus, finetune, the report job
    spans = {c: json.loads((run_dir / c / "seed0/train/span.json").read_text()) for c in ("base", "plus", "finetune")}
    assert spans["base"][0] < spans["plus"][1] and spans["plus"][0] < spans["base"][1], "no two jobs at once"
    assert spans["finetune"][0] >= spans["plus"][1]

    seq = LaunchSpec.of(suite, RunOptions(out=tmp_path / "seq", data_root=tmp_path / "data"), fake).runner()
    seq.run()
    from repro.suite.report import write_reports

    write_reports(seq.run_dir)
    assert _cells(run_dir / "report.json") == _cells(seq.run_dir / "report.json")


# The smoke suite with a schedule long enough to interrupt: 8 steps, a checkpoint every 2.
LONGER_SMOKE = """\
include: {smoke}
suite: smoke_requeue
expected: {expected}
scales:
  tiny:
    train:
      schedule: {{steps: 8, checkpoint_every_steps: 2}}
"""


def _repro(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repro", *args], check=False, capture_output=True, text=True, env=env)


def _last_step(train_dir: Path) -> int:
    import torch

    last = train_dir / "checkpoints" / "last.pt"
    try:
        return int(torch.load(last, map_location="cpu", weights_only=True)["step"])
    except (OSError, RuntimeError, EOFError, KeyError):
        return -1


@pytest.mark.slow
def test_smoke_suite_through_slurm_survives_requeue_and_preemption(slurm_env: LocalSlurm, tmp_path: Path) -> None:
    suite_file = tmp_path / "smoke_requeue.yaml"
    suite_file.write_text(
        LONGER_SMOKE.format(smoke=REPO / "suites" / "smoke.yaml", expected=REPO / "expected" / "smoke.yaml")
    )
    env = dict(os.environ)
    # the reference: the same suite run locally, in-process, meanwhile
    local = subprocess.Popen(
        [sys.executable, "-m", "repro", "suite", str(suite_file), "--out", str(tmp_path / "local"), "--report-only"],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "local.log", "w"),  # noqa: SIM115
        env=env,
    )
    out = tmp_path / "cluster"
    sub = _repro("suite", str(suite_file), "--launcher", "slurm", "--cpus-per-task", "1", "--time", "90",
                 "--signal-delay", "60", "--out", str(out), env=env)
    print(sub.stderr)
    assert sub.returncode == 0, sub.stderr
    run_dir = out / "smoke_requeue"
    jobs = {j["cell"]: j for j in read_jobs(run_dir)["jobs"]}
    assert jobs["metric_ft"]["after"] == [jobs["gt_pseudo"]["job_id"]]

    def running_both() -> bool:
        states = slurm.scheduler_states([jobs["gt_only"]["job_id"], jobs["gt_pseudo"]["job_id"]])
        return all(s.startswith("RUNNING") for s in states.values()) and len(states) == 2

    _wait_for(running_both, 600, "two jobs running at once", slurm_env)
    print(render(run_dir))
    # gt_only: killed mid-training and requeued by hand (resumes from its periodic checkpoint)
    _wait_for(lambda: 2 <= _last_step(run_dir / "gt_only/seed0/train") < 8, 1800, "gt_only's step-2 checkpoint", slurm_env, 0.5)
    subprocess.run(["scontrol", "requeue", jobs["gt_only"]["job_id"]], env=slurm_env.env, check=True)
    # gt_pseudo: the scheduler's warning signal (checkpoint at the next step, submitit requeues it)
    _wait_for(lambda: 2 <= _last_step(run_dir / "gt_pseudo/seed0/train") < 8, 1800, "gt_pseudo's checkpoint", slurm_env, 0.5)
    subprocess.run(["scancel", "--signal=USR2", jobs["gt_pseudo"]["job_id"]], env=slurm_env.env, check=True)
    print(render(run_dir))

    report_job = read_jobs(run_dir)["report_job"]["job_id"]
    _wait_for(lambda: _report_done(run_dir, report_job), 2700, "the report job", slurm_env, 5)
    status = render(run_dir)
    print(status)
    for cell in ("gt_only", "gt_pseudo"):
        attempts = json.loads((run_dir / cell / "seed0/job.json").read_text())["attempts"]
        assert len(attempts) >= 2 and attempts[-1]["resume"] and attempts[-1]["state"] == "ok", attempts
        assert "resuming" in (run_dir / cell / "cell.log").read_text()
    pseudo_attempts = json.loads((run_dir / "gt_pseudo/seed0/job.json").read_text())["attempts"]
    assert any(a.get("state") == "preempted" for a in pseudo_attempts), pseudo_attempts
    assert "resumed after 1 preemption" in status

    assert local.wait(timeout=2700) == 0, (tmp_path / "local.log").read_text()[-3000:]
    cluster_cells = _cells(run_dir / "report.json")
    local_cells = _cells(tmp_path / "local" / "smoke_requeue" / "report.json")
    print(json.dumps(cluster_cells, indent=1))
    assert cluster_cells == local_cells
    assert all(status == "ok" for status, _ in cluster_cells.values())
