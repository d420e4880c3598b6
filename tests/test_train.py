"""The training loop on tiny models and in-memory panoramas: order, resume, guard, recipes, configs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from train_fixtures import (
    EXACT_ORACLE,
    CountingTeacher,
    TinyStudent,
    components,
    load_model_state,
    one_thread,
    settings,
    state_equal,
)

from repro.config import ConfigError
from repro.models import CheckpointError
from repro.run_settings import load_train_config
from repro.train import NonFiniteLossError, Trainer
from repro.train.optim import build_optimizer, build_scheduler
from repro.train.sampling import LABELED, Stream, StreamBatches
from repro.train.steplog import read_jsonl

pytestmark = pytest.mark.usefixtures("one_thread")
_ = one_thread  # the fixture is used through pytestmark


def _trainer(tmp: Path, s=None, n: int = 4, model=None, n_unlabeled=None, oracle=None, **kw) -> Trainer:
    size = tuple(s.input_size) if s is not None else (16, 32)
    comps = components(n, n_unlabeled, oracle, size, model=model)
    return Trainer(s or settings(), comps, tmp, progress=False, **kw)


def _joint(**overrides) -> dict:
    """Settings overrides of a joint run: pseudo-labeled rooms, the oracle teacher, 8-px faces."""
    return {
        "pseudo": [{"dataset": "structured3d", "split": "all"}],
        "teacher": {"id": "oracle"},
        "distill": {"face_size": 8},
        **overrides,
    }


# ----------------------------------------------------------------------------- data order


def test_stream_is_a_function_of_the_step_and_shards_the_global_batch() -> None:
    single = Stream(10, 4, seed=3, role=LABELED)
    assert single.batches_per_epoch == 2  # the incomplete last batch is dropped
    steps = list(zip(range(6), StreamBatches(single, 0)))
    # each epoch is a permutation without repeats, and epochs differ
    e0 = [i for _, b in steps[:2] for _, i in b]
    e1 = [i for _, b in steps[2:4] for _, i in b]
    assert len(set(e0)) == 8 and e0 != e1
    # resuming the sampler at step 3 reads exactly what an uninterrupted one reads there
    assert next(iter(StreamBatches(single, 3))) == steps[3][1]
    # two ranks read contiguous halves of the same global batch
    ranks = [Stream(10, 4, seed=3, role=LABELED, rank=r, world_size=2) for r in (0, 1)]
    for step in range(6):
        halves = [next(iter(StreamBatches(s, step))) for s in ranks]
        assert halves[0] + halves[1] == steps[step][1]


def test_stream_rejects_a_dataset_smaller_than_one_batch() -> None:
    with pytest.raises(ValueError, match="labeled set has 3 images, fewer than one global batch of 4"):
        Stream(3, 4, seed=0)


# ----------------------------------------------------------------------------- learning


def test_gt_only_training_overfits_four_panoramas(tmp_path: Path) -> None:
    s = settings(schedule={"epochs": 30, "batch_size": 4, "lr": 1e-2})
    trainer = _trainer(tmp_path, s)
    final = trainer.fit()
    steps = read_jsonl(tmp_path / "log" / "steps.jsonl")
    assert len(steps) == 30 and final.name == "final.pt"
    first = sum(r["loss"] for r in steps[:3]) / 3
    last = sum(r["loss"] for r in steps[-3:]) / 3
    assert last <= 0.5 * first, (first, last)
    epochs = read_jsonl(tmp_path / "log" / "epochs.jsonl")
    assert [e["epoch"] for e in epochs] == list(range(30))


@pytest.mark.parametrize("projection", ["cube", "tangent", "equirect_stitched"])
@pytest.mark.parametrize("ratio", ["1:1", "1:2", "1:4"])
def test_joint_training_runs_every_projection_and_ratio(tmp_path: Path, projection: str, ratio: str) -> None:
    s = settings(
        schedule={"epochs": 1, "batch_size": 2},
        **_joint(ratio=ratio, distill={"face_size": 8, "projection": projection}),
    )
    comps = components(4, 8)
    teacher = comps.teacher = CountingTeacher(comps.teacher)
    Trainer(s, comps, tmp_path, progress=False).fit()
    steps = read_jsonl(tmp_path / "log" / "steps.jsonl")
    assert len(steps) == 2
    assert all(r["loss_pseudo"] > 0 and math.isfinite(r["loss_pseudo"]) for r in steps)
    faces = 20 if projection == "tangent" else 6
    n_unlabeled = 2 * int(ratio.split(":")[1])
    assert teacher.calls == [n_unlabeled * faces] * 2  # unlabeled batch = ratio × labeled batch


def test_joint_training_with_the_oracle_overfits(tmp_path: Path) -> None:
    # labeled and unlabeled rooms, exact oracle: both terms must fall (16-px faces: at 8 px the
    # nearest-sampled student faces are too coarse for the pseudo term to fall this far)
    s = settings(
        input_size=[32, 64], schedule={"epochs": 30, "batch_size": 4, "lr": 1e-2}, **_joint(distill={"face_size": 16})
    )
    _trainer(tmp_path, s, n=4, n_unlabeled=4, oracle=EXACT_ORACLE).fit()
    steps = read_jsonl(tmp_path / "log" / "steps.jsonl")
    for key in ("loss", "loss_pseudo"):
        first = sum(r[key] for r in steps[:3]) / 3
        last = sum(r[key] for r in steps[-3:]) / 3
        assert last <= 0.5 * first, (key, first, last)


# ----------------------------------------------------------------------------- exact resume


class Crash(Exception):
    pass


def _crash_at(step: int):
    def callback(trainer: Trainer, done: int) -> None:
        if done == step:
            raise Crash(f"killed after step {done}")

    return callback


@pytest.mark.parametrize("joint", [False, True], ids=["gt_only", "joint_noisy_oracle"])
def test_killed_run_resumes_to_bit_identical_weights(tmp_path: Path, joint: bool, capsys) -> None:
    # 5 images, batch 2: 2 steps per epoch, 7 steps bounded by `steps` (ends mid-epoch);
    # checkpoints every 3 steps and every epoch; the crash at step 5 loses step 5 (last.pt at 4).
    # Joint: ratio 1:2 over 5 unlabeled rooms (the unlabeled stream cycles at another rate), random
    # rotations and the oracle's random distortion + noise (a generator that must be restored).
    extra = _joint(ratio="1:2") if joint else {}
    s = settings(schedule={"epochs": None, "steps": 7, "batch_size": 2, "checkpoint_every_steps": 3}, **extra)
    n_unl = 5 if joint else None
    full = _trainer(tmp_path / "full", s, n=5, n_unlabeled=n_unl).fit()

    with pytest.raises(Crash):
        _trainer(tmp_path / "cut", s, n=5, n_unlabeled=n_unl, callbacks=[_crash_at(5)]).fit()
    assert torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)["step"] == 4
    torch.manual_seed(123)  # the resumed process starts from another global RNG state
    resumed = _trainer(tmp_path / "cut", s, n=5, n_unlabeled=n_unl).fit(resume=True)
    assert "at step 4 of 7 (epoch 2, counted from 0)" in capsys.readouterr().err  # 2 steps per epoch

    assert state_equal(load_model_state(full), load_model_state(resumed))
    full_last = torch.load(tmp_path / "full/checkpoints/last.pt", weights_only=True)
    cut_last = torch.load(tmp_path / "cut/checkpoints/last.pt", weights_only=True)
    assert full_last["optimizer"]["state"][0]["step"] == cut_last["optimizer"]["state"][0]["step"] == 7
    # the log reads like one uninterrupted run
    assert [r["step"] for r in read_jsonl(tmp_path / "cut/log/steps.jsonl")] == list(range(7))
    losses = [r["loss"] for r in read_jsonl(tmp_path / "full/log/steps.jsonl")]
    assert losses == [r["loss"] for r in read_jsonl(tmp_path / "cut/log/steps.jsonl")]


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    s = settings(schedule={"epochs": 1, "batch_size": 2})
    _trainer(tmp_path, s).fit()
    other = settings(schedule={"epochs": 1, "batch_size": 2, "lr": 5e-4})
    with pytest.raises(CheckpointError, match=r"schedule.lr: 0.001 in the checkpoint, 0.0005 now"):
        _trainer(tmp_path, other).fit(resume=True)


# ----------------------------------------------------------------------------- NaN guard


class NaNAfter(TinyStudent):
    """Outputs NaN on the calls listed in ``bad`` (0-based forward count)."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__()
        self.bad, self.calls = bad, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        self.calls += 1
        return out * float("nan") if self.calls - 1 in self.bad else out


