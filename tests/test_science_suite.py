"""The science suite: its files, its claims, and the real pipeline on a miniature of it.

The full suite (``repro suite science``, ≤ 45 min on 2 cores), its pilot and its CI scale
(``--scale ci``, a few minutes) are run by hand / by CI; here a miniature (2 steps, 2 seeds, 4 panoramas per
split, three of its cells) goes through the real data → train → eval → report path (slow), and
the suite's own files are checked (fast).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from repro.suite.expected import check_cells_match, load_expected
from repro.suite.schema import load_suite

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "science.yaml"
EXPECTED = ROOT / "expected" / "science.yaml"


def test_science_suite_and_claims_are_consistent():
    full, ci, pilot = (load_suite(SUITE, scale=s) for s in (None, "ci", "pilot"))
    exp = load_expected(EXPECTED)
    check_cells_match(exp, list(full.cells), SUITE)
    assert all(len(c.seeds) >= 3 for c in full.cells.values())  # claims are judged over several seeds
    assert all(c.train.schedule.steps < full.cells[n].train.schedule.steps for n, c in ci.cells.items())
    # pilot and confirmatory: disjoint seeds, independent synthetic worlds, otherwise the same cells
    pilot_seeds = {s for c in pilot.cells.values() for s in c.seeds}
    assert not pilot_seeds & {s for c in full.cells.values() for s in c.seeds}
    for name, cell in full.cells.items():
        assert pilot.cells[name].synthetic.seed != cell.synthetic.seed
        assert pilot.cells[name].train.schedule == cell.train.schedule
    for cell in full.cells.values():  # only the factor each claim is about differs from gt_pseudo
        styles = cell.synthetic.styles  # labeled a, unlabeled c (not the test domain), test b
        assert (styles["matterport3d"], styles["structured3d"], styles["stanford2d3d"]) == ("a", "c", "b")
        bias = cell.train.teacher.options["edge_bias"]
        assert cell.train.teacher.is_oracle and len(set(bias)) == 3  # per face: jumps at every cube edge
        assert "seam_ratio" in cell.eval.metrics
    base = full.cells["gt_pseudo"].train
    assert full.cells["gt_only"].train.pseudo == []
    assert [r.dataset for r in base.pseudo] == ["structured3d"]
    assert full.cells["gt_pseudo"].eval.dataset.dataset == "stanford2d3d"
    assert full.cells["gt_pseudo_c"].eval.dataset.dataset == "structured3d"  # Table 4's setting
    assert full.cells["gt_pseudo_c"].train == base and full.cells["gt_only_c"].train == full.cells["gt_only"].train
    assert full.cells["stitched"].train.distill.projection == "equirect_stitched"
    assert [full.cells[n].train.ratio for n in ("ratio_1_2", "ratio_1_4")] == ["1:2", "1:4"]
    assert full.cells["tangent"].train.distill.projection == "tangent"
    rot, no_rot = full.cells["fig5_rotation"], full.cells["fig5_no_rotation"]
    assert tuple(rot.train.input_size) == (128, 256) and rot.synthetic.height == 128 == full.cells["fig5_gt_only"].synthetic.height
    assert no_rot.train.distill.rotation_max_deg == 0 < rot.train.distill.rotation_max_deg
    cached = full.cells["gt_pseudo_cached"].train
    assert (cached.pseudo_labels, cached.pseudo_cache.rotations, base.pseudo_labels) == ("cached", 8, "online")
    assert dataclasses.replace(cached, pseudo_labels="online", pseudo_cache=base.pseudo_cache) == base
    tests = {(c.metric, c.test) for c in exp.claims}
    assert ("seam_ratio_dataset", "paired_t") in tests and ("abs_rel", "tost") in tests
    assert all(not c.scales for c in exp.claims)  # judged at the full scale only, never at ci or pilot
    assert all(not c.relative_to for c in exp.claims if c.within)  # margins are frozen numbers
    # every claim's design frozen from the pilot's seeds, at the seeds its cells run (docs/science_pilot.md)
    for claim in exp.claims:
        assert claim.design is not None and claim.design.pilot_seeds == sorted(pilot_seeds), claim
        cells = claim.cells or [claim.cell, claim.better_than]
        assert claim.design.seeds == min(len(full.cells[c].seeds) for c in cells), claim
    assert {c.within for c in exp.claims if c.within} == {0.00887}  # half the pilot's gain 0.01774


MINI = """\
include: {suite}
suite: science_mini
expected: {expected}
scales:  # the full scale overlaid (not defaults): it overrides the cells' own seeds, as --scale ci does
  full:
    seeds: [0, 1]
    synthetic: {{count: 4}}
    train: {{schedule: {{steps: 2}}}}
"""


@pytest.mark.slow
def test_science_miniature_runs_the_real_pipeline_and_judges_claims(tmp_path):
    from repro.suite.executor import ReproExecutor
    from repro.suite.report import write_reports
    from repro.suite.runner import RunOptions, SuiteRunner

    (tmp_path / "suites").mkdir()
    path = tmp_path / "suites" / "science_mini.yaml"
    path.write_text(MINI.format(suite=SUITE, expected=EXPECTED))
    suite = load_suite(path)
    runner = SuiteRunner(
        suite,
        ReproExecutor(),
        RunOptions(out=tmp_path / "runs", cells=["fig5_gt_only", "fig5_rotation", "fig5_no_rotation"], device="cpu"),
        load_expected(EXPECTED),
    )
    outcomes = runner.run()
    assert [o.status for o in outcomes] == ["ok", "ok", "ok"]
    report = write_reports(runner.run_dir)
    by_claim = {c.claim.label: c for c in report.claims}
    seam = by_claim["fig5_rotation better than fig5_no_rotation"]
    assert seam.status in ("pass", "fail")  # judged (2 steps decide nothing about the direction)
    assert set(seam.values) == {"fig5_rotation", "fig5_no_rotation"} and seam.values["fig5_rotation"][2] == 2
    assert "paired t-test over seeds, n=2" in seam.test and "Holm-adjusted" in seam.test
    ratio = next(c for label, c in by_claim.items() if label.startswith("gt_pseudo, ratio_1_2, ratio_1_4 within"))
    assert ratio.status == "not_evaluated"  # its ratio cells did not run
    rows = {c.cell: c for c in report.cells}
    assert {v.metric for v in rows["fig5_no_rotation"].verdicts} >= {"abs_rel", "delta1", "seam_ratio", "seam_ratio_dataset"}
    assert "Claims" in (runner.run_dir / "report.md").read_text()
