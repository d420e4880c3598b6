"""Checkpoint loading: every released layout, explicit key reports, weights-only safety."""

import argparse
import json
from pathlib import Path

import pytest
import torch

from repro.models import CheckpointError, build_student, load_checkpoint, save_checkpoint

MANIFESTS = Path(__file__).parent / "fixtures" / "manifests"
SMALL = {"layers": 18, "height": 64, "width": 128}


@pytest.fixture(scope="module")
def trained() -> torch.nn.Module:
    """An Equi with non-default weights and BN statistics, standing in for released weights."""
    torch.manual_seed(3)
    model = build_student("equi", **SMALL)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point() and t.dim() > 0:
                t.uniform_(0.5, 1.5)
    return model.eval()


def fresh() -> torch.nn.Module:
    return build_student("equi", **SMALL).eval()


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_through_our_format(trained, tmp_path) -> None:
    path = save_checkpoint(trained, tmp_path / "ckpt" / "student.pth", {"student": "equi", "epoch": 3})
    assert not list(path.parent.glob(".*tmp"))  # atomic write leaves no temp file
    model = fresh()
    report = load_checkpoint(model, path)
    assert report.complete and report.layout == "container['model']"
    assert report.extras["metadata"] == {"student": "equi", "epoch": 3}
    assert same_weights(model, trained)
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        assert torch.equal(model(x), trained(x))


def test_raw_state_dict(trained, tmp_path) -> None:
    torch.save(trained.state_dict(), tmp_path / "raw.pth")
    model = fresh()
    report = load_checkpoint(model, tmp_path / "raw.pth")
    assert report.layout == "state_dict" and report.prefix is None and not report.extras
    assert same_weights(model, trained)


def test_unifuse_model_pth_with_settings_entries(trained, tmp_path) -> None:
    state = dict(trained.state_dict())
    settings = {
        "layers": 18,
        "height": 64,
        "width": 128,
        "dataset": "matterport3d",
        "net": "Equi",
        "fusion": "cee",
        "se_in_fusion": True,
    }
    torch.save({**state, **settings}, tmp_path / "model.pth")
    model = fresh()
    report = load_checkpoint(model, tmp_path / "model.pth")
    assert report.complete and "non-tensor" in report.layout
    assert report.extras == settings
    assert same_weights(model, trained)


def test_depth_anywhere_container_with_optimizer_and_namespace(trained, tmp_path) -> None:
    optim = torch.optim.Adam([p for p in trained.parameters() if p.requires_grad], lr=1e-4)
    settings = argparse.Namespace(lr=1e-4, h=512, w=1024, device=torch.device("cpu"), rgb_mean=[0.485, 0.456, 0.406])
    torch.save(
        {"model": trained.state_dict(), "optim": optim.state_dict(), "settings": settings}, tmp_path / "ckpt_3.pth"
    )
    model = fresh()
    report = load_checkpoint(model, tmp_path / "ckpt_3.pth")
    assert report.complete and report.layout == "container['model']"
    assert report.extras["settings"] == "<Namespace>"
    assert same_weights(model, trained)


@pytest.mark.parametrize("prefix", ["module.", "model."])
def test_wrapper_prefixes_are_stripped(trained, tmp_path, prefix) -> None:
    torch.save({prefix + k: v for k, v in trained.state_dict().items()}, tmp_path / "dp.pth")
    model = fresh()
    report = load_checkpoint(model, tmp_path / "dp.pth")
    assert report.prefix == prefix and report.complete
    assert same_weights(model, trained)