def test_nan_guard_skips_bad_steps_and_stops_after_too_many(tmp_path: Path) -> None:
    s = settings(schedule={"epochs": 3, "batch_size": 2, "max_bad_steps": 3})
    model = NaNAfter({1, 2})
    _trainer(tmp_path / "skip", s, model=model).fit()
    records = read_jsonl(tmp_path / "skip/log/steps.jsonl")
    assert [r["skipped"] for r in records] == [False, True, True, False, False, False]
    assert all(math.isfinite(p.sum().item()) for p in model.parameters())  # NaN never reached the weights
    assert read_jsonl(tmp_path / "skip/log/epochs.jsonl")[0]["skipped"] == 1

    with pytest.raises(NonFiniteLossError, match=r"3 consecutive steps had a NaN/inf loss or gradient .*room"):
        _trainer(tmp_path / "stop", s, model=NaNAfter({1, 2, 3, 4})).fit()


# ----------------------------------------------------------------------------- recipes and configs


def test_published_recipes_build_the_published_optimizers() -> None:
    model = TinyStudent()
    ego = build_optimizer(model.parameters(), settings(student={"name": "egformer"}, schedule={"lr": None}))
    assert isinstance(ego, torch.optim.AdamW)
    group = ego.param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (5e-5, (0.5, 0.999), 0.01)
    bif = build_optimizer(model.parameters(), settings(student={"name": "bifusepp"}, schedule={"lr": None}))
    assert type(bif) is torch.optim.Adam and bif.param_groups[0]["lr"] == 3e-4
    # HoHoNet: poly 0.9 over 60 epochs, constant within an epoch
    hoho = settings(student={"name": "hohonet"}, schedule={"epochs": None, "lr": None})
    assert hoho.schedule.epochs == 60 and hoho.schedule.batch_size == 2
    opt = build_optimizer(model.parameters(), hoho)
    sched = build_scheduler(opt, hoho, steps_per_epoch=10, total_steps=600)
    lrs = []
    for _ in range(25):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == lrs[9] == pytest.approx(1e-4)
    assert lrs[10] == pytest.approx(1e-4 * (1 - 1 / 60) ** 0.9) and lrs[20] == pytest.approx(1e-4 * (1 - 2 / 60) ** 0.9)


