"""A stop request (the scheduler's warning signal) checkpoints at a step boundary; resume is exact."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from train_fixtures import components, load_model_state, one_thread, settings, state_equal

from repro.train import Trainer, preemption

pytestmark = pytest.mark.usefixtures("one_thread")
_ = one_thread


def _trainer(tmp: Path, s, **kw) -> Trainer:
    return Trainer(s, components(5, 5, None, tuple(s.input_size)), tmp, progress=False, **kw)


def _signal_at(step: int):
    """A real signal, delivered in the middle of training, whose handler only files the request."""

    def callback(trainer: Trainer, done: int) -> None:
        if done == step:
            os.kill(os.getpid(), signal.SIGUSR2)

    return callback


def test_stop_request_checkpoints_the_step_and_resume_is_bit_identical(tmp_path: Path) -> None:
    s = settings(
        schedule={"epochs": None, "steps": 7, "batch_size": 2, "checkpoint_every_steps": 100},
        pseudo=[{"dataset": "structured3d", "split": "all"}],
        teacher={"id": "oracle"},
        distill={"face_size": 8},
        ratio="1:2",
    )
    full = _trainer(tmp_path / "full", s).fit()
    old = signal.signal(signal.SIGUSR2, lambda *_: preemption.request())
    try:
        with pytest.raises(preemption.TrainingPreempted) as info:
            _trainer(tmp_path / "cut", s, callbacks=[_signal_at(2)]).fit()
    finally:
        signal.signal(signal.SIGUSR2, old)
        preemption.clear()
    # the request is read in the next step's all-reduce (no extra sync): training stops after step 3,
    # mid-epoch and not a checkpoint step, so last.pt was written because of the request
    assert info.value.step == 3
    assert torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)["step"] == 3
    torch.manual_seed(99)
    resumed = _trainer(tmp_path / "cut", s).fit(resume=True)
    assert state_equal(load_model_state(full), load_model_state(resumed))


def test_a_request_after_the_last_step_lets_training_finish(tmp_path: Path) -> None:
    s = settings(schedule={"epochs": None, "steps": 2, "batch_size": 2})
    comps = components(4, None, None, tuple(s.input_size))

    def late(trainer: Trainer, done: int) -> None:
        if done == 2:
            preemption.request()

    try:
        final = Trainer(s, comps, tmp_path, progress=False, callbacks=[late]).fit()
    finally:
        preemption.clear()
    assert final.is_file()
