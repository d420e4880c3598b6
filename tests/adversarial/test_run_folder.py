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


# ----------------------------------------------------------------------------- run-folder lock

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from repro.cli import main  # noqa: E402
from repro.suite.lock import FolderInUse, run_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HOLDER = """\
import sys, time
from pathlib import Path
from repro.suite.lock import run_folder
with run_folder(Path(sys.argv[1]), "repro suite holder-test"):
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder():
    """Start a process that owns a folder's run lock; yields a function taking the folder."""
    procs: list[subprocess.Popen] = []

    def start(folder: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True, env=env
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"repro {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_a_second_suite_run_into_the_same_folder_is_refused_naming_the_holder(tmp_path, holder, capsys) -> None:
    write_suite(tmp_path, 0.25)
    proc = holder(tmp_path / "runs" / "adv")
    rc = main(["suite", "adv", "--suites", str(tmp_path / "suites"), "--out", str(tmp_path / "runs")])
    line = _one_error_line(capsys.readouterr().err, "suite")
    assert rc == 2 and f"pid {proc.pid}" in line and "host " in line and "started " in line
    assert "holder-test" in line and str(tmp_path / "runs" / "adv") in line
    assert not (tmp_path / "runs" / "adv" / "suite.json").exists(), "the refused run wrote into the folder"


TRAIN_CONFIG = """\
output_dir: {out}
data_root: {data}
train:
  student: {{name: equi, pretrained: false}}
  labeled: [{{dataset: matterport3d, split: train}}]
  input_size: [32, 64]
  precision: fp32
  schedule: {{steps: 1, batch_size: 2, num_workers: 0}}
"""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from repro.data.synth import write_dataset

    root = tmp_path_factory.mktemp("data")
    write_dataset("matterport3d", root / "matterport3d", count=2, height=32, seed=0, progress=False)
    return root


def _train_config(tmp_path: Path, data_root: Path, out: Path) -> Path:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(TRAIN_CONFIG.format(out=out, data=data_root))
    return cfg


@pytest.mark.parametrize("flag", ["--output-dir", "--out"])
def test_a_second_train_into_the_same_folder_is_refused(tmp_path, data_root, holder, capsys, flag) -> None:
    out = tmp_path / "run"
    proc = holder(out)
    rc = main(["train", str(_train_config(tmp_path, data_root, tmp_path / "elsewhere")), flag, str(out)])
    err = capsys.readouterr().err
    if flag == "--output-dir":  # the old spelling still works for a release, after a one-line note
        note, _, err = err.partition("\n")
        assert "--output-dir is deprecated" in note and "use --out" in note
    line = _one_error_line(err, "train")
    assert rc == 2 and f"pid {proc.pid}" in line and "in use by" in line
    assert not (out / "checkpoints").exists() and not (tmp_path / "elsewhere").exists()


def test_a_stale_lock_of_a_killed_run_is_taken_over_with_a_note(tmp_path, holder) -> None:
    proc = holder(tmp_path)
    proc.kill()  # SIGKILL: no cleanup runs, the holder record stays behind
    proc.wait()
    with run_folder(tmp_path, "repro train x") as notes:
        assert len(notes) == 1 and "stale lock" in notes[0] and f"pid {proc.pid}" in notes[0]
        assert "taken over" in notes[0]
        with pytest.raises(FolderInUse, match=f"pid {os.getpid()}"):  # and now we hold it
            with run_folder(tmp_path, "another"):
                pass
    with run_folder(tmp_path, "again") as notes:  # released cleanly: nothing stale
        assert notes == []


# ----------------------------------------------------------------------------- stray temp files


def test_stray_temps_of_killed_atomic_writes_are_removed_at_start_and_nothing_else(tmp_path: Path) -> None:
    ours = [
        tmp_path / "cell" / "seed0" / "train" / "checkpoints" / ".last.pt.k2j4x_9a.tmp",
        tmp_path / ".suite.json.abcdefgh.tmp",
        tmp_path / "masks" / ".a.png.0123abcd-s0of2.tmp",  # a tagged writer's
    ]
    theirs = [
        tmp_path / "notes.tmp",  # not hidden
        tmp_path / ".notes.tmp",  # no random part
        tmp_path / ".x.UPPERCAS.tmp",  # mkstemp never makes upper case
        tmp_path / "cell" / "final.pt",
    ]
    for path in [*ours, *theirs]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 100)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / ".final.pt.abcdefgh.tmp").write_bytes(b"x")
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)  # never followed
    with run_folder(tmp_path, "repro suite t") as notes:
        assert any("removed 3 temp file(s)" in n for n in notes), notes
    assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in theirs) and (outside / ".final.pt.abcdefgh.tmp").exists()


# ----------------------------------------------------------------------------- interrupted training runs


def test_train_into_an_interrupted_run_needs_resume_or_force_and_loses_nothing(tmp_path, data_root, capsys) -> None:
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    steps = out / "log" / "steps.jsonl"
    last.parent.mkdir(parents=True)
    steps.parent.mkdir(parents=True)
    last.write_bytes(b"step 10 state")
    steps.write_text("".join(json.dumps({"step": i, "loss": 1.0}) + "\n" for i in range(10)))
    before = {p: p.read_bytes() for p in (last, steps)}
    cfg = _train_config(tmp_path, data_root, out)
    rc = main(["train", str(cfg), "--no-progress", "--device", "cpu"])
    line = _one_error_line(capsys.readouterr().err, "train")
    assert rc == 2 and "interrupted training run" in line and "--resume" in line and "--force" in line
    assert "10 steps logged" in line and str(out) in line
    assert {p: p.read_bytes() for p in before} == before, "the interrupted run was touched"

    # --force starts over, and the start of the run removes the killed writes' temp files
    stray = out / "checkpoints" / ".last.pt.zz99yy88.tmp"
    stray.write_bytes(b"half a checkpoint")
    rc = main(["train", str(cfg), "--no-progress", "--device", "cpu", "--force"])
    err = capsys.readouterr().err
    assert rc == 0 and "repro train: note: removed 1 temp file(s)" in err and not stray.exists()
    assert (out / "checkpoints" / "final.pt").is_file() and len(steps.read_text().splitlines()) == 1


