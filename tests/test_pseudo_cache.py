"""The pseudo-label cache: built once (sharded, resumable), read per visit, met in the panorama's own frame."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from train_fixtures import one_thread

from repro.cli import main
from repro.config import from_data, load_config
from repro.data.transforms import AugmentParams, apply_geometric, undo_geometric
from repro.run_settings import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")
_ = one_thread

H = 32
CONFIG = """\
output_dir: {out}
data_root: {data}
train:
  student: {{name: equi, pretrained: false}}
  labeled: [{{dataset: matterport3d, split: train}}]
  pseudo: [{{dataset: structured3d, split: all}}]
  teacher: {{id: {teacher}, input_size: 28}}
  masks: {{backend: ground_truth}}
  distill: {{face_size: 16}}
  input_size: [{h}, {w}]
  precision: fp32
  augment: true
  pseudo_labels: cached
  pseudo_cache: {{rotations: 3}}
  schedule: {{steps: 2, batch_size: 2, num_workers: 0}}
"""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from repro.data.synth import write_dataset

    root = tmp_path_factory.mktemp("data")
    for name, style in (("matterport3d", "a"), ("structured3d", "b")):
        write_dataset(name, root / name, mask_root=root / "masks" / name, count=2, height=H, seed=0, style=style, progress=False)
    return root


def _config(tmp: Path, data_root: Path, teacher: str = "oracle") -> Path:
    cfg = tmp / "train.yaml"
    cfg.write_text(CONFIG.format(out=tmp / "run", data=data_root, teacher=teacher, h=H, w=2 * H))
    return cfg


def _settings(cfg: Path):
    return from_data(TrainConfig, load_config(cfg)).train


def test_undo_geometric_inverts_the_augmentation():
    x = torch.rand(3, 1, 4, 8)
    params = [AugmentParams(roll=3, flip=True), AugmentParams(roll=0, flip=True), AugmentParams(roll=5, flip=False)]
    aug = torch.stack([apply_geometric(xi, p) for xi, p in zip(x, params, strict=True)])
    assert not torch.equal(aug, x)
    back = undo_geometric(aug, torch.tensor([p.roll for p in params]), torch.tensor([p.flip for p in params]))
    assert torch.equal(back, x)


def test_cached_targets_equal_the_online_teacher_at_the_cached_rotation(tmp_path, data_root):
    """A deterministic teacher (tiny Depth Anything): the entry is what the online path computes, to uint16."""
    from repro.distill import teacher_targets
    from repro.teacher import build_teacher_from_spec
    from repro.train.build import datasets_of
    from repro.train.pseudo_cache import build_cache, cache_folder, decode, entry_path

    settings = _settings(_config(tmp_path, data_root, teacher="tiny"))
    torch.manual_seed(0)
    teacher = build_teacher_from_spec(settings.teacher, random_init=True)
    summary = build_cache(settings, data_root, teacher=teacher)
    assert summary.written == 6 and summary.skipped == 0  # structured3d "all" = 3 splits × 2
    ds = datasets_of(settings.pseudo, dataclasses.replace(settings, augment=False), data_root, settings.masks)[0]
    sample = ds[1]
    entry = entry_path(cache_folder(settings, data_root), data_root, sample["path"])
    for k in range(3):
        got = decode(entry, k)
        rot = got["cached_rotation"][None]
        ref = teacher_targets(
            teacher, sample["rgb_noaug"][None], sample["valid"][None], rot, face_size=16, has_mask=sample["has_mask"][None]
        )
        assert got["cached_disparity"].shape == (6, 1, 16, 16)
        assert torch.equal(got["cached_mask"], ref.mask[0])
        assert (got["cached_disparity"] - ref.disparity[0].nan_to_num()).abs().max() <= 1 / 65535
    rots = decode(entry, 0)["cached_rotation"], decode(entry, 1)["cached_rotation"]
    assert not torch.allclose(*rots)  # K different rotations
    again = build_cache(settings, data_root, teacher=teacher)
    assert (again.written, again.skipped) == (0, 6)  # resumable: nothing recomputed


def test_shards_cover_the_set_and_training_reads_the_cache(tmp_path, data_root, capsys):
    from repro.train.pseudo_cache import CachedTargets, cache_folder

    cfg = _config(tmp_path, data_root)
    assert main(["teacher", "cache", str(cfg), "--shard", "0/2", "--device", "cpu"]) == 0
    assert "3 panoramas cached" in capsys.readouterr().out
    assert main(["teacher", "cache", str(cfg), "--shard", "1/2", "--device", "cpu"]) == 0
    assert "3 panoramas cached" in capsys.readouterr().out
    assert main(["teacher", "cache", str(cfg), "--device", "cpu"]) == 0
    assert "6 already there" in capsys.readouterr().out
    settings = _settings(cfg)
    folder = cache_folder(settings, data_root)
    manifest = json.loads((folder / "cache.json").read_text())
    assert manifest["rotations"] == 3 and manifest["teacher"]["id"] == "oracle"
    assert len(list(folder.glob("*/*.npz"))) == 6

    from repro.train.build import build_components

    comp = build_components(settings, data_root)
    assert comp.teacher is None and isinstance(comp.unlabeled, CachedTargets)  # no teacher in memory
    comp.unlabeled.set_epoch(0)
    a = comp.unlabeled[0]
    assert {"cached_disparity", "cached_mask", "cached_rotation", "aug_roll", "aug_flip"} <= a.keys()
    draws = set()
    for epoch in range(12):
        comp.unlabeled.set_epoch(epoch)
        draws.add(tuple(comp.unlabeled[0]["cached_rotation"].flatten().tolist()))
    assert len(draws) == 3  # every one of the K rotations is visited

    assert main(["train", str(cfg), "--no-progress", "--device", "cpu"]) == 0
    resolved = load_config(tmp_path / "run" / "resolved.yaml")
    assert resolved["pseudo_labels"] == "cached" and resolved["pseudo_cache"]["rotations"] == 3


def test_cache_errors_are_one_line(tmp_path, data_root, capsys):
    from repro.train.pseudo_cache import CachedTargets, PseudoCacheError

    settings = _settings(_config(tmp_path, data_root))
    other = dataclasses.replace(settings, pseudo_cache=dataclasses.replace(settings.pseudo_cache, seed=99))
    with pytest.raises(PseudoCacheError, match="repro teacher cache"):
        CachedTargets([], other, data_root)
    cfg = _config(tmp_path, data_root)
    assert main(["teacher", "cache", str(cfg), "--shard", "2/2"]) == 2
    assert "repro teacher: error: --shard must be i/n" in capsys.readouterr().err
    with pytest.raises(ValueError, match="per_image"):
        dataclasses.replace(settings, distill=dataclasses.replace(settings.distill, rotation_sampling="per_batch"))