def test_missing_and_unexpected_keys_are_reported(trained, tmp_path) -> None:
    state = dict(trained.state_dict())
    del state["equi_decoder.10.conv.weight"]
    state["equi_decoder.99.conv.weight"] = torch.zeros(1)
    state["equi_encoder.conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(fresh(), tmp_path / "bad.pth")
    message = str(err.value)
    for expected in (
        "missing (1): equi_decoder.10.conv.weight",
        "unexpected (1): equi_decoder.99.conv.weight",
        "equi_encoder.conv1.weight",
    ):
        assert expected in message

    model = fresh()
    before = model.equi_decoder[10].conv.weight.clone()
    report = load_checkpoint(model, tmp_path / "bad.pth", strict=False)
    assert report.missing == ["equi_decoder.10.conv.weight"]
    assert report.unexpected == ["equi_decoder.99.conv.weight"]
    assert report.mismatched == [("equi_encoder.conv1.weight", (64, 3, 3, 3), (64, 3, 7, 7))]
    assert torch.equal(model.equi_decoder[10].conv.weight, before)  # left as it was
    assert torch.equal(model.equi_decoder[9].conv.conv.weight, trained.equi_decoder[9].conv.conv.weight)


def test_size_mismatch_names_the_trained_size(tmp_path) -> None:
    unifuse = build_student("unifuse", **SMALL)
    torch.save({**unifuse.state_dict(), "height": 64, "width": 128}, tmp_path / "model.pth")
    with pytest.raises(
        CheckpointError, match=r"(?s)projectors.0.sample_grid.*trained at 64×128, the model built for 128×256"
    ):
        load_checkpoint(build_student("unifuse", layers=18, height=128, width=256), tmp_path / "model.pth")


def test_old_checkpoints_without_batchnorm_counters(trained, tmp_path) -> None:
    torch.save(
        {k: v for k, v in trained.state_dict().items() if not k.endswith("num_batches_tracked")}, tmp_path / "old.pth"
    )
    report = load_checkpoint(fresh(), tmp_path / "old.pth")
    assert report.complete and report.defaulted and all(k.endswith("num_batches_tracked") for k in report.defaulted)


def test_bifusepp_release_with_projection_tables_under_five_prefixes(tmp_path) -> None:
    """A released BiFuse++ state_dict carries CETransform tables the model recomputes."""
    torch.manual_seed(0)
    model = build_student("bifusepp", layers=18, height=128, width=256).eval()
    published = json.loads((MANIFESTS / "bifusepp_resnet34.json").read_text())["state_dict"]
    # the published key names; tiny tensors keep the file small (their content is never read)
    tables = {
        k: torch.zeros(1, dtype=getattr(torch, v["dtype"])) for k, v in published.items() if ".ce." in k or ".CE." in k
    }
    torch.save({**model.state_dict(), **tables}, tmp_path / "BiFuseV2.pth")
    target = build_student("bifusepp", layers=18, height=128, width=256).eval()
    report = load_checkpoint(target, tmp_path / "BiFuseV2.pth")
    assert report.complete and len(report.derived) == len(tables) == 630
    assert same_weights(target, model)


class Payload:
    """Stands in for arbitrary pickled code in a malicious checkpoint."""


def test_refuses_pickled_code(tmp_path) -> None:
    torch.save({"model": {"w": torch.zeros(1)}, "obj": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="weights only"):
        load_checkpoint(fresh(), tmp_path / "evil.pth")


def test_unreadable_inputs(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(fresh(), tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_checkpoint(fresh(), tmp_path / "junk.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_checkpoint(fresh(), tmp_path / "list.pth")


def test_models_list_cli(capsys) -> None:
    from repro.cli import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name, count in [
        ("unifuse", "30,787,058"),
        ("bifusepp", "52,487,905"),
        ("hohonet", "49,466,433"),
        ("egformer", "15,388,711"),
        ("equi", "14,327,218"),
    ]:
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert count in line and "512x1024" in line
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["trainable"] for r in rows}["unifuse"] == 30263281
    assert main(["models"]) == 2
    assert "choose an action: list, fetch" in capsys.readouterr().err


def test_models_fetch_is_wired(monkeypatch, capsys) -> None:
    from repro.cli import main
    from repro.teacher import hub

    seen = {}

    def fake_fetch(ids, **kwargs):
        seen["ids"] = ids
        return [Path("/cache") / i for i in ids]

    monkeypatch.setattr(hub, "fetch_weights", fake_fetch)
    assert main(["models", "fetch", "depth-anything/Depth-Anything-V2-Small-hf"]) == 0
    assert seen["ids"] == ["depth-anything/Depth-Anything-V2-Small-hf"]
    assert capsys.readouterr().out.strip() == "/cache/depth-anything/Depth-Anything-V2-Small-hf"


def test_a_corrupt_file_is_a_checkpoint_error_not_a_traceback(tmp_path) -> None:
    """Junk bytes make torch's weights-only unpickler fail with a KeyError; both readers say which file."""
    from repro.models.checkpoints import NotOurFormat, load_state, read_checkpoint

    junk = tmp_path / "junk.pth"
    junk.write_text("junk\n")
    with pytest.raises(CheckpointError, match="junk.pth"):
        read_checkpoint(junk)
    with pytest.raises(NotOurFormat, match="junk.pth"):
        load_state(junk)
