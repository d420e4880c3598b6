"""A hurried user's mistakes end in one ``repro X: error:`` line, before any long work, never a traceback."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from inputs_fixtures import SIZE, checkpoint, one_error_line, panorama

from repro import preflight
from repro.cli import main

ROOT = Path(__file__).resolve().parents[2]



def _commands(tmp: Path, sf: Path, ckpt: Path, out: str) -> dict[str, list[str]]:
    """Every command that writes, with ``out`` as its output folder."""
    pano = panorama(tmp / "pano.png")
    config = tmp / "train.yaml"
    config.write_text((ROOT / "configs" / "train_synthetic.yaml").read_text())
    return {
        "eval": ["eval", "--dataset", "stanford2d3d", "--data-root", str(sf), "--checkpoint", str(ckpt), "--out", out],
        "predict": ["predict", str(pano), "--checkpoint", str(ckpt), "--out", out],
        "demo": ["demo", "--out", out],
        "data": ["data", "synth", "--out", out, "--count", "1", "--height", "8", "--dataset", "stanford2d3d"],
        "figures": ["figures", str(pano), "--checkpoints", str(ckpt), "--out", out],
        "masks": ["masks", "generate", str(tmp), "--out", out],
        "train": ["train", str(config), "--out", out],
        "suite": ["suite", "smoke", "--out", out],
    }


@pytest.mark.parametrize("command", ["eval", "predict", "demo", "data", "figures", "masks", "train", "suite"])
def test_a_file_valued_out_is_refused_by_every_command(tmp_path, sf, ckpt, capsys, command):
    target = tmp_path / "results"
    target.write_text("not a folder")
    argv = _commands(tmp_path, sf, ckpt, str(target))[command]
    assert main(argv) == 2
    assert f"{target} is a file, not a folder" in one_error_line(capsys, command)
    assert target.read_text() == "not a folder"


@pytest.mark.parametrize("command", ["eval", "predict", "train", "suite"])
def test_an_out_below_a_file_is_refused(tmp_path, sf, ckpt, capsys, command):
    (tmp_path / "file").write_text("x")
    argv = _commands(tmp_path, sf, ckpt, str(tmp_path / "file" / "sub"))[command]
    assert main(argv) == 2
    assert "is a file, so the folder cannot be created" in one_error_line(capsys, command)


def test_an_unwritable_out_is_refused_before_inference(tmp_path, sf, ckpt, capsys, monkeypatch):
    """As root every folder is writable, so the probe's failure is simulated: EROFS from mkstemp."""
    calls = {"model": 0}
    import repro.evaluation.evaluate as ev

    real = ev.load_student

    def counting(*a, **k):
        calls["model"] += 1
        return real(*a, **k)

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(ev, "load_student", counting)
    monkeypatch.setattr(preflight.tempfile, "mkstemp", read_only)
    argv = _commands(tmp_path, sf, ckpt, str(tmp_path / "ro"))["eval"]
    assert main(argv) == 2
    assert "cannot write in" in one_error_line(capsys, "eval") and calls["model"] == 0


def test_too_little_free_space_is_refused_before_work(tmp_path, sf, ckpt, capsys, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: _Usage(50 * 2**20))
    assert main(_commands(tmp_path, sf, ckpt, str(tmp_path / "o"))["eval"]) == 2
    line = one_error_line(capsys, "eval")
    assert "only 50 MiB free" in line and f"{preflight.MIN_FREE_MB} MiB needed" in line
    monkeypatch.setenv("REPRO_MIN_FREE_MB", "10")
    assert main(_commands(tmp_path, sf, ckpt, str(tmp_path / "o"))["demo"]) == 0
    monkeypatch.setenv("REPRO_MIN_FREE_MB", "lots")
    assert main(_commands(tmp_path, sf, ckpt, str(tmp_path / "o"))["demo"]) == 2
    assert "REPRO_MIN_FREE_MB" in one_error_line(capsys, "demo")


class _Usage:
    def __init__(self, free: int) -> None:
        self.free, self.total, self.used = free, 10 * free, 9 * free


