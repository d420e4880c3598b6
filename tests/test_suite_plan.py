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
    from repro.suite.schema import find_suite, load_suite, suites_dir

    suite = load_suite(find_suite("table3_zero_shot", suites_dir(None)))
    est = cost.cell_estimates(suite.cells["egformer_m_all_st"])
    assert est["gpu_hours"] and est["gpu_hours"] > 1
    assert est["peak_gib"] > 24 and est["over_budget"] is True
    assert cost.cell_estimates(suite.cells["unifuse_m_all"])["over_budget"] is False
