"""Student networks: published key/shape manifests, parameter counts, training steps, conventions."""

import json
import re
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from repro.geometry import cube_to_equirect, equirect_directions, equirect_to_cube
from repro.models import PretrainedWeightsUnavailable, build_student, list_students, parameter_counts
from repro.models.bifusepp import PROJECTION_KEY_PATTERN, BiFuseProjection
from repro.models.common import IMAGENET_MEAN, IMAGENET_STD
from repro.models.egformer import horizontal_rpe, vertical_rpe
from repro.models.unifuse import CubeToEquirect

MANIFESTS = Path(__file__).parent / "fixtures" / "manifests"

#: manifest -> the student and options that must reproduce it
PUBLISHED = {
    "unifuse_resnet18": ("unifuse", {"layers": 18}),
    "unifuse_resnet34": ("unifuse", {"layers": 34}),
    "equi_resnet18": ("equi", {"layers": 18}),
    "bifusepp_resnet34": ("bifusepp", {"layers": 34}),
    "hohonet_resnet50": ("hohonet", {"layers": 50}),
    "egformer": ("egformer", {}),
}

#: small configurations for fast CPU steps
TINY = {
    "unifuse": {"layers": 18, "height": 64, "width": 128},
    "equi": {"layers": 18, "height": 64, "width": 128},
    "bifusepp": {"layers": 18, "height": 128, "width": 256},
    "hohonet": {"layers": 18, "height": 64, "width": 128},
    "egformer": {"height": 64, "width": 128},
}


def load_manifest(name: str) -> dict:
    return json.loads((MANIFESTS / f"{name}.json").read_text())


def meta_model(name: str, **options) -> torch.nn.Module:
    with torch.device("meta"):
        return build_student(name, **options)


@pytest.mark.parametrize("manifest", sorted(PUBLISHED))
def test_state_dict_matches_published_manifest(manifest: str) -> None:
    name, options = PUBLISHED[manifest]
    published = load_manifest(manifest)["state_dict"]
    model = meta_model(name, **options)
    derived = [re.compile(p) for p in model.derived_state_patterns]
    expected = {k: v for k, v in published.items() if not any(p.fullmatch(k) for p in derived)}
    ours = model.state_dict()
    assert sorted(set(expected) - set(ours)) == []
    assert sorted(set(ours) - set(expected)) == []
    assert {k: list(v.shape) for k, v in ours.items()} == {k: v["shape"] for k, v in expected.items()}
    assert {k: str(v.dtype).removeprefix("torch.") for k, v in ours.items()} == {
        k: v["dtype"] for k, v in expected.items()
    }
    assert list(ours) == list(expected), "state_dict order differs from the published model"


@pytest.mark.parametrize("manifest", sorted(PUBLISHED))
def test_parameter_counts_match_published(manifest: str) -> None:
    name, options = PUBLISHED[manifest]
    published = load_manifest(manifest)
    assert parameter_counts(name, **options) == (published["num_parameters"], published["num_trainable_parameters"])


def test_bifusepp_projection_tables_are_the_only_keys_set_aside() -> None:
    published = load_manifest("bifusepp_resnet34")["state_dict"]
    derived = [k for k in published if re.fullmatch(PROJECTION_KEY_PATTERN, k)]
    prefixes = {k.split(".e2c.")[0].split(".c2e.")[0] for k in derived}
    assert prefixes == {"dnet.ce", "dnet.f1.CE", "dnet.f2.CE", "dnet.f3.CE", "dnet.f4.CE"}
    assert len(derived) == 5 * 7 * (6 + 12)  # 7 heights: 6 E2C grids, 6 C2E masks + 6 pixel maps
    assert not any(re.fullmatch(PROJECTION_KEY_PATTERN, k) for k in meta_model("bifusepp").state_dict())


def test_registry_lists_the_five_students() -> None:
    assert [s.name for s in list_students()] == ["unifuse", "bifusepp", "hohonet", "egformer", "equi"]
    assert all(s.default_size == (512, 1024) for s in list_students())


def test_build_student_rejects_unknown_names_and_options() -> None:
    with pytest.raises(ValueError, match="unknown student 'unifuze'.*unifuse"):
        build_student("unifuze")
    with pytest.raises(ValueError, match="unknown option.*max_dpeth"):
        build_student("unifuse", max_dpeth=10)
    with pytest.raises(ValueError, match="multiple of 64"):
        build_student("unifuse", height=100, width=200)
    with pytest.raises(ValueError, match="H×2H"):
        build_student("hohonet", height=64, width=64)


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward_small_input(name: str) -> None:
    model = build_student(name, **TINY[name]).train()
    h, w = TINY[name]["height"], TINY[name]["width"]
    x = torch.randn(2, 3, h, w)
    y = model(x)
    assert y.shape == (2, 1, h, w)
    assert torch.isfinite(y).all()
    assert model.output_kind == "disparity"
    y.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    first = next(p for p in model.parameters() if p.requires_grad)
    assert first.grad is not None and first.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="built for"):
        model(torch.randn(1, 3, h, 2 * w))


