"""Pinned Hugging Face revisions reach every download and every result's provenance."""

from __future__ import annotations

import re

import pytest

from repro import revisions
from repro.choices import DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID
from repro.errors import UserError
from repro.run_settings import DEFAULT_TEACHER, TeacherSpec
from repro.teacher import DEFAULT_ID, load_pretrained


def test_every_default_model_is_pinned_to_a_commit_hash():
    for model_id in (DEFAULT_ID, DEFAULT_TEACHER, DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID):
        assert re.fullmatch(r"[0-9a-f]{40}", revisions.PINNED[model_id]), model_id


def test_unpinned_hub_id_needs_an_explicit_revision(tmp_path):
    with pytest.raises(UserError, match="no pinned revision.*someone/depth-model"):
        revisions.resolve_revision("someone/depth-model")
    assert revisions.resolve_revision("someone/depth-model", "abc123") == "abc123"
    assert revisions.resolve_revision(str(tmp_path)) is None  # a local folder needs none
    assert revisions.resolve_revision(DEFAULT_ID, "main") == "main"  # explicit beats the pin


def test_resolved_train_settings_record_the_teacher_revision():
    from repro.run_settings import DataRef, StudentSpec, TrainSettings

    settings = TrainSettings(student=StudentSpec(name="unifuse"), labeled=[DataRef(dataset="matterport3d")])
    resolved = settings  # resolved at load: the stored config names the revision
    assert resolved.teacher.revision == revisions.PINNED[DEFAULT_TEACHER]
    assert resolved.teacher.build_options()["revision"] == revisions.PINNED[DEFAULT_TEACHER]
    oracle = TeacherSpec(id="oracle")
    assert oracle.pinned() is oracle and "revision" not in oracle.build_options()


class FakeModel:
    calls: list[tuple[str, dict]] = []

    @classmethod
    def from_pretrained(cls, model_id, **kwargs):
        cls.calls.append((model_id, kwargs))
        return cls()


def test_load_pretrained_passes_the_pin_and_records_it(monkeypatch):
    from repro.suite import provenance

    monkeypatch.setattr(revisions, "_LOADED", {})
    load_pretrained(FakeModel, DEFAULT_SEGMENTER_ID)
    model_id, kwargs = FakeModel.calls[-1]
    assert model_id == DEFAULT_SEGMENTER_ID and kwargs["revision"] == revisions.PINNED[DEFAULT_SEGMENTER_ID]
    load_pretrained(FakeModel, DEFAULT_ID, revision="0123abcd")
    assert FakeModel.calls[-1][1]["revision"] == "0123abcd"
    record = provenance.collect(seeds=[0])
    assert record["hub_models"]["loaded"] == {
        DEFAULT_ID: "0123abcd",
        DEFAULT_SEGMENTER_ID: revisions.PINNED[DEFAULT_SEGMENTER_ID],
    }
    assert record["hub_models"]["pinned"][DEFAULT_ID] == revisions.PINNED[DEFAULT_ID]


def test_models_fetch_downloads_the_pinned_revisions(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    from repro.cli import main

    calls = []
    monkeypatch.setattr(
        huggingface_hub, "snapshot_download", lambda repo_id, **kw: calls.append((repo_id, kw)) or str(tmp_path)
    )
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert main(["models", "fetch"]) == 0
    assert {repo: kw["revision"] for repo, kw in calls} == {
        m: revisions.PINNED[m] for m in (DEFAULT_ID, DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID)
    }
    calls.clear()
    assert main(["models", "fetch", "someone/model", "--revision", "feedbeef"]) == 0
    assert calls == [("someone/model", calls[0][1])] and calls[0][1]["revision"] == "feedbeef"
    calls.clear()
    assert main(["models", "fetch", DEFAULT_ID, "someone/model"]) == 2
    assert "no pinned revision" in capsys.readouterr().err
    assert calls == []  # checked before anything is downloaded
