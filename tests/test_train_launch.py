"""One cell on several ranks (``--gpus-per-cell``): started like ``torchrun``, stopped together on a
scheduler's warning, resumed to the end (gloo processes on CPU)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import torch

from repro.run_settings import TrainConfig
from repro.train import preemption
from repro.train.launch import train_on_ranks

H = 32
STEPS = 8  # 4 per epoch (8 panoramas, global batch 2): a checkpoint every 4 steps

CONFIG = {
    "train": {
        "student": {"name": "equi", "pretrained": False},
        "labeled": [{"dataset": "matterport3d", "split": "train"}],
        "input_size": [H, 2 * H],
        "precision": "fp32",
        "schedule": {"steps": STEPS, "batch_size": 2, "num_workers": 0},
    }
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from repro.data.synth import write_dataset

    root = tmp_path_factory.mktemp("data")
    write_dataset("matterport3d", root / "matterport3d", count=8, height=H, seed=0, progress=False, workers=1)
    return root


def _settings():  # type: ignore[no-untyped-def]
    from repro.config import from_data

    return from_data(TrainConfig, CONFIG).train


def _steps(out: Path) -> list[dict]:
    path = out / "log" / "steps.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_two_ranks_stop_together_on_a_warning_and_resume_to_the_end(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "train"
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["checkpoint"] = train_on_ranks(_settings(), 2, out_dir=out, data_root=data_root, device="cpu")
        except preemption.TrainingPreempted as stop:
            outcome["stopped"] = stop

    preemption.clear()
    job = threading.Thread(target=run)
    job.start()
    deadline = time.time() + 240
    while len(_steps(out)) < 1 and job.is_alive() and time.time() < deadline:
        time.sleep(0.1)
    preemption.request()  # what the job's warning-signal handler does
    job.join(240)
    preemption.clear()
    assert "stopped" in outcome, outcome  # both ranks stopped; the job sees one TrainingPreempted
    step = outcome["stopped"].step
    assert 1 <= step < STEPS
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == step and state["world_size"] == 2 and len(state["rng"]) == 2
    assert not (out / "checkpoints" / "final.pt").exists()

    final = train_on_ranks(_settings(), 2, out_dir=out, data_root=data_root, device="cpu", resume=True)
    assert final == out / "checkpoints" / "final.pt" and final.is_file()
    steps = [r["step"] for r in _steps(out)]
    assert steps == list(range(STEPS)), steps  # rank 0 logged each step once, none lost or repeated


def test_a_failing_rank_fails_the_cell_with_its_message(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"training rank \d of 2 failed: .*matterport3d"):
        train_on_ranks(_settings(), 2, out_dir=tmp_path / "train", data_root=tmp_path / "nothing", device="cpu")


def test_one_rank_is_not_a_launch() -> None:
    with pytest.raises(ValueError, match="at least 2 ranks"):
        train_on_ranks(_settings(), 1, out_dir=Path("unused"), data_root=Path("unused"))