# the first-stage width at base_channels=16 (UniFuse/Equi/BiFuse++/HoHoNet: ResNet stage 4 is 8×; EGformer's
# bottleneck is 16× its embedding width), and the fraction of the published parameters it must stay under
SMALL = {"unifuse": (0.25, "equi_encoder.layer4.1.conv2", 128), "equi": (0.25, "equi_encoder.layer4.1.conv2", 128),
         "bifusepp": (0.1, "dnet.resnet_equi.layer4.1.conv2", 128), "hohonet": (0.3, "encoder.encoder.layer4.2.conv3", 512),
         "egformer": (0.3, "patch_embed.0", 16)}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_base_channels_builds_a_genuinely_small_student_with_the_same_keys(name: str) -> None:
    """The smoke suite's and --scale tiny's small students: a fraction of the parameters, same keys, trainable."""
    size = {k: v for k, v in TINY[name].items() if k != "layers"}
    full = build_student(name, **size)
    small = build_student(name, **size, base_channels=16)
    assert set(small.state_dict()) == set(full.state_dict())
    fraction, module, width = SMALL[name]
    n_full, _ = parameter_counts(name, **size)
    n_small, _ = parameter_counts(name, **size, base_channels=16)
    assert n_small < n_full * fraction
    assert small.get_submodule(module).out_channels == width
    h, w = size["height"], size["width"]
    y = small(torch.randn(2, 3, h, w))
    assert y.shape == (2, 1, h, w) and torch.isfinite(y).all()
    y.mean().backward()
    first = next(p for n, p in small.named_parameters() if n.endswith("conv1.weight") or n.startswith("patch_embed"))
    assert first.grad is not None and first.grad.abs().sum() > 0
    if name != "egformer":  # no ImageNet backbone to refuse
        with pytest.raises(ValueError, match="base_channels=64"):
            build_student(name, **size, base_channels=16, pretrained=True)


def test_every_train_cell_of_the_paper_suites_trains_a_small_student_at_scale_tiny() -> None:
    from repro.models.registry import STUDENTS
    from repro.suite.schema import load_suite

    suites = sorted(Path(__file__).resolve().parents[1].joinpath("suites").glob("table*.yaml"))
    seen = set()
    for path in suites:
        for cell in load_suite(path, scale="tiny").cells.values():
            if cell.kind == "train":
                assert cell.train.student.options.get("base_channels") == 16, (path.name, cell.name)
                student = STUDENTS[cell.train.student.name].load_class()
                assert cell.train.input_size[0] % student.height_multiple == 0, (path.name, cell.name)
                assert cell.eval.input_size == cell.train.input_size, (path.name, cell.name)
                seen.add(cell.train.student.name)
        for cell in load_suite(path).cells.values():  # the paper's scale keeps the published width
            if cell.kind == "train":
                assert "base_channels" not in cell.train.student.options, (path.name, cell.name)
    assert seen == {"unifuse", "bifusepp", "hohonet", "egformer"}


def test_metric_option_marks_depth_output() -> None:
    model = build_student("equi", **TINY["equi"], metric=True).eval()
    assert model.output_kind == "depth"
    y = model(torch.randn(1, 3, 64, 128))
    assert (y > 0).all() and (y < 10).all()  # max_depth · sigmoid


@pytest.mark.slow
def test_egformer_at_published_size() -> None:
    model = build_student("egformer").eval()
    with torch.no_grad():
        y = model(torch.randn(1, 3, 512, 1024))
    assert y.shape == (1, 1, 512, 1024) and torch.isfinite(y).all()


# ------------------------------------------------------------------------------------------
# Conventions each network was trained with
# ------------------------------------------------------------------------------------------


def test_unifuse_projector_resamples_py360_faces() -> None:
    """UniFuse's grid takes F R B L U D faces (py360convert's list order) back to the panorama."""
    w, h = 16, 32
    d = equirect_directions(h, 2 * h, dtype=torch.float64)
    equi = torch.stack((torch.sin(3 * d[..., 0]) + d[..., 1], torch.cos(2 * d[..., 2]), d[..., 0] * d[..., 2]))[None]
    faces = equirect_to_cube(equi.float(), w)  # (1, 6, 3, w, w), checked against py360convert.e2c
    ours = CubeToEquirect(w, h, 2 * h)(faces.flatten(0, 1))
    assert torch.allclose(ours, cube_to_equirect(faces, h, 2 * h), atol=1e-5)
    assert (ours - equi).abs().mean() < 5e-3  # bilinear round trip of a smooth panorama


