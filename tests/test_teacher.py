"""Teacher: tiny randomly initialised Depth Anything (no downloads), the oracle, the equirect model."""

from __future__ import annotations

import pytest
import torch
from transformers import DepthAnythingForDepthEstimation

from repro.teacher import (
    DepthAnythingTeacher,
    OracleTeacher,
    TeacherOnEquirect,
    WeightsMissingError,
    build_teacher,
    depth_anything_config,
    teacher_input_size,
)


def tiny_depth_anything(seed: int = 0) -> DepthAnythingForDepthEstimation:
    torch.manual_seed(seed)
    return DepthAnythingForDepthEstimation(depth_anything_config("tiny"))


@pytest.fixture(scope="module")
def tiny_model() -> DepthAnythingForDepthEstimation:
    return tiny_depth_anything()


def make_teacher(model, **opts) -> DepthAnythingTeacher:
    opts.setdefault("input_size", 42)
    return DepthAnythingTeacher(model, **opts)


def test_shapes_and_per_face_range(tiny_model):
    teacher = make_teacher(tiny_model)
    faces = torch.rand(7, 3, 20, 20)
    out = teacher.predict_faces(faces)
    assert out.shape == (7, 1, 20, 20)
    flat = out.flatten(1)
    assert torch.allclose(flat.amin(1), torch.zeros(7))
    assert torch.allclose(flat.amax(1), torch.ones(7))


def test_chunking_equals_one_batch(tiny_model):
    faces = torch.rand(12, 3, 16, 16)
    one = make_teacher(tiny_model, chunk_size=12).predict_faces(faces)
    for chunk in (1, 5):
        assert torch.allclose(make_teacher(tiny_model, chunk_size=chunk).predict_faces(faces), one, atol=1e-5)


def test_faces_are_independent(tiny_model):
    """Per-face normalisation: a face's output does not depend on the other faces in the batch."""
    teacher = make_teacher(tiny_model, chunk_size=4)
    faces = torch.rand(6, 3, 16, 16)
    alone = teacher.predict_faces(faces[2:3])
    together = teacher.predict_faces(faces)
    assert torch.allclose(together[2:3], alone, atol=1e-5)
    # brighter other faces change nothing for face 2
    faces2 = faces.clone()
    faces2[[0, 1, 3]] = 1.0
    assert torch.allclose(teacher.predict_faces(faces2)[2:3], alone, atol=1e-5)


