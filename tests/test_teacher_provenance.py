"""Teacher settings reach the teacher, and every result can say which teacher, at which commit, ran how."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from repro.run_settings import DataRef, EvalSettings, TeacherSpec
from repro.suite import provenance
from repro.teacher import DepthAnythingTeacher, OracleTeacher, build_teacher, cached_revision, depth_anything_config

SHA = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_cache(root, repo_id: str = "LiheYoung/depth-anything-large-hf", sha: str = SHA):
    """The Hugging Face cache layout: refs/main names the snapshot a plain from_pretrained reads."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    (repo / "snapshots" / sha).mkdir(parents=True)
    (repo / "snapshots" / sha / "config.json").write_text("{}")
    return root


def test_cached_revision_reads_the_snapshot_commit(tmp_path):
    cache = fake_hub_cache(tmp_path)
    assert cached_revision("LiheYoung/depth-anything-large-hf", cache_dir=cache) == SHA
    assert cached_revision("LiheYoung/depth-anything-large-hf", revision=SHA, cache_dir=cache) == SHA
    assert cached_revision("LiheYoung/depth-anything-small-hf", cache_dir=cache) is None  # not cached
    assert cached_revision(str(tmp_path)) is None  # a local folder has no revision


def test_spec_options_reach_the_teacher():
    spec = TeacherSpec(input_size=28, precision="bf16", output_resize="nearest", pos_embed="transformers", revision="v1")
    opts = spec.build_options()
    assert opts == {
        "input_size": 28, "output_resize": "nearest", "precision": "bf16", "pos_embed": "transformers", "revision": "v1",
        "attention": "sdpa", "chunk_size": 12, "channels_last": False, "compile": False,
    }  # fmt: skip
    teacher = build_teacher("LiheYoung/depth-anything-small-hf", random_init=True, **{**opts, "revision": None})
    p = teacher.provenance()
    assert (p["precision"], p["output_resize"], p["pos_embed"], p["weights"]) == (
        "bf16", "nearest", "transformers", "random_init"
    )  # fmt: skip
    assert "pos_embed" not in TeacherSpec(id="oracle").build_options()  # the oracle has no network


def test_defaults_are_the_original_network_in_fp32():
    spec = TeacherSpec()
    assert (spec.precision, spec.pos_embed, spec.output_resize) == ("fp32", "original", "bilinear")
    with pytest.raises(ValueError):
        DepthAnythingTeacher(torch.nn.Identity(), precision="auto")  # type: ignore[arg-type]


def test_local_folder_provenance(tmp_path):
    from transformers import DepthAnythingForDepthEstimation

    DepthAnythingForDepthEstimation(depth_anything_config("tiny")).save_pretrained(tmp_path / "da")
    p = build_teacher(str(tmp_path / "da"), input_size=28).provenance()
    assert p["weights"] == "local" and p["revision"] is None and p["id"] == str(tmp_path / "da")


def test_suite_provenance_names_each_teacher(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(fake_hub_cache(tmp_path)))
    train = SimpleNamespace(pseudo=["st3d"], teacher=TeacherSpec(precision="bf16"))
    evaluation = EvalSettings(dataset=DataRef("stanford2d3d", "test"), model="teacher_equirect")
    got = provenance.teachers(SimpleNamespace(train=train, eval=evaluation))
    assert got["train"]["revision"] == got["eval"]["revision"] == SHA
    assert got["train"]["precision"] == "bf16" and got["eval"]["precision"] == "fp32"
    dry = provenance.teachers(SimpleNamespace(train=train, eval=None), random_init=True)
    assert dry == {"train": {**got["train"], "revision": None, "weights": "random_init"}}
    oracle = provenance.teachers(SimpleNamespace(train=SimpleNamespace(pseudo=["x"], teacher=TeacherSpec(id="oracle")), eval=None))
    assert oracle["train"]["stand_in"] is True and oracle["train"]["revision"] is None
    assert OracleTeacher().provenance()["stand_in"] is True
