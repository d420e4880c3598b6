"""Name collisions: Structured3D names every panorama ``rgb_rawlight.png``.

Outputs of ``predict`` and supplied predictions for ``eval --model predictions`` are keyed by the
dataset-relative path; the stem alone is only used where it is unique (the old flat layout).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from inputs_fixtures import SIZE, panorama, synth
from PIL import Image

from repro.cli import main
from repro.errors import UserError
from repro.evaluation.naming import output_keys


@pytest.fixture(scope="module")
def st3d(tmp_path_factory) -> Path:
    return synth(tmp_path_factory.mktemp("st3d"), "structured3d")


def _test_images(root: Path) -> list[Path]:
    images = sorted(p for p in root.rglob("rgb_rawlight.png") if int(p.relative_to(root).parts[0][6:]) >= 3250)
    assert len(images) >= 3 and len({p.name for p in images}) == 1
    return images


def test_predict_keeps_one_output_set_per_structured3d_panorama(tmp_path, st3d, ckpt):
    images = _test_images(st3d)
    out = tmp_path / "out"
    assert main(["predict", *map(str, images), "--checkpoint", str(ckpt), "--out", str(out), "--device", "cpu"]) == 0
    depth_pngs = sorted(out.rglob("rgb_rawlight_depth.png"))
    assert len(depth_pngs) == len(images)
    # each output sits at its panorama's path relative to the common folder, and holds its own result
    for image in images:
        rel = image.relative_to(st3d).parent
        assert (out / rel / "rgb_rawlight_depth.png").is_file() and (out / rel / "rgb_rawlight.ply").is_file()
    arrays = [np.asarray(Image.open(p)) for p in depth_pngs]
    assert len({a.tobytes() for a in arrays}) == len(images)  # not one file written three times


def test_predict_keeps_the_flat_layout_for_one_folder(tmp_path, ckpt):
    a, b = panorama(tmp_path / "in" / "a.png"), panorama(tmp_path / "in" / "b.v2.png")
    out = tmp_path / "out"
    assert main(["predict", str(a), str(b), "--checkpoint", str(ckpt), "--out", str(out), "--device", "cpu"]) == 0
    assert {p.name for p in out.iterdir()} >= {"a_depth.png", "a.json", "b.v2_depth.png", "b.v2.json", "b.v2.ply"}


def test_predict_refuses_inputs_that_would_overwrite_each_other(tmp_path, ckpt, capsys):
    a = panorama(tmp_path / "a.png")
    b = panorama(tmp_path / "a.jpg", fmt="JPEG")
    with pytest.raises(UserError, match="given twice"):
        output_keys([a, tmp_path / "." / "a.png"])
    assert main(["predict", str(a), str(b), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")]) == 2
    assert "would write the same outputs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _write_predictions(root: Path, folder: Path, images: list[Path], *, flat: bool) -> dict[Path, float]:
    """A constant depth per image (distinct values); flat: by stem only (they collide)."""
    values = {}
    for i, image in enumerate(images):
        value = 1.0 + i
        rel = image.relative_to(root)
        target = folder / (rel.stem + ".npy" if flat else rel.with_suffix(".npy"))
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, np.full(SIZE, value, dtype=np.float32))
        values[image] = value
    return values


def _eval_predictions(root: Path, preds: Path, out: Path) -> int:
    return main(["eval", "--dataset", "structured3d", "--data-root", str(root), "--split", "test", "--model", "predictions",
                 "--predictions", str(preds), "--protocol", "none", "--out", str(out), "--num-workers", "0"])


def test_eval_reads_each_images_own_prediction_by_relative_path(tmp_path, st3d):
    images = _test_images(st3d)
    values = _write_predictions(st3d, tmp_path / "pred", images, flat=False)
    assert _eval_predictions(st3d, tmp_path / "pred", tmp_path / "ev") == 0
    rows = list(csv.DictReader((tmp_path / "ev" / "per_image.csv").open()))
    assert len(rows) == len(images)
    # with protocol none, MAE against one image's GT depends on which constant was read for it:
    # three distinct predictions give three distinct per-image errors
    from repro.data import build_dataset
    from repro.run_settings import DataRef

    ds = build_dataset(DataRef("structured3d", "test"), st3d.parent, size=SIZE)
    for i in range(len(ds)):
        sample = ds[i]
        gt = sample["depth"][sample["valid"]].numpy()
        expected = float(np.abs(values[Path(sample["path"])] - gt).mean())
        row = next(r for r in rows if r["image"] == sample["path"])
        assert float(row["mae"]) == pytest.approx(expected, rel=1e-4)


def test_eval_refuses_flat_predictions_whose_stems_collide(tmp_path, st3d, capsys):
    images = _test_images(st3d)
    _write_predictions(st3d, tmp_path / "pred", images, flat=True)
    assert _eval_predictions(st3d, tmp_path / "pred", tmp_path / "ev") == 2
    err = capsys.readouterr().err
    assert "ambiguous" in err and "rgb_rawlight" in err and "dataset-relative path" in err
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_eval_still_reads_the_flat_layout_where_stems_are_unique(tmp_path):
    root = synth(tmp_path / "data", "stanford2d3d")
    preds = tmp_path / "pred"
    preds.mkdir()
    for line in (root / "stanford2d3d_test.txt").read_text().splitlines():
        if line.strip():
            np.save(preds / (Path(line.split()[0]).stem + ".npy"), np.full(SIZE, 2.0, dtype=np.float32))
    rc = main(["eval", "--dataset", "stanford2d3d", "--data-root", str(root), "--model", "predictions", "--predictions",
               str(preds), "--out", str(tmp_path / "ev"), "--num-workers", "0"])
    assert rc == 0 and (tmp_path / "ev" / "metrics.json").is_file()


def test_a_missing_prediction_names_the_expected_file(tmp_path, st3d, capsys):
    images = _test_images(st3d)
    _write_predictions(st3d, tmp_path / "pred", images[1:], flat=False)
    assert _eval_predictions(st3d, tmp_path / "pred", tmp_path / "ev") == 2
    expected = tmp_path / "pred" / images[0].relative_to(st3d).with_suffix(".npy")
    assert f"expected {expected}" in capsys.readouterr().err
