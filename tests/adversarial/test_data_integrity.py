"""All-invalid ground truth, broken predictions, corrupt images, empty mask folders, NaN in JSON.

Each case asserts the clear error (one ``repro X: error:`` line naming the file) or the correct
result, and that no result file with NaN is left behind.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from inputs_fixtures import SIZE, checkpoint, one_error_line, panorama, synth, zero_depth
from PIL import Image

from repro.atomic import NON_FINITE_KEY, json_text, write_json
from repro.cli import main
from repro.data import DataError
from repro.data.validity import MIN_VALID_FRACTION, check_ground_truth, sample_indices


def _strict_load(path: Path):
    def refuse(token: str):
        raise AssertionError(f"{path} holds a bare {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _eval(root: Path, out: Path, *extra: str) -> int:
    return main(["eval", "--dataset", "stanford2d3d", "--data-root", str(root), "--split", "test", "--out", str(out),
                 "--num-workers", "0", *extra])


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------- all-invalid ground truth


def test_verify_fails_a_split_whose_depth_is_all_invalid(tmp_path, sf, capsys):
    root = _copy(sf, tmp_path / "stanford2d3d")
    assert zero_depth(root) > 0
    assert main(["data", "verify", "--dataset", "stanford2d3d", "--data-root", str(root), "--split", "test"]) == 1
    out = capsys.readouterr().out
    assert "100.0 % of the depth pixels are invalid" in out and "FAILED" in out


def test_eval_refuses_all_invalid_ground_truth_before_inference(tmp_path, sf, ckpt, capsys):
    root = _copy(sf, tmp_path / "stanford2d3d")
    zero_depth(root)
    assert _eval(root, tmp_path / "ev", "--checkpoint", str(ckpt)) == 2
    line = one_error_line(capsys, "eval")
    assert "0.0 % of the ground-truth depth pixels are valid" in line and str(root) in line
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_eval_scoring_zero_images_is_an_error_not_nan(tmp_path, sf, ckpt, capsys):
    # valid depth everywhere, but the range excludes all of it: nothing is scored
    assert _eval(sf, tmp_path / "ev", "--checkpoint", str(ckpt), "--min-depth", "9.5", "--max-depth", "9.6") == 2
    assert "nothing to score" in one_error_line(capsys, "eval")
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_eval_with_some_invalid_images_scores_the_rest(tmp_path, sf, ckpt, capsys):
    root = _copy(sf, tmp_path / "stanford2d3d")
    first = sorted(p for p in root.rglob("*depth*.png"))[0]
    with Image.open(first) as im:
        Image.fromarray(np.zeros(np.asarray(im).shape, dtype=np.uint16)).save(first)
    assert _eval(root, tmp_path / "ev", "--checkpoint", str(ckpt)) == 0
    report = _strict_load(tmp_path / "ev" / "metrics.json")
    tested = len((root / "stanford2d3d_test.txt").read_text().split("\n")) - 1
    assert report["metrics"]["images"] + report["metrics"]["images_skipped"] == tested
    assert math.isfinite(report["metrics"]["abs_rel"])


def test_train_refuses_all_invalid_labeled_ground_truth(tmp_path, capsys):
    data = tmp_path / "data"
    synth(data, "matterport3d")
    zero_depth(data / "matterport3d")
    config = tmp_path / "train.yaml"
    config.write_text(
        "train:\n  student: {name: equi, pretrained: false}\n  labeled: [{dataset: matterport3d, split: train}]\n"
        f"  input_size: [{SIZE[0]}, {SIZE[1]}]\n  schedule: {{steps: 2, batch_size: 1, num_workers: 0}}\n"
        f"output_dir: {tmp_path / 'run'}\ndata_root: {data}\n"
    )
    assert main(["train", str(config), "--no-progress", "--device", "cpu"]) == 2
    line = one_error_line(capsys, "train")
    assert "matterport3d/train" in line and "valid" in line
    assert not list((tmp_path / "run").rglob("*.pt"))


def test_ground_truth_check_threshold_and_sampling():
    class Fake(torch.utils.data.Dataset):
        def __init__(self, fraction: float, n: int = 100) -> None:
            self.fraction, self.n = fraction, n

        def __len__(self) -> int:
            return self.n

        def __getitem__(self, i):
            valid = torch.zeros(1, 10, 10, dtype=torch.bool)
            valid.view(-1)[: round(100 * self.fraction)] = True
            return {"valid": valid}

    assert check_ground_truth(Fake(MIN_VALID_FRACTION + 0.01), "ok") > MIN_VALID_FRACTION
    with pytest.raises(DataError, match="only 4.0 %"):
        check_ground_truth(Fake(0.04), "nearly empty")
    idx = sample_indices(1000)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) == 32
    assert sample_indices(5) == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------- supplied predictions


def _predictions(root: Path, folder: Path, value=None) -> list[Path]:
    """One .npy per test image at its dataset-relative path (``value`` replaces one pixel)."""
    files = []
    for line in (root / "stanford2d3d_test.txt").read_text().split("\n"):
        if not line.strip():
            continue
        rel = Path(line.split()[0])
        depth = np.full(SIZE, 2.0, dtype=np.float32)
        if value is not None:
            depth[5, 5] = value
        target = folder / rel.with_suffix(".npy")
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, depth)
        files.append(target)
    return files


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, -1.0])
def test_non_finite_or_negative_predictions_are_refused_naming_the_file(tmp_path, sf, capsys, value):
    files = _predictions(sf, tmp_path / "pred", value)
    rc = _eval(sf, tmp_path / "ev", "--model", "predictions", "--predictions", str(tmp_path / "pred"))
    assert rc == 2
    line = one_error_line(capsys, "eval")
    assert "non-finite or negative" in line and any(str(f) in line for f in files)
    assert not (tmp_path / "ev" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"not a numpy file at all", "unreadable"),
        (None, "unreadable"),  # a pickled object array: allow_pickle=False refuses it
    ],
)
def test_unreadable_prediction_files_are_one_error(tmp_path, sf, capsys, content, words):
    files = _predictions(sf, tmp_path / "pred")
    if content is None:
        np.save(files[0], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        files[0].write_bytes(content)
    assert _eval(sf, tmp_path / "ev", "--model", "predictions", "--predictions", str(tmp_path / "pred")) == 2
    line = one_error_line(capsys, "eval")
    assert words in line and str(files[0]) in line


def test_a_model_that_outputs_nan_is_an_error_not_nan_metrics(tmp_path, sf, capsys):
    from repro.models.checkpoints import load_state, save_state

    path = checkpoint(tmp_path / "nan.pt")
    state = load_state(path)
    state["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                      for k, v in state["model"].items()}
    save_state(state, path)
    assert _eval(sf, tmp_path / "ev", "--checkpoint", str(path)) == 2
    assert "predicts non-finite values" in one_error_line(capsys, "eval")
    assert not (tmp_path / "ev" / "metrics.json").exists()


# --------------------------------------------------------------------------- strict JSON


def test_json_is_strict_and_says_which_values_were_not_finite(tmp_path):
    data = {"metrics": {"abs_rel": float("nan"), "delta1": 0.9}, "spread": [1.0, float("inf")], "n": 3}
    path = write_json(tmp_path / "r.json", data)
    loaded = _strict_load(path)
    assert loaded["metrics"] == {"abs_rel": None, "delta1": 0.9} and loaded["spread"] == [1.0, None]
    assert loaded[NON_FINITE_KEY] == {"metrics.abs_rel": "nan", "spread[1]": "inf"}
    assert NON_FINITE_KEY not in json.loads(json_text({"a": 1.0}))
    assert json.loads(json_text([float("-inf")])) == [None]


def test_no_module_writes_json_with_allow_nan():
    """Every JSON result goes through repro.atomic (strict): no writer opts back into bare NaN."""
    root = Path(__file__).resolve().parents[2] / "repro"
    offenders = [p for p in root.rglob("*.py") if "allow_nan=True" in p.read_text()]
    assert offenders == []


# --------------------------------------------------------------------------- masks


def test_an_empty_mask_folder_is_an_error_not_no_masks(tmp_path):
    from repro.data import build_dataset
    from repro.run_settings import DataRef

    data = tmp_path / "data"
    synth(data, "structured3d")
    empty = data / "masks" / "empty"
    empty.mkdir(parents=True)
    with pytest.raises(DataError, match=r"holds no mask for any of the \d+ images"):
        build_dataset(DataRef("structured3d", "all"), data, size=SIZE, masks=empty)
    # the generated masks are found (the same call with the real folder works)
    ds = build_dataset(DataRef("structured3d", "all"), data, size=SIZE, masks=data / "masks" / "structured3d")
    assert len(ds) > 0 and bool(ds[0]["has_mask"])


# --------------------------------------------------------------------------- corrupt images


def _jpeg_bytes() -> bytes:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:256]
    arr = np.stack([xx % 256, yy * 2, (xx + yy) % 256], -1) * 0.7 + rng.random((128, 256, 3)) * 70
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _corrupt(kind: str) -> bytes:
    data = bytearray(_jpeg_bytes())
    mid = len(data) // 2
    if kind == "zeroed":
        data[mid : mid + 500] = bytes(500)
    elif kind == "random":
        data[mid : mid + 60] = np.random.default_rng(1).integers(0, 255, 60, dtype=np.uint8).tobytes()
    elif kind == "cut":
        data = data[:mid] + data[mid + 1500 :]
    elif kind == "truncated":
        data = data[:mid]
    elif kind == "header_only":
        data = data[:200]
    return bytes(data)


@pytest.mark.parametrize("kind", ["zeroed", "random", "cut", "truncated", "header_only"])
def test_a_corrupt_jpeg_is_refused_naming_the_file(tmp_path, kind):
    from repro.data.base import read_rgb

    path = tmp_path / "pano.jpg"
    path.write_bytes(_corrupt(kind))
    with pytest.raises(DataError, match=f"unreadable image file {path}"):
        read_rgb(path)


def test_a_clean_jpeg_still_reads(tmp_path):
    from repro.data.base import read_rgb

    path = tmp_path / "pano.jpg"
    path.write_bytes(_jpeg_bytes())
    assert read_rgb(path).shape == (3, 128, 256)


@pytest.mark.parametrize("kind", ["zeroed", "truncated"])
def test_predict_on_a_corrupt_panorama_isone_error_line(tmp_path, ckpt, capsys, kind):
    good = panorama(tmp_path / "in" / "a.png")
    bad = tmp_path / "in" / "b.jpg"
    bad.write_bytes(_corrupt(kind))
    rc = main(["predict", str(good), str(bad), "--checkpoint", str(ckpt), "--out", str(tmp_path / "out"),
               "--device", "cpu"])
    assert rc == 2
    assert str(bad) in one_error_line(capsys, "predict")


def test_predict_refuses_a_panorama_that_is_not_2_to_1(tmp_path, ckpt, capsys):
    square = panorama(tmp_path / "sq.png", 64, 64)
    assert main(["predict", str(square), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    assert "not an equirectangular panorama" in one_error_line(capsys, "predict")
