"""`repro suite validate`'s checks of an expected file (repro.suite.power): cases from mutants (issue 25)."""

from __future__ import annotations

from types import SimpleNamespace

from repro.suite.expected import CellExpectation, Claim, ExpectedFile
from repro.suite.power import form_warnings, tolerance_warnings


def _exp(evaluator: str = "cell") -> ExpectedFile:
    exp = ExpectedFile(source="s", directions={"rmse_log": "lower", "abs_rel": "lower"},
                       tolerance={"rmse_log": 0.01, "abs_rel": 0.004}, rationale="r", evaluator=evaluator)
    exp.cells = {  # rows that are skipped come first: the loop goes on past them
        "no_log": CellExpectation(metrics={"abs_rel": 0.1}),
        "cited": CellExpectation(metrics={"rmse_log": 0.2}, forms={"rmse_log": "ln"}),
        "stated": CellExpectation(metrics={"rmse_log": 0.2}, forms={"rmse_log": "log10"}),
        "unstated": CellExpectation(metrics={"rmse_log": 0.2}),
        "released": CellExpectation(metrics={"rmse_log": 0.2}, forms={"rmse_log": "released"}, evaluator="released"),
    }
    return exp


def _suite(**forms: str | None) -> SimpleNamespace:
    cells = {n: SimpleNamespace(eval=None if f is None else SimpleNamespace(rmse_log=f)) for n, f in forms.items()}
    return SimpleNamespace(cells=cells)


def test_form_warnings_name_each_row_whose_form_is_missing_or_different():
    suite = _suite(stated="ln", unstated="ln", cited=None, released="ln", no_log="ln")
    assert form_warnings(suite, _exp()) == [
        "stated: the paper's RMSElog is the log10 form but the cell evaluator computes ln",
        "unstated: the paper's RMSElog has no stated form (forms: {rmse_log: ln|log10|released})",
    ]
    agree = _suite(stated="log10", unstated="ln", cited=None, released="ln", no_log="ln")
    assert form_warnings(agree, _exp()) == [form_warnings(suite, _exp())[1]]
    # under the released evaluator every row computes the released form
    under_released = form_warnings(_suite(stated="log10", cited="ln", released="ln"), _exp("released"))
    assert under_released[0] == "cited: the paper's RMSElog is the ln form but the released evaluator computes released"
    assert under_released[1] == "stated: the paper's RMSElog is the log10 form but the released evaluator computes released"
    assert len(under_released) == 3
    assert form_warnings(_suite(), _exp())[1:] == []  # rows without a suite cell are not compared


def test_a_tolerance_equal_to_the_papers_gap_is_warned_about():
    exp = ExpectedFile(source="s", directions={"abs_rel": "lower"}, tolerance={"abs_rel": 0.25}, rationale="r")
    exp.cells = {"plus": CellExpectation(metrics={"abs_rel": 0.5}), "base": CellExpectation(metrics={"abs_rel": 0.75}),
                 "none": CellExpectation()}
    exp.claims = [Claim(cell="plus", better_than="base", metric="abs_rel"),
                  Claim(cell="none", better_than="base", metric="abs_rel"),
                  Claim(cells=["plus", "base"], within=0.5, metric="abs_rel")]
    (warning,) = tolerance_warnings(exp)
    assert warning.startswith("plus.abs_rel: tolerance ±0.25 is not narrower than the paper's gap 0.250 over base")
    exp.tolerance["abs_rel"] = 0.2499
    assert tolerance_warnings(exp) == []


def test_warnings_go_on_past_rows_and_claims_they_skip():
    exp = _exp()
    exp.cells = {"unstated": exp.cells["unstated"], "stated": exp.cells["stated"]}  # the missing form first
    assert len(form_warnings(_suite(unstated="ln", stated="ln"), exp)) == 2
    exp = ExpectedFile(source="s", directions={"abs_rel": "lower", "delta1": "higher"},
                       tolerance={"abs_rel": 0.25, "delta1": 0.01}, rationale="r")
    exp.cells = {"plus": CellExpectation(metrics={"abs_rel": 0.5}), "base": CellExpectation(metrics={"abs_rel": 0.75})}
    exp.claims = [Claim(cells=["plus", "base"], within=0.5, metric="abs_rel"),  # not directional
                  Claim(cell="plus", better_than="base", metric="delta1"),  # no paper value for delta1
                  Claim(cell="gone", better_than="base", metric="abs_rel"),  # no expectation for the cell
                  Claim(cell="plus", better_than="base", metric="abs_rel")]
    (warning,) = tolerance_warnings(exp)
    assert warning.startswith("plus.abs_rel: tolerance ±0.25")
