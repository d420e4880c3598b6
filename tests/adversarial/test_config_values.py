"""Impossible config values and hostile YAML are refused at load time, naming file, line and key.

Every case edits one value of the shipped ``configs/train_synthetic.yaml`` (or a suite), so each
test asserts that *this* value, and nothing else, is what the loader rejects.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from repro.cli import main
from repro.config import MAX_YAML_NODES, ConfigError, load_config, load_yaml
from repro.run_settings import load_train_config
from repro.suite.schema import load_suite

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "configs" / "train_synthetic.yaml").read_text()


def _edit(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# (old text, new text, key the error must name, words the message must hold)
CASES = [
    ("lr: 1.0e-4", "lr: .nan", "train.schedule.lr", "finite"),
    ("lr: 1.0e-4", "lr: .inf", "train.schedule.lr", "finite"),
    ("lr: 1.0e-4", "lr: -.inf", "train.schedule.lr", "finite"),
    ("lr: 1.0e-4", "lr: 0", "train.schedule.lr", "greater than 0"),
    ("lr: 1.0e-4", "lr: -1.0e-4", "train.schedule.lr", "greater than 0"),
    ("{gt: 0.5, pseudo: 0.5}", "{gt: 0.5, pseudo: 0}", "train.loss_weights.pseudo", "greater than 0"),
    ("{gt: 0.5, pseudo: 0.5}", "{gt: -0.5, pseudo: 0.5}", "train.loss_weights.gt", "greater than 0"),
    ("{gt: 0.5, pseudo: 0.5}", "{gt: 0.5, pseudo: .nan}", "train.loss_weights.pseudo", "finite"),
    ("input_size: [64, 128]", "input_size: [0, 0]", "train.input_size", "greater than 0"),
    ("input_size: [64, 128]", "input_size: [-64, -128]", "train.input_size", "greater than 0"),
    ("input_size: [64, 128]", "input_size: [64, 64]", "train.input_size", "W = 2H"),
    ("face_size: 32", "face_size: -32", "train.distill.face_size", "greater than 0"),
    ("face_size: 32", "face_size: 0", "train.distill.face_size", "greater than 0"),
    ("rotation_max_deg: 45.0", "rotation_max_deg: .nan", "train.distill.rotation_max_deg", "finite"),
    ("rotation_max_deg: 45.0", "rotation_max_deg: 270", "train.distill.rotation_max_deg", "at most 180"),
    ("num_workers: 2", "num_workers: -1", "train.schedule.num_workers", "at least 0"),
    ("batch_size: 2,", "batch_size: 0,", "train.schedule.batch_size", "greater than 0"),
    ("epochs: 2,", "epochs: -2,", "train.schedule.epochs", "greater than 0"),
    ("checkpoint_every_steps: 5", "checkpoint_every_steps: 0", "train.schedule.checkpoint_every_steps", "greater than 0"),
    ("seed: 0", "seed: -1", "train.seed", "at least 0"),
    ("ratio: \"1:1\"", "ratio: \"1:0\"", "train.ratio", "1:N"),
    ("{backend: ground_truth}", "{backend: ground_truth, min_valid_fraction: 1.5}", "train.masks.min_valid_fraction", "at most 1"),
    ("{backend: ground_truth}", "{backend: ground_truth, box_threshold: -0.1}", "train.masks.box_threshold", "at least 0"),
    ("lr: 1.0e-4,", "lr: 1.0e-4, weight_decay: -0.01,", "train.schedule.weight_decay", "at least 0"),
    ("lr: 1.0e-4,", "lr: 1.0e-4, betas: [0.9, 1.5],", "train.schedule.betas[1]", "less than 1"),
    ("{id: oracle}", "{id: LiheYoung/depth-anything-large-hf, input_size: 500}", "train.teacher.input_size", "14"),
    ("{id: oracle}", "{id: oracle, input_size: 0}", "train.teacher.input_size", "greater than 0"),
    ("protocol: median", "protocol: median\n  crop_rows: 300", "eval.crop_rows", "less than 256"),
    ("protocol: median", "protocol: median\n  crop_rows: -1", "eval.crop_rows", "at least 0"),
    ("protocol: median", "protocol: median\n  clamp: [5, 1]", "eval.clamp", "low < high"),
    ("protocol: median", "protocol: median\n  clamp: [0, 10]", "eval.clamp", "greater than 0"),
    ("protocol: median", "protocol: median\n  max_depth: .inf", "eval.max_depth", "finite"),
    ("protocol: median", "protocol: median\n  min_depth: 5\n  max_depth: 1", "eval.max_depth", "greater than min_depth"),
    ("protocol: median", "protocol: median\n  min_depth: -1", "eval.min_depth", "at least 0"),
    ("protocol: median", "protocol: median\n  input_size: [0, 0]", "eval.input_size", "greater than 0"),
]


@pytest.mark.parametrize(("old", "new", "key", "words"), CASES, ids=[c[1].strip().replace(" ", "") for c in CASES])
def test_impossible_value_is_refused_naming_file_line_and_key(tmp_path: Path, old: str, new: str, key: str, words: str):
    path = tmp_path / "bad.yaml"
    text = _edit(old, new)
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert f"key '{key}'" in message, message
    assert words in message, message
    # the line number points at the edited line (the key itself, or its mapping's line)
    line = int(message.split(":")[1])
    assert new.splitlines()[-1].strip() in text.splitlines()[line - 1] or new.splitlines()[0] in text.splitlines()[line - 1]


def test_the_shipped_config_still_loads():
    config = load_train_config(ROOT / "configs" / "train_synthetic.yaml")
    assert config.train.schedule.lr == pytest.approx(1e-4)


def test_cli_prints_one_error_line_for_a_nan_lr(tmp_path: Path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(_edit("lr: 1.0e-4", "lr: .nan"))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("repro train: error: ") and "train.schedule.lr" in err[0]
    assert not (tmp_path / "run").exists()


def test_suite_cell_values_are_checked_too(tmp_path: Path):
    suite = (ROOT / "suites" / "smoke.yaml").read_text()
    (tmp_path / "_defaults").symlink_to(ROOT / "suites" / "_defaults")
    path = tmp_path / "smoke.yaml"
    path.write_text(suite + "\n# adversarial\nscales: {tiny: {train: {schedule: {lr: .nan}}}}\n")
    with pytest.raises(ConfigError, match=r"schedule\.lr.*finite|finite.*schedule\.lr|key 'cells\..*\.train\.schedule\.lr'"):
        load_suite(path, scale="tiny")


# --------------------------------------------------------------------------- hostile YAML

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{x}: &{x} [" + ",".join([f"*{p}"] * 9) + "]"
            for p, x in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_billion_laughs_is_refused_fast(tmp_path: Path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS + "\n")
    assert len(BILLION_LAUGHS) < 800  # the "765-byte" bomb class: tiny file, 4e8 values
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(path)
    assert time.perf_counter() - start < 5


def test_bomb_inside_a_train_config_is_refused_before_any_walk(tmp_path: Path, capsys):
    nested = "\n".join("  " + line for line in BILLION_LAUGHS.splitlines())
    path = tmp_path / "bomb.yaml"
    path.write_text(_edit("pretrained: false}", "pretrained: false, options: *i}").replace("train:\n", "x:\n" + nested + "\ntrain:\n", 1))
    start = time.perf_counter()
    assert main(["train", str(path)]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert "alias bomb" in err and str(path) in err


def test_aliases_below_the_limit_still_work():
    data = load_yaml("ok", text="a: &a {x: 1}\nb: *a\nc: {<<: *a, y: 2}\n")
    assert data["b"] == {"x": 1} and data["c"] == {"x": 1, "y": 2}
    wide = "a: [" + ", ".join(str(i) for i in range(MAX_YAML_NODES // 2)) + "]\n"
    assert len(load_yaml("wide", text=wide)["a"]) == MAX_YAML_NODES // 2


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("a: &a {b: *a}\n", "recursive alias"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested more than"),
        ("a: !!python/object/apply:os.system ['echo pwned']\n", "invalid YAML"),
        ("a: !!python/name:os.system\n", "invalid YAML"),
        ("a: 1\na: 2\n", "duplicate key"),
        ("a: [1, 2\n", "invalid YAML"),
    ],
)
def test_hostile_yaml_is_one_config_error(text: str, words: str):
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_yaml("hostile.yaml", text=text)


def test_not_a_yaml_file_is_a_config_error(tmp_path: Path):
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(b"\x80\x81\xff" * 10)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(ConfigError, match="not a config file"):
        load_config(huge)