# ----------------------------------------------------------------------------- kill -9 at write points

import signal  # noqa: E402

import torch  # noqa: E402

TRAIN_CHILD = """\
import os, signal, sys
sys.path.insert(0, sys.argv[4])
import torch
torch.set_num_threads(1)
from train_fixtures import components, settings
from repro.train import Trainer

out, point, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
real_replace, seen = os.replace, {"n": 0}

def replace(src, dst, *a, **kw):  # SIGKILL between a complete temp file and its rename
    if point in ("rename-last", "rename-final") and str(dst).endswith(point.split("-")[1] + ".pt"):
        seen["n"] += 1
        if seen["n"] == k:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *a, **kw)

os.replace = replace

def after_step(trainer, done):
    if point == "step" and done == k:
        os.kill(os.getpid(), signal.SIGKILL)

s = settings(schedule={"epochs": None, "steps": 6, "batch_size": 2, "checkpoint_every_steps": 1})
Trainer(s, components(4), out, callbacks=[after_step], progress=False).fit()
"""


def _tiny_settings():
    from train_fixtures import settings

    return settings(schedule={"epochs": None, "steps": 6, "batch_size": 2, "checkpoint_every_steps": 1})


def _fit_here(out: Path, **kw) -> Path:
    from train_fixtures import components

    from repro.train import Trainer

    torch.set_num_threads(1)
    return Trainer(_tiny_settings(), components(4), out, progress=False).fit(**kw)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    final = _fit_here(tmp_path_factory.mktemp("full"))
    return torch.load(final, map_location="cpu", weights_only=True)["model"]


@pytest.mark.parametrize(
    ("point", "k", "temps"),
    [
        ("step", 3, 0),  # after step 3's update, before its checkpoint
        ("rename-last", 4, 1),  # last.pt of step 4 fully written, not yet renamed
        ("rename-final", 1, 1),  # final.pt written, not yet renamed: the run is not finished
    ],
)
def test_training_killed_at_a_write_point_resumes_to_the_uninterrupted_weights(
    tmp_path: Path, uninterrupted, point: str, k: int, temps: int
) -> None:
    from repro.train import InterruptedRunError

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", TRAIN_CHILD, str(out), point, str(k), str(REPO / "tests")], env=env, timeout=300
    )
    assert child.returncode == -signal.SIGKILL
    assert not (out / "checkpoints" / "final.pt").exists()
    last = torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert 0 < last["step"] <= 6  # 6: every step done, final.pt never appeared
    with pytest.raises(InterruptedRunError, match="--resume"):  # forgetting --resume loses nothing
        _fit_here(out)
    with run_folder(out, "repro train resume") as notes:  # what `repro train --resume` does first
        assert (f"removed {temps} temp file(s)" in " ".join(notes)) == bool(temps)
        final = _fit_here(out, resume=True)
    resumed = torch.load(final, map_location="cpu", weights_only=True)["model"]
    assert all(torch.equal(resumed[n], uninterrupted[n]) for n in uninterrupted)
    steps = [json.loads(line)["step"] for line in (out / "log" / "steps.jsonl").read_text().splitlines()]
    assert steps == list(range(6)), "the step log does not read like one uninterrupted run"


SUITE_CHILD = """\
import os, signal, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from test_run_folder import WeightsExecutor, write_suite
from repro.suite.expected import load_expected
from repro.suite.runner import RunOptions, SuiteRunner
from repro.suite.schema import load_suite

root = Path(sys.argv[1])
real_replace = os.replace

def replace(src, dst, *a, **kw):  # SIGKILL as the cell's result.json is about to appear
    if str(dst).endswith("result.json"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *a, **kw)

os.replace = replace
suite = load_suite(write_suite(root, 0.25))
SuiteRunner(suite, WeightsExecutor(), RunOptions(out=root / "runs", data_root=root / "data"),
            load_expected(suite.expected_path)).run()
"""


def test_suite_killed_while_writing_a_result_reports_fail_then_completes_on_rerun(tmp_path: Path, capsys) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", SUITE_CHILD, str(tmp_path), str(Path(__file__).parent)], env=env, timeout=300
    )
    assert child.returncode == -signal.SIGKILL
    run_dir = tmp_path / "runs" / "adv"
    assert not (run_dir / "base" / "result.json").exists()
    assert main(["suite", "report", str(run_dir)]) == 1  # never PASS on a cell without its result
    assert "PASS" not in capsys.readouterr().out
    ex = WeightsExecutor()
    with run_folder(run_dir, "repro suite adv") as notes:
        assert any("removed 1 temp file(s)" in n for n in notes)  # the half-written result.json
        result = run_suite(tmp_path, 0.25, ex)
    assert ex.trained == 0 and result["seeds"][0]["train_reused_from"] == "adv/base"  # training kept
    assert result["status"] == "ok" and result["metrics"]["abs_rel"] == [0.25]
    assert main(["suite", "report", str(run_dir)]) == 0
