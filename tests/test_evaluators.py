"""Both named evaluators on every evaluation: settings, on-disk record, and what the suite reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from repro.evaluation.evaluators import CELL, evaluator_settings, evaluators_for, same_as
from repro.run_settings import DataRef, EvalSettings


def test_named_evaluators_follow_the_paper_and_the_released_code():
    sf = EvalSettings(dataset=DataRef("stanford2d3d", "test"))
    paper, released = evaluator_settings(sf, "paper"), evaluator_settings(sf, "released")
    assert (paper.protocol, paper.crop_rows, paper.clamp) == ("median", 0, None)
    assert (released.protocol, released.crop_rows, released.clamp, released.rmse_log) == (
        "lsq_disparity_median",
        68,
        (0.1, 10.0),
        "released",
    )
    mp = evaluator_settings(EvalSettings(dataset=DataRef("matterport3d", "test")), "released")
    assert mp.crop_rows == 0  # the 68-row crop is Stanford2D3D's only
    metric = EvalSettings(dataset=DataRef("stanford2d3d", "test"), protocol="none")
    assert {evaluator_settings(metric, n).protocol for n in ("paper", "released")} == {"none"}
    assert same_as(sf) == "paper" and CELL not in evaluators_for(sf)  # the paper's defaults: no third column
    custom = EvalSettings(dataset=DataRef("stanford2d3d", "test"), protocol="lsq_disparity_median")
    assert list(evaluators_for(custom)) == [CELL, "paper", "released"] and same_as(custom) is None
    with pytest.raises(ValueError, match="unknown evaluator"):
        evaluator_settings(sf, "eq9")


def test_rmse_log_accepts_log10():
    from repro.config import from_data

    s = from_data(EvalSettings, {"dataset": {"dataset": "stanford2d3d"}, "rmse_log": "log10"})
    assert s.rmse_log == "log10"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Supplied predictions (depth with a shift in disparity) on synthetic Stanford2D3D, evaluated once."""
    from repro.data import build_dataset
    from repro.data.synth import ensure_synthetic
    from repro.evaluation.evaluate import evaluate
    from repro.suite.schema import SynthSpec

    root = tmp_path_factory.mktemp("eval")
    ref = DataRef("stanford2d3d", "test")
    ensure_synthetic(ref, SynthSpec(count=3, height=32, seed=0, styles={"stanford2d3d": "b"}), data_root=root)
    ds = build_dataset(ref, root, size=(32, 64), augment=False)
    preds = root / "preds"
    preds.mkdir()
    for i in range(len(ds)):
        s = ds[i]
        depth = s["depth"][0].numpy().astype(np.float64)
        disp = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-6), 0.0)
        shifted = 1.0 / (2.0 * disp + 0.3)  # an affine error in disparity: LSQ removes it, a median scale cannot
        np.save(preds / f"{Path(s['path']).stem}.npy", shifted.astype(np.float32))
    settings = EvalSettings(dataset=ref, model="predictions", predictions="preds", input_size=(32, 64))
    out = root / "out"
    metrics = evaluate(
        settings, checkpoint=None, out_dir=out, data_root=root, device="cpu", num_workers=0, progress=False
    )
    return out, metrics


def test_evaluate_records_both_evaluators(scored):
    out, metrics = scored
    report = json.loads((out / "metrics.json").read_text())
    assert report["cell_evaluator"] == "paper" and set(report["evaluators"]) == {"paper", "released"}
    paper, released = (report["evaluators"][n] for n in ("paper", "released"))
    assert metrics["abs_rel"] == pytest.approx(paper["metrics"]["abs_rel"])  # the cell's own numbers are the paper's
    assert released["evaluation"]["crop_rows"] == 4 and released["evaluation"]["rmse_log"] == "released"
    # the shift in disparity is removed by the least-squares fit only
    assert released["metrics"]["abs_rel"] < 0.02 < paper["metrics"]["abs_rel"]
    for name in ("paper", "released"):
        assert (out / f"per_image.{name}.csv").read_text().count("\n") == 1 + 3


def test_suite_evidence_reads_the_evaluation(scored):
    from repro.suite.evidence import read_evaluation, seed_images, seed_metrics

    out, _ = scored
    record = {"seed": 0, "metrics": {"abs_rel": 9.9}, **read_evaluation(out)}
    result = {"status": "ok", "seeds": [record]}
    released = seed_metrics(result, "released")["abs_rel"]["0"]
    assert released == pytest.approx(record["evaluators"]["released"]["abs_rel"])
    assert seed_metrics(result, "cell")["abs_rel"]["0"] == pytest.approx(record["evaluators"]["paper"]["abs_rel"])
    images = seed_images(result, "released", "abs_rel")["0"]
    assert len(images) == 3 and np.mean(list(images.values())) == pytest.approx(released)
    assert read_evaluation(out / "missing") == {}
