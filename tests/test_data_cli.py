"""``repro data``: synth then verify from the command line; verify fails loudly on a broken download."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.cli import main


def test_list_shows_official_split_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "7829 / 957 / 2014" in out and "1000 / 40 / 373" in out and "uint16 / 512, 65535 = invalid" in out


def test_synth_then_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["data", "synth", "--out", str(tmp_path), "--count", "2", "--height", "8", "--dataset", "stanford2d3d"]
    assert main(args) == 0
    root = tmp_path / "stanford2d3d"
    assert len((root / "stanford2d3d_test.txt").read_text().splitlines()) == 2
    assert main(args) == 0 and "already there" in capsys.readouterr().out
    rc = main(
        ["data", "verify", "--dataset", "stanford2d3d", "--data-root", str(root), "--masks", str(tmp_path / "masks/stanford2d3d")]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "OK" in out and "own list" in out

    depth = root / (root / "stanford2d3d_val.txt").read_text().split()[1]
    depth.write_bytes(depth.read_bytes()[:40])  # truncated download
    assert main(["data", "verify", "--dataset", "stanford2d3d", "--data-root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"problem: unreadable depth file {depth}" in out and "stanford2d3d_val.txt:1" in out and "FAILED: 1" in out


def test_verify_flags_an_implausible_depth_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Matterport-style depth (x4000) read as Stanford2D3D (/512) has an 8x too large median."""
    assert (
        main(["data", "synth", "--out", str(tmp_path), "--count", "2", "--height", "8", "--dataset", "matterport3d"])
        == 0
    )
    root = tmp_path / "matterport3d"
    for split in ("train", "val", "test"):
        (root / f"stanford2d3d_{split}.txt").write_text((root / f"matterport3d_{split}.txt").read_text())
    assert main(["data", "verify", "--dataset", "stanford2d3d", "--data-root", str(root), "--split", "train"]) == 0
    assert "implausible" in capsys.readouterr().out


def test_synth_refuses_a_real_dataset_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "matterport3d").mkdir()
    assert (
        main(["data", "synth", "--out", str(tmp_path), "--dataset", "matterport3d", "--count", "1", "--height", "8"])
        == 2
    )
    assert "is not synthetic data" in capsys.readouterr().err


def test_verify_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "verify", "--dataset", "matterport3d", "--data-root", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_verify_takes_the_folder_as_data_root_and_the_old_positional_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope")
    assert main(["data", "verify", "--dataset", "matterport3d", missing]) == 1  # still works for one release
    captured = capsys.readouterr()
    assert "positional folder is deprecated" in captured.err and "use --data-root" in captured.err
    assert "does not exist" in captured.out
    assert main(["data", "verify", "--dataset", "matterport3d", "--data-root", missing, missing]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["data", "verify", "--dataset", "matterport3d"]) == 2
    assert "--data-root DIR" in capsys.readouterr().err
