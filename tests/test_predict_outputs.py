"""`repro predict` outputs at the input image's resolution, a preview with a colour bar, 2:1 inputs only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from repro.cli import main
from repro.evaluation.predict import colorize, resize_prediction
from repro.models import build_student
from repro.models.checkpoints import model_payload, save_state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small UniFuse at 64×128 in our checkpoint format (what `repro train` writes)."""
    torch.manual_seed(0)
    model = build_student("unifuse", height=64, width=128, base_channels=8)
    student = {
        "name": "unifuse",
        "options": {"base_channels": 8},
        "input_size": [64, 128],
        "metric": False,
        "output_kind": "disparity",
    }
    path = tmp_path_factory.mktemp("ckpt") / "final.pt"
    save_state(model_payload(model.state_dict(), student), path)
    return path


def _panorama(path: Path, width: int, height: int) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_depth_preview_and_points_are_at_the_input_resolution(checkpoint: Path, tmp_path: Path) -> None:
    pano = _panorama(tmp_path / "photo.jpg", 301, 151)  # 2H - 1 wide, as stitchers write: accepted
    out = tmp_path / "out"
    assert main(["predict", str(pano), "--checkpoint", str(checkpoint), "--out", str(out), "--device", "cpu"]) == 0
    meta = json.loads((out / "photo.json").read_text())
    assert meta["input_size"] == [64, 128] and meta["output_size"] == [151, 301]
    with Image.open(meta["depth_png"]) as im:
        assert im.size == (301, 151)
        counts = np.asarray(im).astype(np.float64)
    assert counts.max() == 65535 and counts.min() > 0
    with Image.open(meta["preview_png"]) as im:
        assert im.mode == "RGB"
        preview = np.asarray(im)
    # the colour-mapped depth on top at full width (centred on a canvas at least 480 px wide), the bar below
    assert preview.shape[0] > 151 + 30 and preview.shape[1] == 480
    left = (480 - 301) // 2
    expected = colorize(torch.from_numpy(1.0 / (counts * meta["units_per_count"])))
    diff = np.abs(preview[:151, left : left + 301].astype(int) - expected.astype(int))
    assert diff.mean() < 0.5 and diff.max() <= 8  # up to the depth PNG's 16-bit rounding
    bar = preview[151:]
    assert (bar != 255).any(axis=2).mean() > 0.1  # the bar and its ticks were drawn
    n = int(next(line for line in Path(meta["ply"]).read_bytes().split(b"end_header")[0].decode().splitlines()
                  if line.startswith("element vertex")).split()[-1])
    assert n == 151 * 301


def test_a_non_panorama_is_refused_naming_the_file_and_its_size(checkpoint: Path, tmp_path: Path, capsys) -> None:
    pano = _panorama(tmp_path / "square.png", 200, 150)
    code = main(["predict", str(pano), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert err[-1].startswith("repro predict: error:") and "square.png is 200×150" in err[-1] and "2:1" in err[-1]
    assert not (tmp_path / "o" / "square_depth.png").exists()


def test_prediction_resize_is_bilinear_and_keeps_constant_maps() -> None:
    assert torch.allclose(resize_prediction(torch.full((8, 16), 0.3), (15, 31)), torch.full((15, 31), 0.3))
    ramp = torch.arange(16.0).repeat(8, 1)
    up = resize_prediction(ramp, (8, 32))
    assert up.shape == (8, 32) and torch.all(up[:, 1:-1].diff(dim=1) > 0)  # monotone, interpolated
    assert up.min() >= 0 and up.max() <= 15