class SpyDepth(torch.nn.Module):
    """Records the pixel values the network sees and the disparity it returns."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, {}

    @property
    def backbone(self):  # where the teacher installs its position-embedding resize
        return self.model.backbone

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        self.seen.update(x=pixel_values, y=out.predicted_depth)
        return out


def test_network_sees_imagenet_normalised_input_at_input_size(tiny_model):
    spy = SpyDepth(tiny_model)
    make_teacher(spy, input_size=28).raw_disparity(torch.full((2, 3, 10, 10), 0.5))
    x = spy.seen["x"]
    assert x.shape == (2, 3, 28, 28)
    expected = (0.5 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(x[0, :, 5, 5], expected, atol=1e-5)


def test_output_resize_modes(tiny_model):
    faces = torch.rand(1, 3, 16, 16)
    spy = SpyDepth(tiny_model)
    nearest = make_teacher(spy, output_resize="nearest").raw_disparity(faces)
    produced = spy.seen["y"]
    bilinear = make_teacher(tiny_model, output_resize="bilinear").raw_disparity(faces)
    assert nearest.shape == bilinear.shape == (1, 1, 16, 16)
    assert not torch.allclose(nearest, bilinear)
    # nearest (the released code) only picks values the network produced at 42×42
    assert torch.isin(nearest.flatten(), produced.flatten()).all()
    assert not torch.isin(bilinear.flatten(), produced.flatten()).all()


def test_frozen_and_stays_in_eval(tiny_model):
    teacher = make_teacher(tiny_model)
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher.model.training
    faces = torch.rand(2, 3, 16, 16, requires_grad=True)
    assert not teacher.predict_faces(faces).requires_grad


def test_input_sizing_follows_depth_anything():
    assert teacher_input_size(256, 256, 518) == (518, 518)
    assert teacher_input_size(512, 1024, 518) == (518, 1036)
    assert teacher_input_size(32, 32, 28) == (28, 28)
    with pytest.raises(ValueError, match="multiple of 14"):
        DepthAnythingTeacher(torch.nn.Identity(), input_size=500)


def test_real_architectures_are_known():
    cfg = depth_anything_config("LiheYoung/depth-anything-large-hf")
    assert cfg.backbone_config.hidden_size == 1024 and cfg.backbone_config.num_hidden_layers == 24
    assert list(cfg.backbone_config.out_indices) == [21, 22, 23, 24]
    assert list(depth_anything_config("depth-anything-v2-large").backbone_config.out_indices) == [5, 12, 18, 24]
    assert list(depth_anything_config("depth-anything/Depth-Anything-V2-Small-hf").neck_hidden_sizes) == [
        48,
        96,
        192,
        384,
    ]
    with pytest.raises(ValueError, match="small/base/large"):
        depth_anything_config("someone/depth-model")


def test_missing_weights_error_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as info:
        build_teacher("LiheYoung/depth-anything-large-hf", cache_dir=tmp_path)
    msg = str(info.value)
    assert "repro models fetch LiheYoung/depth-anything-large-hf" in msg
    assert "HF_HUB_OFFLINE" in msg


def test_local_directory_loads(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "da")
    teacher = build_teacher(str(tmp_path / "da"), input_size=42)
    faces = torch.rand(3, 3, 16, 16)
    assert torch.allclose(teacher.predict_faces(faces), make_teacher(tiny_model).predict_faces(faces), atol=1e-5)


def planar_depth(n: int = 4, size: int = 16) -> torch.Tensor:
    depth = 1.0 + 4.0 * torch.rand(n, 1, size, size)
    depth[:, :, :3, :] = 0  # unknown rows (e.g. sky)
    return depth


def test_oracle_without_distortion_is_true_normalised_disparity():
    depth = planar_depth()
    teacher = build_teacher("oracle", scale_range=(1, 1), shift_range=(0, 0), noise_std=0)
    out = teacher.predict_faces(None, depth=depth)
    valid = depth > 0
    disp = torch.where(valid, 1 / depth.clamp_min(1e-6), torch.zeros_like(depth))
    for i in range(depth.shape[0]):
        d = disp[i][valid[i]]
        assert torch.allclose(out[i][valid[i]], (d - d.min()) / (d.max() - d.min()), atol=1e-6)
    assert (out[~valid] == 0).all()


def test_oracle_affine_distortion_is_removed_noise_is_not():
    depth = planar_depth()
    exact = OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0).predict_faces(None, depth)
    affine = OracleTeacher(scale_range=(0.5, 2), shift_range=(0, 0.3), noise_std=0).predict_faces(None, depth)
    assert torch.allclose(affine, exact, atol=1e-5)
    raw = OracleTeacher(scale_range=(0.5, 2), shift_range=(0, 0.3), noise_std=0).raw_disparity(depth)
    assert not torch.allclose(
        raw, OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0).raw_disparity(depth)
    )
    noisy = OracleTeacher(noise_std=0.05).predict_faces(None, depth)
    err = (noisy - exact)[depth > 0].abs().mean()
    assert 0.01 < err < 0.1
    assert OracleTeacher.is_stand_in and "ORACLE" in OracleTeacher().describe()


def test_oracle_needs_depth():
    with pytest.raises(ValueError, match="true planar depth"):
        OracleTeacher().predict_faces(torch.rand(1, 3, 8, 8))


def test_teacher_on_equirect_has_student_interface(tiny_model):
    model = TeacherOnEquirect(make_teacher(tiny_model, input_size=28))
    x = torch.randn(2, 3, 16, 32)
    out = model(x)
    assert out.shape == (2, 1, 16, 32)
    assert not model.is_stand_in
    oracle = TeacherOnEquirect(OracleTeacher(scale_range=(1, 1), shift_range=(0, 0), noise_std=0))
    dist = 1 + torch.rand(2, 1, 16, 32)
    assert torch.allclose(oracle(x, depth=dist), 1 / dist)
    assert oracle.is_stand_in


def test_fetch_weights_resolves_names_and_refuses_offline(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    from repro.cli import main
    from repro.teacher.hub import fetch_weights

    calls = []

    def fake_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(kwargs["local_dir"] or tmp_path / "cache" / repo_id)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="unset it"):
        fetch_weights(["depth-anything-v2-small"])
    assert main(["models", "fetch"]) == 2
    assert "repro models: error: HF_HUB_OFFLINE is set" in capsys.readouterr().err

    monkeypatch.delenv("HF_HUB_OFFLINE")
    paths = fetch_weights(["depth-anything-v2-small"], local_dir=tmp_path / "w")
    assert calls[-1][0] == "depth-anything/Depth-Anything-V2-Small-hf"
    assert paths == [tmp_path / "w" / "depth-anything--Depth-Anything-V2-Small-hf"]
    assert "*.safetensors" in calls[-1][1]["allow_patterns"]
    assert main(["models", "fetch"]) == 0  # no ids: the teacher and both mask models
    assert [c[0] for c in calls[-3:]] == [
        "LiheYoung/depth-anything-large-hf",
        "IDEA-Research/grounding-dino-tiny",
        "facebook/sam-vit-huge",
    ]