def test_bifusepp_faces_look_where_bifuse_looks() -> None:
    """BiFuse's face order is back, down, front, left, right, up, each upright."""
    h = 32
    dirs = equirect_directions(h, 2 * h).permute(2, 0, 1)[None]  # the panorama of its own rays
    faces = BiFuseProjection().e2c(dirs)  # (6, 3, w, w)
    centre = faces[:, :, h // 4 - 1 : h // 4 + 1, h // 4 - 1 : h // 4 + 1].mean((-1, -2))  # even size
    axes = torch.tensor([[0, 0, -1], [0, -1, 0], [0, 0, 1], [-1, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.float32)
    # BiFuse's panorama grid spans (W-1)/W of ours, so its side faces look ~1.4° (1/W turn) off our axes
    assert torch.allclose(centre / centre.norm(dim=1, keepdim=True), axes, atol=0.03)
    # upright side faces: the top row looks up, the right column looks right of the axis
    assert (faces[[0, 2, 3, 4], 1, 0, :] > 0.5).all()
    right = torch.linalg.cross(axes[[0, 2, 3, 4]], torch.tensor([0.0, 1.0, 0.0]).expand(4, 3))  # axis × up
    assert ((faces[[0, 2, 3, 4], :, h // 4, -1] * -right).sum(1) > 0.5).all()


def test_bifusepp_projection_round_trip() -> None:
    h = 64
    d = equirect_directions(h, 2 * h)
    equi = torch.stack((torch.sin(2 * d[..., 0]) + d[..., 1], torch.cos(2 * d[..., 2]), d[..., 1] ** 2))[None]
    proj = BiFuseProjection()
    back = proj.c2e(proj.e2c(equi))
    assert back.shape == equi.shape
    assert (back - equi).abs().mean() < 0.02


def test_hohonet_double_normalisation_is_a_preprocessing_step() -> None:
    torch.manual_seed(0)
    once = build_student("hohonet", **TINY["hohonet"]).eval()
    twice = build_student("hohonet", **TINY["hohonet"], input_norm="double").eval()
    twice.load_state_dict(once.state_dict())
    x = torch.randn(1, 3, 64, 128)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(twice(x), once((x - mean) / std), atol=1e-5)
        assert not torch.allclose(twice(x), once(x), atol=1e-3)


def test_egformer_head_and_input_options() -> None:
    torch.manual_seed(0)
    plain = build_student("egformer", **TINY["egformer"]).eval()
    published = build_student("egformer", **TINY["egformer"], input_norm="unit", metric=True).eval()
    published.load_state_dict(plain.state_dict())
    assert published.output_kind == "depth"
    x = torch.randn(2, 3, 64, 128)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(published(x), torch.sigmoid(plain(x * std + mean)), atol=1e-5)


def test_egformer_tables_follow_the_model_but_not_its_checkpoint() -> None:
    model = build_student("egformer", **TINY["egformer"])
    keys = model.state_dict().keys()
    assert not any(k.endswith(("rpe", "ref_points")) for k in keys)
    model = model.double().eval()
    assert model.stage3[0].rpe.dtype == torch.float64
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 128, dtype=torch.float64)).dtype == torch.float64


def test_egformer_relative_position_tables() -> None:
    v = vertical_rpe(8)
    assert v.shape == (8, 8) and (v.diagonal() == 0).all()
    assert torch.allclose(v + v.T, torch.zeros(8, 8), atol=1e-6)  # signed chord: antisymmetric
    assert (v[0, 1:] > 0).all() and (v[1:, 0] < 0).all()
    hr = horizontal_rpe(4, 8)
    assert hr.shape == (4, 8, 8) and (hr[0] == 0).all()  # sin(0 · π/H): the top row has no bias
    assert torch.allclose(hr[2] * np.sin(np.pi / 4), hr[1], atol=1e-6)  # rows scale with sin(kπ/H)


# ------------------------------------------------------------------------------------------
# ImageNet backbones
# ------------------------------------------------------------------------------------------


def test_pretrained_backbone_comes_from_the_hub_cache(monkeypatch) -> None:
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    calls = []

    def cached(url, *args, **kwargs):
        calls.append(url)
        return reference

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", cached)
    model = build_student("equi", **TINY["equi"], pretrained=True)
    assert calls and calls[0].endswith("resnet18-f37072fd.pth")  # torchvision's IMAGENET1K_V1
    assert torch.equal(model.equi_encoder.conv1.weight, reference["conv1.weight"])


def test_pretrained_backbone_offline_fails_clearly(monkeypatch, tmp_path) -> None:
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(PretrainedWeightsUnavailable, match=r"resnet18: they are not cached at .*checkpoints.*pretrained=False"):
        build_student("unifuse", **TINY["unifuse"], pretrained=True)


@pytest.mark.parametrize("value", [0, 2.5, True, "x"])
def test_an_impossible_base_channels_is_one_error_line(value, tmp_path, capsys) -> None:
    import yaml

    from repro.cli import main

    assert main(["data", "synth", "--out", str(tmp_path / "data"), "--count", "2", "--height", "32"]) == 0
    config = tmp_path / "c.yaml"
    base = Path(__file__).resolve().parents[1] / "configs" / "train_synthetic.yaml"
    config.write_text(yaml.safe_dump({"include": str(base), "train": {"student": {
        "name": "unifuse", "pretrained": False, "options": {"base_channels": value}}}}))
    capsys.readouterr()
    rc = main(["train", str(config), "--out", str(tmp_path / "out"), "--data-root", str(tmp_path / "data"),
               "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("repro train: error: train.student (unifuse")
    assert "base_channels must be a positive integer" in err[-1] and "Traceback" not in "\n".join(err)
