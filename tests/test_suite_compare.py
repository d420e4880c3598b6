"""`repro suite compare`: runs side by side with the paper, differences judged against seed spread."""

from __future__ import annotations

import json

import pytest
from report_fixtures import mixed_run

from repro.cli import main
from repro.suite.compare import Measured, compare_runs, difference


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    a = mixed_run(tmp_path_factory.mktemp("a"), jitter=0.002)
    b = mixed_run(tmp_path_factory.mktemp("b"), offsets={"plus": 0.02, "base": 0.003}, jitter=0.001)
    return a, b


def test_difference_against_the_runs_spread():
    a, b = Measured(0.100, 0.002, 3, "pass"), Measured(0.103, 0.001, 3, "pass")
    d = difference(a, b)
    assert d.delta == pytest.approx(0.003) and d.band == pytest.approx(2 * (0.002**2 / 3 + 0.001**2 / 3) ** 0.5)
    assert d.within is False
    assert difference(a, Measured(0.101, 0.001, 3, "pass")).within is True
    one_seed = difference(Measured(0.1, None, 1, "pass"), Measured(0.2, None, 1, "pass"))
    assert one_seed.within is None and "spread unknown" in one_seed.text()
    assert difference(a, Measured(None, None, 0, "failed")).delta is None


def test_compare_rows_cover_every_cell_and_the_paper(two_runs):
    _, rows = compare_runs(list(two_runs))
    by = {(r.cell, r.metric): r for r in rows}
    assert len(rows) == 10  # 5 cells × (AbsRel, δ1), failed, skipped and cited rows included
    base = by[("base", "abs_rel")]
    assert base.paper == pytest.approx(0.100)
    assert base.runs[1].mean == pytest.approx(0.103) and base.diffs[0].within is False
    assert by[("plus", "abs_rel")].diffs[0].within is True
    assert by[("finetune", "delta1")].runs[0].status == "failed" and by[("finetune", "delta1")].diffs[0].delta is None
    assert by[("cited_row", "abs_rel")].runs[0].status == "cited"


def test_compare_cli_markdown_and_json(two_runs, tmp_path, capsys):
    a, b = map(str, two_runs)
    assert main(["suite", "compare", a, b]) == 0
    md = capsys.readouterr().out
    assert "| base      | AbsRel   | 0.100   | 0.1000 ± 0.0020 (n=3) | 0.1030 ± 0.0010 (n=3) |" in md
    assert "+0.0030 (OUTSIDE ±0.0026)" in md and "B − A" in md
    out = tmp_path / "c.json"
    assert main(["suite", "compare", a, b, "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["runs"]] == ["A", "B"]
    row = next(r for r in data["rows"] if (r["cell"], r["metric"]) == ("base", "delta1"))
    assert row["differences"]["B-A"]["within"] is False and row["runs"]["B"]["n"] == 3
    assert main(["suite", "compare", a, b, "--format", "json", "--out", str(out)]) == 0  # --out is a file: rewritten
    assert json.loads(out.read_text()) == data


def test_compare_needs_two_runs(two_runs, capsys):
    assert main(["suite", "compare", str(two_runs[0])]) == 2
    assert "repro suite: error: usage: repro suite compare RUN_A RUN_B" in capsys.readouterr().err
