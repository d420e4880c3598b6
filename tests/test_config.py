"""repro.config: safe YAML with line numbers, includes, extends, typed validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from repro.atomic import write_text
from repro.config import (
    ConfigError,
    config_hash,
    deep_merge,
    dump_yaml,
    from_data,
    load_config,
    load_yaml,
    resolve_extends,
    to_plain,
)
from repro.errors import UserError


@dataclass
class Inner:
    name: Literal["cube", "tangent"] = "cube"
    size: int = 256


@dataclass
class Outer:
    lr: float
    inner: Inner = field(default_factory=Inner)
    tags: list[str] = field(default_factory=list)
    shape: tuple[int, int] = (512, 1024)
    maybe: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError("lr must be positive")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_yaml_numbers_that_yaml11_gets_wrong():
    data = load_yaml("x.yaml", text="ratio: 1:2\nlr: 1e-4\nbig: 2.5E3\nn: 12\nneg: -3\nf: 0.5\nb: true\n")
    assert data == {"ratio": "1:2", "lr": 1e-4, "big": 2500.0, "n": 12, "neg": -3, "f": 0.5, "b": True}
    assert isinstance(data["n"], int) and isinstance(data["lr"], float)


def test_yaml_is_safe():
    with pytest.raises(ConfigError, match="x.yaml:1"):
        load_yaml("x.yaml", text="a: !!python/object/apply:os.system ['true']\n")


def test_duplicate_key_names_both_lines():
    with pytest.raises(ConfigError) as err:
        load_yaml("dup.yaml", text="a: 1\nb: 2\na: 3\n")
    assert str(err.value) == "dup.yaml:3: key 'a': duplicate key (first given at line 1)"


def test_syntax_error_has_line():
    with pytest.raises(ConfigError, match=r"bad.yaml:2: invalid YAML"):
        load_yaml("bad.yaml", text="a: 1\nb: [1, 2\n")


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_typed_validation_roundtrip():
    data = load_yaml("c.yaml", text="lr: 1e-4\ninner: {name: tangent}\ntags: [a, b]\nshape: [64, 128]\npath: x/y\n")
    cfg = from_data(Outer, data)
    assert cfg == Outer(lr=1e-4, inner=Inner("tangent", 256), tags=["a", "b"], shape=(64, 128), path=Path("x/y"))
    assert to_plain(cfg)["shape"] == [64, 128]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr: 1\ninner:\n  nmae: cube\n", "c.yaml:3: key 'inner.nmae': unknown key (did you mean 'name'?)"),
        (
            "lr: 1\ninner:\n  name: sphere\n",
            "c.yaml:3: key 'inner.name': expected one of 'cube', 'tangent', got 'sphere'",
        ),
        ("lr: 1\ntags: [a, 3]\n", "c.yaml:2: key 'tags[1]': expected a string, got 3"),
        ("lr: 1\nshape: [1, 2, 3]\n", "c.yaml:2: key 'shape': expected a list of 2 items, got 3"),
        ("inner: {}\n", "c.yaml:1: key 'lr': missing required key"),
        ("lr: -1\n", "c.yaml:1: lr must be positive"),
        ("lr: 1\nmaybe: yes please\n", "c.yaml:2: key 'maybe': expected an integer, got 'yes please'"),
        ("lr: true\n", "c.yaml:1: key 'lr': expected a number, got True"),
        ("lr: 1\ninner: 3\n", "c.yaml:2: key 'inner': expected a mapping, got 3"),
    ],
)
def test_validation_errors_name_file_line_key(text, message):
    with pytest.raises(ConfigError) as err:
        from_data(Outer, load_yaml("c.yaml", text=text))
    assert str(err.value).startswith(message), str(err.value)


def test_optional_accepts_null_and_default():
    cfg = from_data(Outer, load_yaml("c.yaml", text="lr: 2\nmaybe: null\n"))
    assert cfg.maybe is None and cfg.lr == 2.0 and isinstance(cfg.lr, float)


def test_deep_merge_keeps_locations_of_the_winning_value():
    base = load_yaml("base.yaml", text="a: {x: 1, y: 2}\nl: [1, 2]\n")
    over = load_yaml("over.yaml", text="\na: {y: 3}\nl: [9]\n")
    merged = deep_merge(base, over)
    assert merged == {"a": {"x": 1, "y": 3}, "l": [9]}
    assert str(merged["a"].where("x")) == "base.yaml:1"
    assert str(merged["a"].where("y")) == "over.yaml:2"
    assert base == {"a": {"x": 1, "y": 2}, "l": [1, 2]}  # inputs untouched


def test_include_chain_merges_in_order(tmp_path):
    write(tmp_path, "_d/base.yaml", "a: 1\nnested: {x: 1, y: 1}\n")
    write(tmp_path, "_d/more.yaml", "include: base.yaml\nnested: {y: 2}\nb: 2\n")
    top = write(tmp_path, "top.yaml", "include: [_d/more.yaml]\nb: 3\n")
    assert load_config(top) == {"a": 1, "nested": {"x": 1, "y": 2}, "b": 3}


def test_include_errors_point_at_the_include_line(tmp_path):
    top = write(tmp_path, "top.yaml", "x: 1\ninclude:\n  - missing.yaml\n")
    with pytest.raises(ConfigError, match=r"top.yaml:3: key 'include': included file not found"):
        load_config(top)


def test_include_cycle_detected(tmp_path):
    write(tmp_path, "a.yaml", "include: b.yaml\n")
    write(tmp_path, "b.yaml", "include: a.yaml\n")
    with pytest.raises(ConfigError, match="include cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_config(tmp_path / "a.yaml")


def test_error_in_included_file_names_that_file(tmp_path):
    write(tmp_path, "base.yaml", "lr: 1\ninner:\n  size: big\n")
    top = write(tmp_path, "top.yaml", "include: base.yaml\ntags: [a]\n")
    with pytest.raises(ConfigError, match=r"base.yaml:3: key 'inner.size': expected an integer"):
        from_data(Outer, load_config(top))


def test_extends_resolution_and_cycles():
    cells = load_yaml("s.yaml", text="a: {x: 1, n: {p: 1}}\nb: {extends: a, n: {q: 2}}\nc: {extends: b, x: 3}\n")
    out = resolve_extends(cells)
    assert out["c"] == {"x": 3, "n": {"p": 1, "q": 2}}
    with pytest.raises(ConfigError, match=r"s.yaml:2: key 'b.extends': extends cycle: a -> b -> a"):
        resolve_extends(load_yaml("s.yaml", text="a: {extends: b}\nb: {extends: a}\n"))
    with pytest.raises(ConfigError, match=r"key 'a.extends': unknown entry 'bb' \(did you mean 'b'\?\)"):
        resolve_extends(load_yaml("s.yaml", text="a: {extends: bb}\nb: {}\n"))


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert config_hash(Outer(lr=1.0)) == config_hash(to_plain(Outer(lr=1.0)))


def test_dump_yaml_roundtrips(tmp_path):
    cfg = Outer(lr=3e-4, tags=["x"])
    p = tmp_path / "out" / "cfg.yaml"
    write_text(p, dump_yaml(cfg))
    assert from_data(Outer, load_yaml(p)) == cfg
    assert not [q for q in p.parent.iterdir() if q.name.endswith(".tmp")]


def test_training_config_file_uses_the_same_machinery(tmp_path):
    from repro.run_settings import load_train_config

    write(
        tmp_path, "base.yaml", "train:\n  student: {name: hohonet}\n  labeled: [{dataset: matterport3d, split: all}]\n"
    )
    cfg_path = write(
        tmp_path,
        "run.yaml",
        "include: base.yaml\noutput_dir: runs/x\ntrain:\n  ratio: 1:2\n"
        "  schedule: {lr: 1e-4}\n  distill: {projection: tangent, rotation_max_deg: 0}\n",
    )
    cfg = load_train_config(cfg_path)
    assert cfg.train.pseudo_per_labeled == 2 and cfg.train.schedule.lr == 1e-4
    assert cfg.train.distill.projection == "tangent" and cfg.output_dir == "runs/x"
    resolved = cfg.train.schedule
    assert (resolved.epochs, resolved.batch_size, resolved.optimizer) == (60, 2, "adam")  # HoHoNet recipe
    write(tmp_path, "run.yaml", "include: base.yaml\ntrain:\n  distill: {mask_mode: released}\n")
    with pytest.raises(ConfigError, match=r"run.yaml:3: key 'train.distill.mask_mode': expected one of 'paper'"):
        load_train_config(cfg_path)