def test_a_disk_filling_up_during_a_write_isone_error_line(tmp_path, sf, ckpt, capsys, monkeypatch):
    import repro.atomic as atomic

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "ev" / "metrics.json"))

    monkeypatch.setattr(atomic.os, "replace", full)
    assert main(_commands(tmp_path, sf, ckpt, str(tmp_path / "ev"))["eval"] + ["--num-workers", "0"]) == 2
    line = one_error_line(capsys, "eval")
    assert "no space left on the device" in line and str(tmp_path / "ev") in line
    assert not list((tmp_path / "ev").glob(".*.tmp"))  # the atomic writer removed its temp file


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--clamp", "5", "1"], "clamp"),
        (["--clamp", "0", "10"], "clamp"),
        (["--crop-rows", "300"], "crop_rows"),
        (["--crop-rows", "-3"], "crop_rows"),
        (["--batch-size", "0"], "batch size"),
        (["--num-workers", "-1"], "workers"),
        (["--input-size", "0", "0"], "input_size"),
        (["--input-size", "64", "64"], "W = 2H"),
        (["--input-size", "48", "96"], "built for 32x64 input"),
        (["--min-depth", "5", "--max-depth", "1"], "max_depth"),
        (["--max-depth", "inf"], "finite"),
        (["--min-depth", "nan"], "finite"),
        (["--split", "nope"], "dataset.split"),
        (["--student", "egformer"], "holds a equi student"),
    ],
)
def test_impossible_eval_flags_areone_error_line(tmp_path, sf, ckpt, capsys, flags, words):
    argv = _commands(tmp_path, sf, ckpt, str(tmp_path / "ev"))["eval"] + ["--num-workers", "0", *flags]
    assert main(argv) == 2
    assert words in one_error_line(capsys, "eval")
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_a_conflicting_student_flag_is_an_error_for_predict_too(tmp_path, ckpt, capsys):
    pano = panorama(tmp_path / "p.png")
    assert main(["predict", str(pano), "--checkpoint", str(ckpt), "--student", "unifuse", "--out",
                 str(tmp_path / "o")]) == 2
    assert "--student says unifuse" in one_error_line(capsys, "predict")
    # the matching name is fine
    assert main(["predict", str(pano), "--checkpoint", str(ckpt), "--student", "equi", "--out",
                 str(tmp_path / "o"), "--device", "cpu"]) == 0


def test_init_from_another_students_checkpoint_is_refused_by_name(tmp_path, capsys):
    from repro.models import CheckpointError, build_student, load_weights

    other = checkpoint(tmp_path / "hohonet.pt", "hohonet")
    model = build_student("equi", height=SIZE[0], width=SIZE[1], pretrained=False)
    with pytest.raises(CheckpointError, match="holds a hohonet student, not equi"):
        load_weights(model, other)


def test_init_with_a_released_file_of_the_wrong_network_is_a_checkpoint_error(tmp_path):
    import torch

    from repro.models import CheckpointError, build_student, load_weights

    path = tmp_path / "released.pth"
    torch.save({"state_dict": {"not.a.key": torch.zeros(2)}}, path)
    model = build_student("equi", height=SIZE[0], width=SIZE[1], pretrained=False)
    with pytest.raises(CheckpointError):
        load_weights(model, path)


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "unreadable"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "unreadable"), (b"GIF89a", "unreadable")],
)
def test_broken_panoramas_to_predict_areone_error_line(tmp_path, ckpt, capsys, content, words):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    assert main(["predict", str(bad), "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys, "predict")
    assert words in line and str(bad) in line


def test_a_missing_panorama_is_refused_before_the_model_loads(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope.jpg"), "--checkpoint", str(tmp_path / "nope.pt"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no such panorama" in one_error_line(capsys, "predict")


def test_a_config_that_is_a_folder_or_missing_isone_error_line(tmp_path, capsys):
    assert main(["train", str(tmp_path)]) == 2
    assert "is a folder" in one_error_line(capsys, "train")
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "file not found" in one_error_line(capsys, "train")