def test_malformed_config_names_the_bad_key(tmp_path: Path) -> None:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(
        "train:\n  student: {name: unifuse}\n  labeled: [{dataset: matterport3d}]\n  schedule:\n    epoch: 3\n"
    )
    with pytest.raises(
        ConfigError, match=r"train.yaml:5: key 'train.schedule.epoch': unknown key \(did you mean 'epochs'\?\)"
    ):
        load_train_config(cfg)
    cfg.write_text("train:\n  student: {name: unifuse}\n  labeled: [{dataset: matterport3d}]\n  ratio: '2:1'\n")
    with pytest.raises(ConfigError, match=r"ratio'?: must look like '1:N'"):
        load_train_config(cfg)

    from repro.cli import main

    cfg.write_text(
        "train:\n  student: {name: unifuse}\n  labeled: [{dataset: matterport3d}]\n  distill: {projection: sphere}\n"
    )
    assert main(["train", str(cfg)]) == 2


# ----------------------------------------------------------------------------- DDP


#: 2 gloo processes vs 1 process, same global batch, Adam, 6 steps: the only differences are float
#: summation orders (per-rank loss means averaged by DDP's all-reduce instead of one mean).
DDP_ATOL = 1e-5


def test_two_process_gloo_ddp_matches_one_process(tmp_path: Path) -> None:
    """Joint run (labeled 4 + unlabeled 4 per global step, exact oracle, random rotations)."""
    import json

    from train_fixtures import launch, max_abs_diff, run_worker

    overrides = {"schedule": {"epochs": 3, "batch_size": 4, "lr": 1e-3, "num_workers": 0}, **_joint()}
    run_worker(str(tmp_path / "single"), json.dumps(overrides), n_images=8, n_unlabeled=8)  # in this process
    launch(2, tmp_path / "ddp", overrides, n_images=8, n_unlabeled=8)
    single = load_model_state(tmp_path / "single/checkpoints/final.pt")
    ddp = load_model_state(tmp_path / "ddp/checkpoints/final.pt")
    diff = max_abs_diff(single, ddp)
    print(f"DDP vs single: max |Δw| = {diff:.3g}")
    assert diff <= DDP_ATOL, diff
    assert max_abs_diff(single, TinyStudent().state_dict()) > 1e-3  # it did train
    steps = read_jsonl(tmp_path / "ddp/log/steps.jsonl")
    assert len(steps) == 6  # only rank 0 writes, once per step
    single_steps = read_jsonl(tmp_path / "single/log/steps.jsonl")
    for key in ("loss_gt", "loss_pseudo"):
        assert [r[key] for r in steps] == pytest.approx([r[key] for r in single_steps], rel=1e-5)


def test_the_example_config_validates() -> None:
    config = load_train_config(Path(__file__).resolve().parent.parent / "configs" / "train_synthetic.yaml")
    assert config.train.teacher.is_oracle and config.train.pseudo_per_labeled == 1
    assert config.eval is not None and config.eval.protocol == "median"


def test_augmentation_follows_each_students_released_config():
    from repro.run_settings import DataRef, StudentSpec, TrainSettings

    def flags(name, augment=None):
        return TrainSettings(student=StudentSpec(name), labeled=[DataRef("matterport3d")], augment=augment).augment_flags

    assert flags("unifuse") == (True, True, True)
    assert flags("bifusepp") == (False, False, False) and flags("egformer") == (False, False, False)
    assert flags("hohonet") == (True, True, False)  # released hohonet_st3d.cfg: no colour jitter
    assert flags("bifusepp", True) == (True, True, True) and flags("unifuse", False) == (False, False, False)


def test_released_rotation_sampling_shares_one_rotation_per_batch():
    from repro.train.objective import rotations_for

    keys = torch.tensor([3, 7, 11])
    per_image = rotations_for(keys, 45.0)
    per_batch = rotations_for(keys, 45.0, per_batch=True)
    assert not torch.allclose(per_image[0], per_image[1])
    assert torch.equal(per_batch[0], per_batch[2]) and torch.equal(per_batch[0], per_image[0])
    assert rotations_for(keys, 0.0, per_batch=True) is None
