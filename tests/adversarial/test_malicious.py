"""Attacker inputs: pickles that run code, YAML that builds objects, split lists that leave the root.

Each case asserts that the payload never ran (its marker file is absent) and that the user sees
one clear error naming the file.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from inputs_fixtures import SIZE, synth

from repro.cli import main
from repro.config import ConfigError, load_config
from repro.data import DataError


class _Payload:
    """Unpickling this runs ``os.system`` (touching a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_checkpoint(path: Path, marker: Path, wrap: bool) -> Path:
    payload = _Payload(marker)
    obj = {"format": "repro-train-v1", "model": {"w": payload}} if wrap else payload
    torch.save(obj, path)
    assert not marker.exists()
    return path


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize("command", ["eval", "predict"])
def test_a_malicious_pickle_is_never_executed(tmp_path, capsys, wrap, command):
    from inputs_fixtures import panorama

    marker = tmp_path / "pwned"
    ckpt = _malicious_checkpoint(tmp_path / "evil.pt", marker, wrap)
    if command == "eval":
        root = synth(tmp_path / "data", "stanford2d3d", count=1)
        argv = ["eval", "--dataset", "stanford2d3d", "--data-root", str(root), "--checkpoint", str(ckpt),
                "--student", "equi", "--out", str(tmp_path / "ev"), "--num-workers", "0"]
    else:
        argv = ["predict", str(panorama(tmp_path / "p.png")), "--checkpoint", str(ckpt), "--student", "equi",
                "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"repro {command}: error:" in err and "Traceback" not in err and str(ckpt) in err
    assert not marker.exists()


def test_a_malicious_pickle_as_init_weights_is_never_executed(tmp_path):
    from repro.models import CheckpointError, build_student, load_weights

    marker = tmp_path / "pwned"
    ckpt = _malicious_checkpoint(tmp_path / "evil.pt", marker, wrap=False)
    model = build_student("equi", height=SIZE[0], width=SIZE[1], pretrained=False)
    with pytest.raises(CheckpointError):
        load_weights(model, ckpt)
    assert not marker.exists()


def test_a_pickled_numpy_prediction_is_never_executed(tmp_path, capsys):
    root = synth(tmp_path / "data", "stanford2d3d", count=1)
    marker = tmp_path / "pwned"
    preds = tmp_path / "pred"
    for line in (root / "stanford2d3d_test.txt").read_text().splitlines():
        if line.strip():
            target = preds / Path(line.split()[0]).with_suffix(".npy")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:  # a .npy of dtype object holding the payload
                np.save(fh, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    argv = ["eval", "--dataset", "stanford2d3d", "--data-root", str(root), "--model", "predictions", "--predictions",
            str(preds), "--out", str(tmp_path / "ev"), "--num-workers", "0"]
    assert main(argv) == 2
    assert "unreadable" in capsys.readouterr().err
    assert not marker.exists()


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {m}']",
        "!!python/object/new:os.system ['touch {m}']",
        "!!python/name:os.system",
        "!!python/module:os",
        "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {m}']",
    ],
)
def test_yaml_python_tags_are_refused(tmp_path, capsys, tag):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"train:\n  student: {tag.format(m=marker)}\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)
    assert main(["train", str(path)]) == 2
    assert str(path) in capsys.readouterr().err
    assert not marker.exists()


def test_yaml_include_of_a_python_tag_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "base.yaml").write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    (tmp_path / "top.yaml").write_text("include: base.yaml\n")
    with pytest.raises(ConfigError, match="base.yaml"):
        load_config(tmp_path / "top.yaml")
    assert not marker.exists()


@pytest.mark.parametrize(
    "entry",
    ["../../etc/passwd", "/etc/passwd", "area_1/../../../etc/passwd", "..\\..\\etc\\passwd", "area_1/rgb/../../.."],
)
def test_split_list_paths_cannot_leave_the_dataset_root(tmp_path, entry):
    from repro.data import build_dataset
    from repro.run_settings import DataRef

    root = synth(tmp_path / "data", "stanford2d3d", count=1)
    split = root / "stanford2d3d_test.txt"
    first = split.read_text().splitlines()[0].split()
    split.write_text(f"{entry} {first[1]}\n")
    with pytest.raises(DataError, match="outside the dataset root"):
        ds = build_dataset(DataRef("stanford2d3d", "test"), tmp_path / "data", size=SIZE)
        ds[0]


def test_verify_reports_an_escaping_split_list_as_a_problem(tmp_path, capsys):
    root = synth(tmp_path / "data", "stanford2d3d", count=1)
    split = root / "stanford2d3d_test.txt"
    first = split.read_text().splitlines()[0].split()
    split.write_text(f"../../../etc/passwd {first[1]}\n")
    assert main(["data", "verify", "--dataset", "stanford2d3d", "--data-root", str(root), "--split", "test"]) == 1
    assert "outside the dataset root" in capsys.readouterr().out


def test_a_pickle_disguised_as_a_yaml_config_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "config.yaml"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ConfigError):
        load_config(path)
    assert not marker.exists()
