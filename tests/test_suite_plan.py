"""`repro suite NAME --dry-run`: GPU-hours and peak VRAM per cell from the cost model, over-budget
cells marked, the suite totalled."""

from __future__ import annotations

import json

import pytest
from test_suite_runner import make_runner, mini  # noqa: F401 - the fixture

from repro.suite import cost
from repro.suite.plan import render_plan


@pytest.fixture
def table(tmp_path, monkeypatch):
    """A cost table for the mini suite's two training configurations (plus is over 24 GiB)."""

    def install(runner) -> None:
        cells = runner.suite.cells
        steps = {
            cost.cost_key(cells["base"].train): {"step_s": 0.5, "peak_gib": 10.0, "source": "test model"},
            cost.cost_key(cells["plus"].train): {"step_s": 1.0, "peak_gib": 30.0, "source": "test model"},
        }
        path = tmp_path / "cost_model.json"
        path.write_text(json.dumps({"steps": steps}))
        monkeypatch.setattr(cost, "COST_TABLE", path)

    return install


def test_estimates_use_the_cost_model_and_mark_over_budget(mini, table):  # noqa: F811
    runner, _ = make_runner(mini, device="cpu")
    table(runner)
    plan = {p["cell"].name: p["estimates"] for p in runner.plan()}
    base, plus = plan["base"], plan["plus"]
    assert base["steps"] and base["gpu_hours"] == pytest.approx(base["steps"] * 0.5 / 3600)
    assert (base["peak_gib"], base["over_budget"]) == (10.0, False)
    assert (plus["peak_gib"], plus["over_budget"]) == (30.0, True)
    assert plan["cited_row"]["gpu_hours"] is None
    text = render_plan(runner)
    assert "30.0 OVER" in text and "10.0" in text
    assert "OVER the 24 GiB VRAM budget (estimated peak): plus" in text
    total = base["gpu_hours"] + plus["gpu_hours"]
    assert f"estimated GPU time: {total:.3g} GPU-hours for 2 of 3 training cells" in text
    assert "No estimate for 1 cell(s)" in text  # finetune: a metric loss, not in the test table


def test_measured_step_time_wins_over_the_model(mini, table):  # noqa: F811
    runner, _ = make_runner(mini, device="cpu")
    table(runner)
    est = cost.cell_estimates(runner.suite.cells["base"], step_time_s=2.0, peak_gib=5.0)
    assert est["step_time_s"] == 2.0 and est["peak_gib"] == 5.0 and est["source"] == "measured (--random-init)"


def test_shipped_cost_model_covers_the_paper_suites():
    """Every paper cell has a cost-model row, a positive peak under the 22 GiB budget (bf16 training,
    issue 21), and a smaller budget still marks the largest cell over it."""
    from repro.suite.schema import find_suite, iter_suite_files, load_suite, suites_dir

    suite = load_suite(find_suite("table3_zero_shot", suites_dir(None)))
    est = cost.cell_estimates(suite.cells["egformer_m_all_st"])
    assert est["gpu_hours"] and est["gpu_hours"] > 1
    assert 0 < est["peak_gib"] < 22 and est["over_budget"] is False
    assert cost.cell_estimates(suite.cells["egformer_m_all_st"], budget_gib=8)["over_budget"] is True
    peaks = {}
    for path in iter_suite_files(suites_dir(None)):
        if not path.stem.startswith("table"):
            continue
        for cell in load_suite(path).cells.values():
            if cell.kind == "train":
                peaks[f"{path.stem}/{cell.name}"] = cost.cell_estimates(cell)["peak_gib"]
    assert len(peaks) >= 20 and all(p is not None and 0 < p < 22 for p in peaks.values()), peaks
