"""`repro train` → `repro eval` → `repro predict` on synthetic data in the real layouts, tiny real students."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from train_fixtures import one_thread

from repro.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
_ = one_thread

H = 32  # the equirect-only baseline (ResNet-18) runs at 32×64; every file here is tiny

CONFIG = """\
output_dir: {out}
data_root: {data}
train:
  student: {{name: equi, pretrained: false}}
  labeled: [{{dataset: matterport3d, split: train}}]
  pseudo: [{{dataset: structured3d, split: all}}]
  teacher: {{id: oracle}}
  masks: {{backend: ground_truth}}
  distill: {{face_size: 16}}
  input_size: [{h}, {w}]
  precision: fp32
  schedule: {{steps: 2, batch_size: 2, num_workers: 0}}
eval:
  dataset: {{dataset: stanford2d3d, split: test}}
"""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from repro.data.synth import write_dataset

    root = tmp_path_factory.mktemp("data")
    for name, style in (("matterport3d", "a"), ("structured3d", "a"), ("stanford2d3d", "b")):
        write_dataset(
            name, root / name, mask_root=root / "masks" / name, count=2, height=H, seed=0, style=style, progress=False
        )
    return root


@pytest.fixture(scope="module")
def trained(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    cfg = out / "train.yaml"
    cfg.write_text(CONFIG.format(out=out, data=data_root, h=H, w=2 * H))
    assert main(["train", str(cfg), "--no-progress", "--device", "cpu"]) == 0
    return out


def test_train_then_eval_from_the_config(trained: Path) -> None:
    final = trained / "checkpoints" / "final.pt"
    state = torch.load(final, weights_only=True)
    assert state["student"]["name"] == "equi" and state["student"]["output_kind"] == "disparity"
    assert state["teacher"]["stand_in"] is True  # the oracle: every result must say so
    assert not (trained / "checkpoints" / "last.pt").exists()  # a finished run keeps no optimizer state
    assert state["teacher"]["provenance"]["id"] == "oracle" and state["teacher"]["provenance"]["stand_in"] is True
    report = json.loads((trained / "eval" / "metrics.json").read_text())
    assert report["evaluation"]["protocol"] == "median" and report["stand_in_teacher"] is True
    rows = list(csv.DictReader((trained / "eval" / "per_image.csv").read_text().splitlines()))
    assert len(rows) == report["dataset"]["images"] == 2  # the synthetic test split
    mean = sum(float(r["abs_rel"]) for r in rows) / len(rows)
    assert report["metrics"]["abs_rel"] == pytest.approx(mean)
    assert 0 < report["metrics"]["abs_rel"] < 10 and 0 <= report["metrics"]["delta1"] <= 1


def test_keep_optimizer_keeps_last_pt(data_root: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(CONFIG.format(out=tmp_path, data=data_root, h=H, w=2 * H).split("eval:")[0])
    assert main(["train", str(cfg), "--no-progress", "--device", "cpu", "--keep-optimizer"]) == 0
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == 2 and last["optimizer"]["state"]


def test_eval_cli_records_protocol_and_crop(trained: Path, data_root: Path, tmp_path: Path) -> None:
    argv = [
        "eval",
        "--checkpoint",
        str(trained / "checkpoints/final.pt"),
        "--dataset",
        "stanford2d3d",
        "--data-root",
        str(data_root / "stanford2d3d"),
        "--split",
        "test",
        "--protocol",
        "lsq_disparity_median",
        "--crop-rows",
        "68",
        "--clamp",
        "0.1",
        "10",
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--num-workers",
        "0",
    ]
    assert main(argv) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    ev = report["evaluation"]
    assert ev["protocol"] == "lsq_disparity_median" and ev["clamp"] == [0.1, 10.0]
    assert report["settings"]["crop_rows"] == 68 and ev["crop_rows"] == round(68 * H / 512)  # 68 rows at H=512
    assert all(math.isfinite(report["metrics"][k]) for k in ("abs_rel", "delta1", "rmse"))


def test_predict_writes_valid_png_and_ply(trained: Path, data_root: Path, tmp_path: Path) -> None:
    pano = next((data_root / "stanford2d3d").rglob("*_rgb.png"))
    assert (
        main(
            [
                "predict",
                str(pano),
                "--checkpoint",
                str(trained / "checkpoints/final.pt"),
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    meta = json.loads((tmp_path / f"{pano.stem}.json").read_text())
    with Image.open(meta["depth_png"]) as im:
        assert im.mode in ("I;16", "I;16B", "I;16L", "I") and im.size == (2 * H, H)
        counts = np.asarray(im).astype(np.float64)
    assert counts.max() == 65535 and counts.min() > 0  # relative depth scaled to the full 16-bit range
    with Image.open(meta["preview_png"]) as im:  # the image at full size, its colour bar below
        assert im.mode == "RGB" and im.size[0] >= 2 * H and im.size[1] > H
    raw = Path(meta["ply"]).read_bytes()
    header, body = raw.split(b"end_header\n", 1)
    lines = header.decode("ascii").splitlines()
    assert lines[:2] == ["ply", "format binary_little_endian 1.0"]
    n = int(next(line for line in lines if line.startswith("element vertex")).split()[-1])
    assert n == H * 2 * H and len(body) == n * (3 * 4 + 3)
    vertex = np.frombuffer(body, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    # every point lies at its pixel's depth along its ray
    radius = np.linalg.norm(vertex["xyz"].astype(np.float64), axis=1)
    depth = counts.reshape(-1) * meta["units_per_count"]
    assert np.allclose(np.sort(radius), np.sort(depth), rtol=1e-3, atol=meta["units_per_count"])


def test_metric_fine_tuning_starts_from_the_relative_model(trained: Path, data_root: Path, tmp_path: Path) -> None:
    """Paper Table 5: one epoch of metric BerHu training on Stanford2D3D train, no alignment at eval."""
    from repro.config import from_data
    from repro.evaluation.evaluate import evaluate
    from repro.run_settings import DataRef, EvalSettings, TrainSettings
    from repro.train import train

    settings = from_data(
        TrainSettings,
        {
            "student": {"name": "equi", "pretrained": False},
            "labeled": [{"dataset": "stanford2d3d", "split": "train"}],
            "loss": "berhu",
            "input_size": [H, 2 * H],
            "precision": "fp32",
            "seed": 1,  # another initialisation than the relative model's: loading it must show
            "schedule": {"epochs": 1, "batch_size": 2, "num_workers": 0},
        },
    )
    relative = trained / "checkpoints/final.pt"
    final = train(
        settings, out_dir=tmp_path / "ft", data_root=data_root, init_checkpoint=relative, device="cpu", progress=False
    )
    ft = torch.load(final, weights_only=True)
    assert ft["student"]["output_kind"] == "depth" and ft["step"] == 1  # 2 train images, batch 2: one step
    rel = torch.load(relative, weights_only=True)["model"]
    weights = [k for k in rel if rel[k].is_floating_point() and "running_" not in k]
    # one Adam step moves each weight by at most lr (1e-4, the recipe's) from the relative model
    assert max(float((ft["model"][k] - rel[k]).abs().max()) for k in weights) <= 1.001e-4
    metrics = evaluate(
        EvalSettings(dataset=DataRef("stanford2d3d", "test"), protocol="none"),
        checkpoint=final,
        out_dir=tmp_path / "eval",
        data_root=data_root,
        device="cpu",
        num_workers=0,
        progress=False,
    )
    report = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert report["evaluation"]["protocol"] == "none" and report["evaluation"]["pred_is_disparity"] is False
    assert math.isfinite(metrics["mae"]) and metrics["mae"] > 0
