"""The authors' released checkpoints: loading, the suite's --checkpoints path, the diagnosis, figures.

Checkpoints are our own randomly initialised students written as the released train.py saves them
({'model', 'optim', 'settings'}) in the release's folder layout (tests/released_fixtures.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from repro.cli import main
from repro.evaluation.diagnose import Scoring, score_many, switches
from repro.models.checkpoints import CheckpointError
from repro.models.released import WrongStudentError, load_released
from repro.run_settings import DataRef, EvalSettings
from repro.suite.paired import compare
from tests.released_fixtures import EXTRA_KEYS, README_LAYOUT, write_release

ROOT = Path(__file__).resolve().parents[1]
TINY = (64, 128)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """UniFuse baseline and +ST, EGFormer baseline (README name, two extra keys); nothing else."""
    root = tmp_path_factory.mktemp("release")
    files = {k: README_LAYOUT[k] for k in ("UniFuse/UniFuse.pth", "UniFuse/UniFuse_st3d.pth", "EGFormer/HoHoNet.pth")}
    return write_release(root, TINY, files=files, extra_keys=EXTRA_KEYS)


def test_released_file_loads_and_names_its_extra_keys(release: Path) -> None:
    _, meta, report = load_released(release / "EGFormer/HoHoNet.pth", "egformer", {}, TINY)
    assert sorted(report.unexpected) == sorted(EXTRA_KEYS)
    assert not report.missing and not report.mismatched
    assert report.layout.startswith("container['model']") and "optim" in report.extras
    assert all(k in report.summary() for k in EXTRA_KEYS)
    assert meta["output_kind"] == "disparity" and meta["input_size"] == list(TINY)


def test_a_file_of_another_student_is_refused_by_name(release: Path) -> None:
    path = release / "UniFuse/UniFuse.pth"
    with pytest.raises(WrongStudentError) as err:
        load_released(path, "egformer", {}, TINY, expected_by="row egformer_m_all")
    message = str(err.value)
    assert str(path) in message and "'egformer'" in message and "row egformer_m_all" in message
    assert "fit 'unifuse'" in message


def test_a_file_for_another_input_size_lists_the_mismatched_keys(release: Path) -> None:
    with pytest.raises(CheckpointError, match=r"projectors\.0\.sample_grid.*\n(.*\n)*.*hint: the network was built for 128×256"):
        load_released(release / "UniFuse/UniFuse.pth", "unifuse", {}, (128, 256))


def test_paired_comparison_pairs_images_by_name() -> None:
    base = {f"img{i}": 0.10 + 0.01 * (i % 3) for i in range(20)}
    better = {k: v - 0.004 for k, v in base.items()}
    r = compare(better, base, lower_is_better=True)
    assert r.n == 20 and r.improvement == pytest.approx(0.004) and r.ci[0] > 0 and r.holds()
    worse = compare(base, better, lower_is_better=True)
    assert worse.improvement < 0 and not worse.holds()
    with pytest.raises(ValueError, match="same test images"):
        compare({"a": 1.0}, {"b": 1.0}, lower_is_better=True)


def test_each_switch_changes_what_it_names(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    depth = 1 + 4 * torch.rand(1, 32, 64, generator=g)
    depth[:, :2] = 0  # no return at the top, as Stanford2D3D's 65535
    data = [{"rgb": torch.rand(3, 32, 64, generator=g), "depth": depth, "path": f"p{i}"} for i in range(2)]
    settings = EvalSettings(dataset=DataRef("stanford2d3d", "test"))
    scorings = [Scoring("base", "base", settings), *switches(settings, 512.0, 65535)]
    seen = []

    def predict(x: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        seen.append(float(x.std()))
        return 1.0 / gt.clamp_min(0.5) + 0.1  # disparity with a shift: only least squares removes it

    accs = score_many(predict, data, scorings, pred_is_disparity=True, out_dir=tmp_path, progress=False)
    res = {k: a.result() for k, a in accs.items()}
    assert len(seen) == 4  # two images, twice each: as given and through half resolution
    assert res["alignment"]["abs_rel"] < res["base"]["abs_rel"] / 10  # the shift is removed
    assert accs["crop"].rows[0]["valid_pixels"] < accs["base"].rows[0]["valid_pixels"]
    assert accs["invalid_kept"].rows[0]["valid_pixels"] == 32 * 64
    assert res["depth_units"]["abs_rel"] == pytest.approx(res["base"]["abs_rel"])  # median alignment: scale-free
    assert res["depth_units"]["rmse"] < res["base"]["rmse"]
    for form in ("released", "log10"):
        assert res[f"rmse_log_{form}"]["abs_rel"] == res["base"]["abs_rel"]
        assert res[f"rmse_log_{form}"]["rmse_log"] != res["base"]["rmse_log"]
    assert (tmp_path / "per_image.crop.csv").read_text().startswith("image,valid_pixels,abs_rel")


def _small_suites(tmp_path: Path, count: int) -> Path:
    """The real suite, expected and defaults files, with fewer synthetic images at --scale tiny."""
    for sub in ("suites", "expected"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    paper = tmp_path / "suites/_defaults/paper.yaml"
    text = paper.read_text()
    assert "      count: 8\n" in text
    paper.write_text(text.replace("      count: 8\n", f"      count: {count}\n"))
    return tmp_path / "suites"


def test_suite_with_released_checkpoints_end_to_end(release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suites = _small_suites(tmp_path, count=2)
    cells = "depth_anything,unifuse_m_all,unifuse_m_all_st,egformer_m_all,hohonet_m_all,bifuse_berhu"
    rc = main(["suite", "table3_zero_shot", "--scale", "tiny", "--checkpoints", str(release), "--cells", cells,
               "--suites", str(suites), "--out", str(tmp_path / "runs"), "--device", "cpu", "--report-only"])
    out = capsys.readouterr().out
    assert rc == 0
    run = tmp_path / "runs/table3_zero_shot-tiny-checkpoints"
    data = json.loads((run / "released.json").read_text())
    rows = {(r["cell"], r.get("evaluator")): r for r in data["rows"]}
    for cell in ("depth_anything", "unifuse_m_all", "unifuse_m_all_st", "egformer_m_all"):
        for ev in ("paper", "released"):
            assert rows[(cell, ev)]["status"] == "ok" and rows[(cell, ev)]["measured"]["abs_rel"] > 0
    assert rows[("egformer_m_all", "paper")]["source"] == "EGFormer/HoHoNet.pth"  # the README's spelling
    assert rows[("hohonet_m_all", None)]["status"] == "skipped"
    assert "HoHoNet/HoHoNet.pth" in rows[("hohonet_m_all", None)]["why"]
    # the cells' evaluations are the evaluator's files, and every scoring keeps its per-image CSV
    eval_dir = Path(json.loads((run / "unifuse_m_all/result.json").read_text())["seeds"][0]["eval_dir"])
    for name in ("per_image.csv", "per_image.paper.csv", "per_image.released.csv", "per_image.crop.csv"):
        assert len((eval_dir / name).read_text().splitlines()) == 3, name  # header + 2 images
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert set(metrics["evaluators"]) == {"cell", "paper", "released"}
    assert metrics["evaluators"]["released"]["evaluation"]["crop_rows"] == round(68 * 64 / 512)  # 68 at H = 512
    # paired per-image claims between the baseline and +ST files, under both evaluators
    claims = [c for c in data["claims"] if c["claim"].startswith("unifuse_m_all_st better than unifuse_m_all")]
    assert [c["evaluator"] for c in claims] == ["paper", "released"] and all(c["n"] == 2 for c in claims)
    # unexpected keys named; a diagnosis per row at this scale
    assert "extra_head.weight, extra_head.bias" in out
    assert {d["cell"] for d in data["diagnosis"]} == {"depth_anything", "unifuse_m_all", "unifuse_m_all_st", "egformer_m_all"}
    switched = {s["switch"] for s in data["diagnosis"][0]["switches"]}
    assert {"alignment", "crop", "depth_units", "invalid_kept", "resolution", "rmse_log_released"} <= switched
    for heading in ("both evaluators", "Load reports", "Paired per-image claims", "Diagnosis: unifuse_m_all"):
        assert heading in out
    assert (run / "released.md").is_file() and not (tmp_path / "runs/_cache").exists()  # nothing trained


def test_checkpoints_flag_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suite", "table3_zero_shot", "--checkpoints", str(tmp_path / "nope")]) == 2
    assert "--checkpoints" in capsys.readouterr().err
    assert main(["suite", "table7_ratio", "--checkpoints", str(tmp_path)]) == 2
    assert "released_checkpoints" in capsys.readouterr().err


def _ply_vertices(path: Path) -> int:
    head = path.read_bytes()[:400].decode("ascii", "replace")
    return int(head.split("element vertex ")[1].split("\n")[0])


def test_figures_sheet_and_outputs_at_the_image_resolution(release: Path, tmp_path: Path) -> None:
    from repro.data.synth import write_dataset

    write_dataset("folder", tmp_path / "panos", count=1, height=48, seed=1, progress=False)
    rc = main(["figures", str(tmp_path / "panos"), "--checkpoints", str(release / "UniFuse/UniFuse.pth"),
               str(release / "UniFuse/UniFuse_st3d.pth"), "--input-size", "64", "128", "--out", str(tmp_path / "fig"),
               "--device", "cpu"])
    assert rc == 0
    with Image.open(tmp_path / "fig/comparison.png") as sheet:
        assert sheet.size[0] > 2 * sheet.size[1]  # one row: input, two depths, colourbar, two clouds
    for label in ("UniFuse", "UniFuse_st3d"):
        with Image.open(tmp_path / f"fig/pano_00000_{label}_depth.png") as im:
            assert im.size == (96, 48) and im.mode.startswith("I")
        assert 0 < _ply_vertices(tmp_path / f"fig/pano_00000_{label}.ply") <= 96 * 48


def test_figures_needs_the_network_of_an_unmapped_file(release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "mine.pth"
    shutil.copy(release / "UniFuse/UniFuse.pth", odd)
    img = tmp_path / "p.png"
    Image.new("RGB", (128, 64)).save(img)
    assert main(["figures", str(img), "--checkpoints", str(odd), "--out", str(tmp_path / "o")]) == 2
    assert "--student NAME" in capsys.readouterr().err


@pytest.mark.slow
def test_full_size_release_on_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's check: every released file at 512×1024 on synthetic Stanford2D3D at 512×1024 (CPU)."""
    import time

    from repro.data.synth import write_dataset

    release = write_release(tmp_path / "checkpoints", (512, 1024))
    write_dataset("stanford2d3d", tmp_path / "data/stanford2d3d", count=1, height=512, seed=0, progress=False)
    started = time.time()
    rc = main(["suite", "table3_zero_shot", "--checkpoints", str(release), "--data-root", str(tmp_path / "data"),
               "--out", str(tmp_path / "runs"), "--device", "cpu", "--report-only"])
    seconds = time.time() - started
    out = capsys.readouterr().out
    assert rc == 0
    data = json.loads((tmp_path / "runs/table3_zero_shot-checkpoints/released.json").read_text())
    evaluated = {r["cell"] for r in data["rows"] if r.get("evaluator") == "released" and r["status"] == "ok"}
    assert len(evaluated) == 10  # every released file is a row
    assert {d["cell"] for d in data["diagnosis"]} == evaluated  # random weights miss every row
    assert len(data["claims"]) == 2 * 6  # six baseline-vs-pseudo-label claims, two evaluators
    assert "Diagnosis: egformer_m_all_st" in out
    print(f"full-size --checkpoints run: {seconds:.0f} s")
    assert seconds < 600
