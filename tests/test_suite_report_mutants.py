"""The report's overall verdict (PASS / FAIL / NOT COMPARED): cases from surviving mutants (issue 25)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro.suite.expected import Claim, ClaimVerdict, MetricVerdict
from repro.suite.report import CellRow, Report, RunData


def _report(cells: list[CellRow], claims: list[ClaimVerdict] = (), profiles: dict | None = None) -> Report:
    run = RunData(Path("."), {"cells": [c.cell for c in cells]}, {}, profiles or {}, None)
    return Report(run, cells, list(claims))


def _cell(name: str, *statuses: str, status: str = "ok", vram: dict | None = None) -> CellRow:
    return CellRow(name, "", "", status, [MetricVerdict("abs_rel", s) for s in statuses], vram=vram or {})


def _claim(status: str, *names: str) -> ClaimVerdict:
    return ClaimVerdict(Claim(cell=names[0], better_than=names[1], metric="abs_rel"), status)


def test_each_kind_of_failure_fails_the_report_and_only_its_cells():
    ok = _cell("a", "pass")
    assert _report([ok]).verdict == "PASS"
    for bad in (_cell("b", "fail"), _cell("b", "missing"), _cell("b", status="failed"),
                _cell("b", status="interrupted"), _cell("b", "pass", vram={"train": {"over_budget": True}})):
        rep = _report([ok, bad])
        assert not rep.passed and rep.verdict == "FAIL"
        assert rep.passed_for(["a"]) and not rep.passed_for(["b"])
    for fine in (_cell("b", "not_compared"), _cell("b", "cited", status="cited"), _cell("b", status="skipped"),
                 _cell("b", "pass", vram={"train": {"over_budget": False}})):
        assert _report([ok, fine]).passed


def test_a_failed_claim_fails_only_the_reports_that_hold_all_its_cells():
    cells = [_cell("a", "pass"), _cell("b", "pass"), _cell("c", "pass")]
    rep = _report(cells, [_claim("fail", "a", "b"), _claim("not_evaluated", "a", "c")])
    assert not rep.passed and rep.verdict == "FAIL"
    assert rep.passed_for(["a", "c"]) and rep.passed_for(["a"]) and not rep.passed_for(["a", "b"])
    assert _report(cells, [_claim("pass", "a", "b")]).passed


def test_random_init_profiles_fail_the_report():
    cells = [_cell("a", "pass"), _cell("b", "pass")]
    assert not _report(cells, profiles={"b": {"status": "failed"}}).passed
    oversized = _report(cells, profiles={"b": {"status": "ok", "vram": {"over_budget": True}}})
    assert not oversized.passed and oversized.passed_for(["a"])
    assert _report(cells, profiles={"b": {"status": "ok", "vram": {"over_budget": False}}}).passed
    assert _report(cells, profiles={"b": {"status": "ok"}}).passed


def test_nothing_compared_is_not_a_pass():
    assert _report([_cell("a", "not_compared")]).verdict == "NOT COMPARED"
    assert _report([_cell("a", "cited", status="cited")], [_claim("not_evaluated", "a", "a")]).verdict == (
        "NOT COMPARED")
    assert _report([_cell("a", "not_compared")], [_claim("pass", "a", "a")]).verdict == "PASS"
    assert _report([_cell("a", "fail")]).verdict == "FAIL"


def test_counts():
    cells = [_cell("a", "pass", "fail", "not_compared"), _cell("b", status="failed"),
             _cell("c", "pass", vram={"eval": {"over_budget": True}})]
    n = _report(cells, [_claim("pass", "a", "c"), _claim("not_evaluated", "a", "b"), _claim("fail", "c", "a")]).counts()
    assert n == {"ok": 2, "failed": 1, "metrics_pass": 2, "metrics_judged": 3, "claims_pass": 1,
                 "claims_judged": 2, "over_budget": 1}


def _run(scale: str, a: float, b: float, compare_scales: tuple[str, ...] = ()) -> RunData:
    from repro.suite.expected import CellExpectation, ExpectedFile

    exp = ExpectedFile(source="s", directions={"abs_rel": "lower"}, tolerance={"abs_rel": 0.01}, rationale="r",
                       compare_scales=list(compare_scales))
    exp.cells = {"a": CellExpectation(metrics={"abs_rel": 0.10}), "b": CellExpectation(metrics={"abs_rel": 0.12})}
    exp.claims = [Claim(cell="a", better_than="b", metric="abs_rel", test="mean")]

    def result(value: float) -> dict:
        return {"status": "ok", "seeds": [{"seed": s, "metrics": {"abs_rel": value + 0.001 * s}} for s in (0, 1)]}

    suite = {"cells": ["a", "b", "c"], "scale": scale, "kinds": {"a": "train"}, "rows": {"a": "row a"}}
    results = {"a": result(a), "b": result(b), "c": {"status": "ok", "metrics": {"abs_rel": [-1.0]}}}
    return RunData(Path("."), suite, results, {}, exp)


def test_build_report_judges_rows_and_claims_at_the_papers_scale_only():
    from repro.suite.report import build_report

    rep = build_report(_run("full", 0.1, 0.12))
    a, b, c = rep.cells
    assert (a.kind, a.row, a.status) == ("train", "row a", "ok")
    assert [v.status for v in a.verdicts] == ["pass"] and a.verdicts[0].measured == 0.1005
    assert [v.status for v in b.verdicts] == ["pass"]
    assert [v.status for v in c.verdicts] == ["fail"]  # no expectation: only the sanity check (-1 < 0)
    assert [cv.status for cv in rep.claims] == ["pass"] and not rep.passed and rep.passed_for(["a", "b"])
    worse = build_report(_run("full", 0.13, 0.12))
    assert [cv.status for cv in worse.claims] == ["fail"] and worse.cells[0].verdicts[0].status == "fail"
    tiny = build_report(_run("tiny", 0.13, 0.12))
    assert [cv.status for cv in tiny.claims] == ["not_evaluated"]
    assert tiny.cells[0].verdicts[0].status == "not_compared"
    smoke = build_report(_run("ci", 0.13, 0.12, compare_scales=("ci",)))
    assert smoke.cells[0].verdicts[0].status == "fail" and [cv.status for cv in smoke.claims] == ["not_evaluated"]


def test_a_cell_that_did_not_run_keeps_its_row_and_fails_nothing_by_itself():
    from repro.suite.report import build_report

    run = _run("full", 0.1, 0.12)
    run.suite["cells"].append("d")
    run.suite["rows"]["d"] = "row d"
    d = build_report(run).cells[-1]
    assert (d.cell, d.row, d.kind, d.status, d.verdicts) == ("d", "row d", "", "not run", [])


def test_build_report_carries_each_results_record_and_every_evaluator():
    from repro.suite.report import build_report

    run = _run("full", 0.1, 0.12)
    run.suite["cells"].insert(0, "d")  # not run, and first: the cells after it are still built
    run.results["a"].update(row="row a (stored)", wall_time_s=12.5)
    run.results["a"]["seeds"][1]["train_reused_from"] = "runs/x/a/seed0"
    for s, rec in enumerate(run.results["a"]["seeds"]):
        rec["evaluators"] = {"paper": {"abs_rel": 0.2 + s * 0.01}, "released": {"abs_rel": 0.3}}
    run.results["b"] = {"status": "failed", "error": {"stage": "train", "message": "boom"}}
    d, a, b, c = build_report(run).cells
    assert d.status == "not run" and (a.row, a.wall_time_s, a.reused) == ("row a (stored)", 12.5, ["runs/x/a/seed0"])
    assert a.verdicts[0].by_evaluator == pytest.approx({"paper": 0.205, "released": 0.3})
    assert (b.status, b.error, b.verdicts) == ("failed", "train: boom", []) and a.error == ""


# --- build_report's less travelled branches (the full mutation run's survivors)


def test_build_report_with_no_expectation_file_and_no_optional_keys():
    from repro.suite.report import build_report

    res = {"status": "ok", "kind": "train", "metrics": {"abs_rel": [0.1]},
           "seeds": [{"seed": 0, "stages": {"train": {"vram": {"peak": 5.0, "over_budget": False}}}}]}
    run = RunData(Path("."), {"cells": ["a", "b"]}, {"a": res}, {}, None)  # no scale, kinds, rows
    rep = build_report(run)
    a, b = rep.cells
    assert (a.cell, a.row, a.kind, a.status) == ("a", "", "train", "ok")  # the result's own kind
    (v,) = a.verdicts  # no expectation: the sanity check only, shown and not compared
    assert (v.metric, v.measured, v.status) == ("abs_rel", 0.1, "not_compared")
    assert a.vram == {"train": {"peak": 5.0, "over_budget": False, "stage": "train"}}
    assert (b.cell, b.row, b.kind, b.status, b.error) == ("b", "", "", "not run", "result: no result.json")
    assert b.failed and rep.claims == [] and rep.verdict == "FAIL"
    assert build_report(RunData(Path("."), {}, {}, {}, None)).cells == []
    wrong = RunData(Path("."), {"cells": ["a"]}, {"a": res | {"metrics": {"abs_rel": [-0.1]}}}, {}, None)
    assert build_report(wrong).cells[0].verdicts[0].status == "fail"  # negative AbsRel is never sane


def test_a_result_kind_overrides_the_suites_and_a_corrupt_result_is_its_own_status():
    from repro.suite.report import build_report

    suite = {"cells": ["a", "b"], "kinds": {"a": "eval_only", "b": "train"}, "rows": {"a": "row a", "b": "row b"}}
    run = RunData(Path("."), suite, {"a": {"status": "ok", "kind": "train", "metrics": {}}}, {}, None,
                  unreadable={"b": "truncated JSON"})
    a, b = build_report(run).cells
    assert a.kind == "train"
    assert (b.cell, b.row, b.kind, b.status, b.error) == ("b", "row b", "train", "corrupt", "result: truncated JSON")
    assert b.failed


def test_only_a_profiles_only_run_leaves_its_cells_not_run_without_an_error():
    from repro.suite.report import build_report

    suite = {"cells": ["a", "b"], "kinds": {"a": "train"}, "rows": {"a": "row a"}}
    profiles = {"a": {"status": "ok"}}
    a, b = build_report(RunData(Path("."), suite, {}, profiles, None)).cells  # a --random-init run
    assert (a.cell, a.row, a.kind, a.status, a.error) == ("a", "row a", "train", "not run", "") and not a.failed
    assert (b.cell, b.status, b.error) == ("b", "not run", "")
    ok = {"a": {"status": "ok", "metrics": {}}}
    for results, profiles_, unreadable in ((ok, profiles, {}), ({}, profiles, {"a": "bad"}), ({}, {}, {})):
        b = build_report(RunData(Path("."), suite, results, profiles_, None, unreadable=unreadable)).cells[1]
        assert (b.status, b.error) == ("not run", "result: no result.json") and b.failed


def test_a_cited_result_is_judged_against_its_expectation():
    from repro.suite.expected import CellExpectation, ExpectedFile
    from repro.suite.report import build_report

    exp = ExpectedFile(source="s", directions={"abs_rel": "lower"}, tolerance={"abs_rel": 0.01}, rationale="r")
    exp.cells = {"a": CellExpectation(metrics={"abs_rel": 0.1})}
    run = RunData(Path("."), {"cells": ["a"], "scale": "full"}, {"a": {"status": "cited"}}, {}, exp)
    (a,) = build_report(run).cells
    assert [(v.status, v.paper) for v in a.verdicts] == [("cited", 0.1)]


def _paired_run(scale: str, claim_scales: list[str]) -> RunData:
    """Cells a and b, two seeds, twelve images each; a is better on every image and every seed."""
    from repro.suite.expected import ExpectedFile

    exp = ExpectedFile(source="s", directions={"abs_rel": "lower"}, tolerance={"abs_rel": 0.01}, rationale="r",
                       evaluator="paper")
    exp.claims = [Claim(cell="a", better_than="b", metric="abs_rel", scales=claim_scales)]

    def result(base: float) -> dict:
        seeds = []
        for s in (0, 1):
            images = {f"i{k}": base + 0.01 * k + (0.01 if base > 0.15 else 0.0) * s for k in range(12)}
            mean = sum(images.values()) / len(images)
            seeds.append({"seed": s, "evaluators": {"paper": {"abs_rel": mean}}, "cell_evaluator": "paper",
                          "per_image": {"paper": {"images": list(images), "abs_rel": list(images.values())}}})
        return {"status": "ok", "seeds": seeds}

    return RunData(Path("."), {"cells": ["a", "b"], "scale": scale}, {"a": result(0.1), "b": result(0.2)}, {}, exp)


def test_claims_are_judged_on_per_image_values_at_the_scales_they_list():
    from repro.suite.report import build_report

    (full,) = build_report(_paired_run("full", [])).claims
    assert full.status == "pass" and "Wilcoxon" in full.test  # the paired test needs the per-image values
    (tiny,) = build_report(_paired_run("tiny", ["tiny"])).claims
    assert tiny.status == "pass"  # judged at a scale the claim lists
    (other,) = build_report(_paired_run("tiny", [])).claims
    assert other.status == "not_evaluated"
