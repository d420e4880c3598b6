"""Atomic writes: whole files or the old ones, with the permissions a plain open() would give."""

from __future__ import annotations

import os
import stat

import pytest
from PIL import Image

from repro import atomic


@pytest.fixture
def umask():
    def set_umask(mask: int) -> None:
        os.umask(mask)

    before = os.umask(0o022)
    os.umask(before)
    yield set_umask
    os.umask(before)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_results_are_readable_by_group_and_others_under_the_default_umask(tmp_path, umask):
    umask(0o022)
    paths = [
        atomic.write_text(tmp_path / "a" / "report.md", "hello\n"),
        atomic.write_json(tmp_path / "metrics.json", {"abs_rel": 0.1}),
        atomic.write_png(tmp_path / "x.png", Image.new("L", (4, 4))),
        atomic.write_bytes(tmp_path / "w.pt", b"\0" * 10, fsync=False),
    ]
    assert [mode(p) for p in paths] == [0o644] * 4
    umask(0o077)  # a private umask is honoured too
    assert mode(atomic.write_text(tmp_path / "private.txt", "x")) == 0o600
    assert (tmp_path / "metrics.json").read_text() == '{\n  "abs_rel": 0.1\n}\n'
    assert Image.open(paths[2]).size == (4, 4)


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = atomic.write_text(tmp_path / "result.json", "old")

    class Boom:
        def __buffer__(self, flags):
            raise RuntimeError("disk on fire")

    with pytest.raises((RuntimeError, TypeError)):
        atomic.write_bytes(target, Boom())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_tagged_temps_can_be_found_by_their_writer(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic.write_bytes(tmp_path / "m.png", b"x", tag=".shard-0-of-2")
    assert seen[0].startswith(".m.png.") and seen[0].endswith(".shard-0-of-2.tmp")
