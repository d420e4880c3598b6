"""Adversarial: a diverging run never finishes with a broken model, and skipped steps read as skipped.

Poisoned students (a test-only wrapper around the trainer tests' TinyStudent) make the failure
happen at a known step; a BatchNorm student with lr 1e9 is the realistic case from the issue.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from train_fixtures import TinyStudent, components, one_thread, settings

from repro.models import checkpoints as ckpt
from repro.train import NonFiniteLossError, NonFiniteParametersError, Trainer
from repro.train.steplog import read_jsonl

pytestmark = pytest.mark.usefixtures("one_thread")
_ = one_thread


class Poisoned(TinyStudent):
    """TEST-ONLY: NaN in a buffer from forward call ``buffer_at`` on, NaN outputs on ``nan_outputs`` calls."""

    def __init__(self, buffer_at: int | None = None, nan_outputs: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.register_buffer("stat", torch.zeros(1))
        self.buffer_at, self.nan_outputs, self.calls = buffer_at, set(nan_outputs), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.training and self.calls == self.buffer_at:
            self.stat.fill_(float("nan"))
        out = super().forward(x)
        return out * float("nan") if self.calls in self.nan_outputs else out


class NormStudent(nn.Module):
    """A conv + BatchNorm student: a huge learning rate sends its running statistics to inf/NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
            nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.sigmoid(self.net(x))


def _fit(out: Path, model: nn.Module, **schedule) -> Path:
    s = settings(schedule={"epochs": None, "steps": 6, "batch_size": 2, **schedule})
    return Trainer(s, components(4, model=model), out, progress=False).fit()


def _all_finite(path: Path) -> bool:
    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def test_non_finite_weights_stop_the_run_naming_the_step_and_keeping_the_last_good_checkpoint(tmp_path: Path) -> None:
    # 2 steps per epoch (4 images, batch 2): last.pt is written after steps 0-1; call 4 is step 3
    with pytest.raises(NonFiniteParametersError) as err:
        _fit(tmp_path, Poisoned(buffer_at=4))
    message = str(err.value)
    assert "step 3" in message and "stat" in message
    last = tmp_path / "checkpoints" / ckpt.LAST
    assert str(last) in message and "2 steps done" in message
    assert not (tmp_path / "checkpoints" / ckpt.FINAL).exists()
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["step"] == 2 and _all_finite(last), "the last good checkpoint was overwritten by the broken state"


def test_lr_1e9_with_batchnorm_never_writes_nan_into_final(tmp_path: Path) -> None:
    torch.manual_seed(0)
    try:
        final = _fit(tmp_path, NormStudent(), lr=1e9)
    except (NonFiniteParametersError, NonFiniteLossError) as exc:
        assert "learning rate" in str(exc)
        assert not (tmp_path / "checkpoints" / ckpt.FINAL).exists()
        last = tmp_path / "checkpoints" / ckpt.LAST
        assert not last.exists() or _all_finite(last)
    else:  # finishing is acceptable only with finite weights
        assert _all_finite(final)


def test_skipped_steps_are_logged_as_skipped_and_an_all_skipped_epoch_has_no_fake_zero_loss(tmp_path: Path) -> None:
    # epoch 0 = forward calls 1 and 2, both NaN; epoch 1 learns normally
    _fit(tmp_path, Poisoned(nan_outputs=(1, 2)), steps=4, max_bad_steps=5)
    steps = read_jsonl(tmp_path / "log" / "steps.jsonl")
    assert [s["skipped"] for s in steps] == [True, True, False, False]
    assert all(s["loss"] is None and s["skip_reason"] == "non-finite gradient" for s in steps[:2])
    assert all(isinstance(s["loss"], float) and s["loss"] > 0 for s in steps[2:])
    epochs = read_jsonl(tmp_path / "log" / "epochs.jsonl")
    assert epochs[0]["loss"] is None and epochs[0]["skipped"] == 2 and epochs[0]["steps"] == 2
    assert math.isfinite(epochs[1]["loss"]) and epochs[1]["loss"] > 0 and epochs[1]["skipped"] == 0
    for line in (tmp_path / "log" / "epochs.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in the epoch log"))


def test_too_many_bad_steps_without_unlabeled_data_do_not_blame_masks(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError) as err:
        _fit(tmp_path, Poisoned(nan_outputs=(1, 2, 3)), max_bad_steps=3)
    assert "masks" not in str(err.value) and "learning rate" in str(err.value)
    assert not (tmp_path / "checkpoints" / ckpt.FINAL).exists()
