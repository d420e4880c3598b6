"""The teacher's cheap forms (bf16-held weights, SDPA, channels-last, chunking) stay the same network."""

from __future__ import annotations

import pytest
import torch

from repro.run_settings import TeacherSpec
from repro.teacher import build_teacher, build_teacher_from_spec


def _teacher(**opts):
    torch.manual_seed(0)
    return build_teacher("tiny", random_init=True, input_size=56, **opts)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_bf16_weights_hold_no_fp32_copy_and_stay_close(faces):
    fp32, held = _teacher(), _teacher(precision="bf16_weights")
    assert {p.dtype for p in held.model.parameters()} == {torch.bfloat16}
    size32 = sum(p.numel() * p.element_size() for p in fp32.model.parameters())
    size16 = sum(p.numel() * p.element_size() for p in held.model.parameters())
    assert size16 * 2 == size32
    a, b = fp32.predict_faces(faces), held.predict_faces(faces)
    assert b.dtype == torch.float32 and not torch.equal(a, b)
    assert (a - b).abs().mean() < 0.01  # per-face [0, 1] targets: bf16 moves them by a fraction of a percent


def test_sdpa_eager_channels_last_and_chunking_change_nothing(faces):
    ref = _teacher(chunk_size=1).predict_faces(faces)
    for opts in ({"attention": "eager"}, {"channels_last": True}, {"chunk_size": 6}, {"chunk_size": 4}):
        out = _teacher(**opts).predict_faces(faces)
        assert torch.allclose(out, ref, atol=1e-5), opts
    t = _teacher(attention="eager")
    assert t.model.backbone.config._attn_implementation == "eager"
    with pytest.raises(ValueError, match="attention must be one of"):
        _teacher(attention="flash")


def test_spec_options_reach_the_teacher_and_its_provenance():
    spec = TeacherSpec(id="tiny", input_size=28, precision="bf16_weights", chunk_size=24, channels_last=True)
    p = build_teacher_from_spec(spec, random_init=True).provenance()
    assert (p["precision"], p["chunk_size"], p["channels_last"], p["attention"], p["compile"]) == (
        "bf16_weights", 24, True, "sdpa", False
    )
    with pytest.raises(ValueError, match="chunk_size"):
        TeacherSpec(chunk_size=0)


def test_the_network_is_registered_once_also_when_compiled():
    plain, compiled = _teacher(), _teacher(compile=True)
    keys = set(plain.model.state_dict())
    assert set(plain.state_dict()) == {f"model.{k}" for k in keys}  # no second copy under another name
    assert set(compiled.state_dict()) == set(plain.state_dict())
    assert compiled.provenance()["compile"] is True and plain.provenance()["compile"] is False
    assert callable(compiled.compile)  # nn.Module.compile is not hidden by the option
