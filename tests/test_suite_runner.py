"""The suite runner against a TEST-ONLY executor.

``FakeExecutor`` below exists only in this file: it trains nothing and returns metrics that the
test itself chooses (the paper value of the cell plus an offset set per test), so the runner's
own behaviour — caching, resume, shards, failure isolation, exit codes, reports — is checked
without a trainer. The real executor is exercised in test_suite_cli.py, where it fails honestly
because the trainer is not installed yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.cli.args import parse_shard
from repro.suite.executor import CellSkipped, RunContext
from repro.suite.expected import check_cells_match, load_expected
from repro.suite.report import build_report, load_run, render_terminal, write_reports
from repro.suite.runner import RunOptions, SuiteRunner
from repro.suite.schema import Cell, load_suite

SUITE = """\
suite: mini
title: "Mini table"
defaults:
  train:
    student: {name: unifuse}
    labeled: [{dataset: matterport3d, split: train}]
    schedule: {epochs: 2}
  eval:
    dataset: {dataset: stanford2d3d, split: test}
cells:
  cited_row: {kind: cited, row: "Someone | BerHu"}
  base:
    row: "UniFuse | M"
  plus:
    extends: base
    row: "UniFuse | M + ST (p)"
    train: {pseudo: [{dataset: structured3d, split: all}]}
  finetune:
    row: "UniFuse | metric ft"
    train: {init_from: "cell:plus", loss: berhu, labeled: [{dataset: stanford2d3d, split: train}]}
    eval: {protocol: none}
  external:
    kind: eval_only
    row: "Marigold"
    eval: {model: predictions, predictions: preds/marigold}
"""

EXPECTED = """\
source: "test table"
directions: {abs_rel: lower, delta1: higher}
tolerance: {abs_rel: 0.005, delta1: 0.01}
rationale: "test"
cells:
  cited_row: {row: "Someone", metrics: {abs_rel: 0.120, delta1: 0.862}}
  base: {row: "base", metrics: {abs_rel: 0.100, delta1: 0.900}}
  plus: {row: "plus", metrics: {abs_rel: 0.090, delta1: 0.920}}
  finetune: {row: "ft", metrics: {abs_rel: 0.110, delta1: 0.880}}
  external: {row: "ext", metrics: {abs_rel: 0.200, delta1: 0.700}}
claims:
  - {cell: plus, better_than: base, metric: abs_rel}
"""


def write_evaluation(out_dir: Path, metrics: dict[str, float], images: int = 20) -> None:
    """TEST-ONLY: metrics.json + per-image CSVs in the evaluator's format (repro.evaluation.evaluate), for
    both named evaluators; per-image values spread symmetrically around the aggregate."""
    import csv

    out_dir.mkdir(parents=True, exist_ok=True)
    offsets = [0.004 * (i - (images - 1) / 2) / images for i in range(images)]
    for name in ("paper", "released"):
        with (out_dir / f"per_image.{name}.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["image", "valid_pixels", *metrics])
            writer.writeheader()
            for i, off in enumerate(offsets):
                writer.writerow({"image": f"img{i:02d}", "valid_pixels": 100, **{m: v + off for m, v in metrics.items()}})
    report = {
        "cell_evaluator": "paper",
        "evaluators": {n: {"metrics": metrics, "evaluation": {"rmse_log": "ln"}} for n in ("paper", "released")},
    }
    (out_dir / "metrics.json").write_text(json.dumps(report))


class FakeExecutor:
    """TEST-ONLY: records calls; metrics = the cell's paper value + ``offsets[cell]``."""

    def __init__(self, expected, offsets=None, fail_train=(), skip=(), seed_jitter=0.0):
        self.expected = expected
        self.offsets = offsets or {}
        self.fail_train = set(fail_train)
        self.skip = set(skip)
        self.seed_jitter = seed_jitter
        self.calls: list[tuple[str, str, int]] = []
        self.contexts: list[RunContext] = []

    def prepare_data(self, cell: Cell, ctx: RunContext) -> None:
        self.calls.append(("data", cell.name, ctx.seed))
        if cell.name in self.skip:
            raise CellSkipped("no predictions supplied")

    def prepare_masks(self, cell: Cell, ctx: RunContext) -> None:
        self.calls.append(("masks", cell.name, ctx.seed))

    def train(self, cell: Cell, ctx: RunContext) -> Path:
        self.calls.append(("train", cell.name, cell.train.seed))
        self.contexts.append(ctx)
        if cell.name in self.fail_train:
            raise RuntimeError("CUDA out of memory (simulated)")
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        ckpt = ctx.out_dir / "last.pt"
        ckpt.write_bytes(b"weights")
        return ckpt

    def evaluate(self, cell: Cell, checkpoint, ctx: RunContext) -> dict[str, float]:
        self.calls.append(("eval", cell.name, ctx.seed))
        self.contexts.append(ctx)
        paper = self.expected.cells[cell.name].metrics
        jitter = self.seed_jitter * (ctx.seed - 1)
        metrics = {m: v + self.offsets.get(cell.name, 0.0) + jitter for m, v in paper.items()}
        write_evaluation(ctx.out_dir, metrics)
        return metrics

    def profile(self, cell: Cell, ctx: RunContext, steps: int) -> dict[str, float]:
        self.calls.append(("profile", cell.name, steps))
        return {"step_time_s": 0.5}

    def count(self, stage: str) -> int:
        return sum(1 for c in self.calls if c[0] == stage)


@pytest.fixture
def mini(tmp_path):
    (tmp_path / "suites").mkdir()
    (tmp_path / "expected").mkdir()
    (tmp_path / "suites" / "mini.yaml").write_text(SUITE)
    (tmp_path / "expected" / "mini.yaml").write_text(EXPECTED)
    return tmp_path


def make_runner(root: Path, executor=None, suite_text=None, **options):
    if suite_text is not None:
        (root / "suites" / "mini.yaml").write_text(suite_text)
    suite = load_suite(root / "suites" / "mini.yaml")
    expected = load_expected(suite.expected_path)
    check_cells_match(expected, list(suite.cells), suite.path)
    executor = executor or FakeExecutor(expected)
    opts = RunOptions(out=root / "runs", data_root=root / "data", budget_gib=24.0, **options)
    return SuiteRunner(suite, executor, opts, expected), executor


def result(runner: SuiteRunner, cell: str) -> dict:
    return json.loads((runner.run_dir / cell / "result.json").read_text())


def test_full_run_writes_results_and_reports(mini):
    runner, ex = make_runner(mini)
    outcomes = runner.run()
    assert {o.name: o.status for o in outcomes} == {
        "cited_row": "cited",
        "base": "ok",
        "plus": "ok",
        "finetune": "ok",
        "external": "ok",
    }
    assert ex.count("train") == 3 and ex.count("eval") == 4
    assert (runner.run_dir / "finetune" / "resolved.yaml").is_file()
    res = result(runner, "plus")
    assert res["metrics"] == {"abs_rel": [0.09], "delta1": [0.92]}
    assert res["provenance"]["code_hash"] and res["provenance"]["seeds"] == [0]
    teacher = res["provenance"]["teachers"]["train"]  # the pseudo-label teacher, named with its settings
    assert teacher["id"] == "LiheYoung/depth-anything-large-hf" and teacher["weights"] == "pretrained"
    assert (teacher["precision"], teacher["pos_embed"], teacher["output_resize"]) == ("fp32", "original", "bilinear")
    assert "revision" in teacher
    assert result(runner, "base")["provenance"]["teachers"] is None  # no pseudo labels, no teacher
    assert res["keys"]["cell"] and res["keys"]["train"]["0"]
    assert {"data", "masks"} <= res["stages"].keys() and "train" in res["seeds"][0]["stages"]
    # no GPU here: VRAM is "not measured", never a number
    vram = res["seeds"][0]["stages"]["train"]["vram"]
    assert vram["torch_peak_allocated"] is None and vram["over_budget"] is None
    # the fine-tune started from plus' checkpoint
    ft_ctx = next(c for c in ex.contexts if c.cell == "finetune" and c.init_checkpoint)
    assert ft_ctx.init_checkpoint == Path(result(runner, "plus")["seeds"][0]["checkpoint"])
    report = write_reports(runner.run_dir)
    assert report.passed
    for ext in ("txt", "md", "json", "png"):
        assert (runner.run_dir / f"report.{ext}").stat().st_size > 0
    text = render_terminal(report)
    assert "cited" in text and "PASS" in text and "n/a" in text
    assert [cv.status for cv in report.claims] == ["pass"]


def test_out_of_tolerance_fails_and_claim_checked(mini):
    expected = load_expected(mini / "expected" / "mini.yaml")
    ex = FakeExecutor(expected, offsets={"plus": 0.02})  # AbsRel 0.110 vs 0.090; δ1 0.94 vs 0.92
    runner, _ = make_runner(mini, ex)
    runner.run()
    report = write_reports(runner.run_dir)
    assert not report.passed
    plus = next(c for c in report.cells if c.cell == "plus")
    assert [v.status for v in plus.verdicts] == ["fail", "fail"]
    assert plus.verdicts[0].delta == pytest.approx(0.02)
    assert report.claims[0].status == "fail"  # 0.110 is not better than base's 0.100
    assert report.passed_for(["base", "cited_row"])


def test_cached_cells_are_not_rerun_and_config_change_reruns_dependents(mini):
    runner, ex = make_runner(mini)
    runner.run()
    first = result(runner, "base")
    runner2, ex2 = make_runner(mini)
    outcomes = runner2.run()
    assert {o.status for o in outcomes} == {"cached", "cited"}
    assert ex2.count("train") == 0 and ex2.count("eval") == 0
    assert result(runner2, "base") == first
    # change plus's config: plus and its dependent finetune re-run, base stays cached
    runner3, ex3 = make_runner(mini, suite_text=SUITE.replace("split: all}]}", "split: train}]}"))
    statuses = {o.name: o.status for o in runner3.run()}
    assert statuses["base"] == "cached" and statuses["plus"] == "ok" and statuses["finetune"] == "ok"
    assert ex3.count("train") == 2


def test_force_reruns_everything(mini):
    runner, _ = make_runner(mini)
    runner.run()
    runner2, ex2 = make_runner(mini, force=True)
    runner2.run()
    assert ex2.count("train") == 3


def test_training_is_shared_between_suites_with_the_same_cell(mini):
    runner, ex = make_runner(mini)
    runner.run()
    other = SUITE.replace("suite: mini", "suite: other")
    (mini / "suites" / "other.yaml").write_text(other)
    (mini / "expected" / "other.yaml").write_text(EXPECTED)
    suite = load_suite(mini / "suites" / "other.yaml")
    ex2 = FakeExecutor(ex.expected)
    runner2 = SuiteRunner(suite, ex2, RunOptions(out=mini / "runs", data_root=mini / "data"), ex.expected)
    runner2.run()
    assert ex2.count("train") == 0 and ex2.count("eval") == 4  # evaluated again, trained once
    assert result(runner2, "base")["seeds"][0]["train_reused_from"] == "mini/base"


def test_failed_cell_is_recorded_and_others_go_on(mini):
    expected = load_expected(mini / "expected" / "mini.yaml")
    ex = FakeExecutor(expected, fail_train={"plus"})
    runner, _ = make_runner(mini, ex)
    statuses = {o.name: o.status for o in runner.run()}
    assert statuses == {"cited_row": "cited", "base": "ok", "plus": "failed", "finetune": "failed", "external": "ok"}
    res = result(runner, "plus")
    assert res["error"]["stage"] == "train" and "out of memory" in res["error"]["message"]
    assert "RuntimeError" in (runner.run_dir / "plus" / "error.txt").read_text()
    assert "out of memory" in (runner.run_dir / "plus" / "cell.log").read_text()
    assert "init_from cell 'plus' has no checkpoint" in result(runner, "finetune")["error"]["message"]
    report = write_reports(runner.run_dir)
    assert not report.passed and "FAIL" in render_terminal(report)
    # a failed cell is retried on the next run; --resume asks the trainer to continue
    runner2, ex2 = make_runner(mini, resume=True)
    statuses = {o.name: o.status for o in runner2.run()}
    assert statuses["plus"] == "ok" and statuses["base"] == "cached"
    assert all(c.resume for c in ex2.contexts if c.out_dir.name == "train")


def test_skipped_cell_is_reported_not_failed(mini):
    expected = load_expected(mini / "expected" / "mini.yaml")
    runner, _ = make_runner(mini, FakeExecutor(expected, skip={"external"}))
    runner.run()
    assert result(runner, "external")["status"] == "skipped"
    report = build_report(load_run(runner.run_dir))
    assert report.passed
    assert "skipped" in render_terminal(report)


def test_cells_selection_adds_dependencies(mini):
    runner, ex = make_runner(mini, cells=["finetune"])
    assert [c.name for c in runner.selected()] == ["plus", "finetune"]
    runner.run()
    assert not (runner.run_dir / "base" / "result.json").exists()
    report = write_reports(runner.run_dir)
    assert {c.cell: c.status for c in report.cells}["base"] == "not run"
    with pytest.raises(Exception, match="no cell 'nope'"):
        make_runner(mini, cells=["nope"])[0].selected()


def test_shards_partition_cells_and_keep_dependencies_together(mini):
    names = []
    for i in range(3):
        runner, _ = make_runner(mini, shard=(i, 3))
        chosen = [c.name for c in runner.selected()]
        assert ("plus" in chosen) == ("finetune" in chosen)
        names += chosen
    assert sorted(names) == sorted(["cited_row", "base", "plus", "finetune", "external"])
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "a/b", "1", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_shards_write_one_report(mini):
    for i in range(2):
        runner, _ = make_runner(mini, shard=(i, 2))
        runner.run()
    report = write_reports(runner.run_dir)
    assert {c.status for c in report.cells} <= {"ok", "cited"} and report.passed


def test_report_regenerates_identically_from_stored_results(mini):
    runner, _ = make_runner(mini)
    runner.run()
    write_reports(runner.run_dir)
    before = json.loads((runner.run_dir / "report.json").read_text())
    for ext in ("txt", "md", "json", "png"):
        (runner.run_dir / f"report.{ext}").unlink()
    (mini / "suites" / "mini.yaml").unlink()  # the suite file is not needed any more
    write_reports(runner.run_dir)
    assert json.loads((runner.run_dir / "report.json").read_text()) == before


def test_multi_seed_cell_uses_stated_acceptance(mini):
    suite = SUITE.replace('    row: "UniFuse | M"\n', '    row: "UniFuse | M"\n    seeds: [0, 1, 2]\n')
    expected_text = EXPECTED.replace(
        'base: {row: "base", metrics: {abs_rel: 0.100, delta1: 0.900}}',
        'base: {row: "base", metrics: {abs_rel: 0.100, delta1: 0.900}, acceptance: {method: tost}}',
    )
    (mini / "expected" / "mini.yaml").write_text(expected_text)
    expected = load_expected(mini / "expected" / "mini.yaml")
    runner, ex = make_runner(mini, FakeExecutor(expected, seed_jitter=0.001), suite_text=suite)
    runner.run()
    assert ex.count("train") == 7  # base and plus (extends base) 3 seeds each, finetune 1
    report = write_reports(runner.run_dir)
    base = next(c for c in report.cells if c.cell == "base")
    v = base.verdicts[0]
    assert v.n == 3 and v.measured == pytest.approx(0.100) and v.std == pytest.approx(0.001)
    assert v.status == "pass" and v.test.startswith("TOST")
    assert "± 0.0010 (n=3)" in render_terminal(report)


def test_dry_run_plan_and_random_init_profile(mini):
    runner, ex = make_runner(mini, device="cpu")
    plan = {p["cell"].name: p for p in runner.plan()}
    assert plan["cited_row"]["state"] == "cited (not run)"
    assert plan["base"]["cost"].steps == 2 * -(-7829 // 3)  # 2 epochs over M train, UniFuse batch 3
    assert plan["base"]["cost"].gpu_hours is None  # no measured step time yet
    assert ex.calls == []  # planning runs nothing
    runner.write_suite_json()
    profiles = runner.profile()
    assert {p["cell"] for p in profiles} == {"base", "plus", "finetune", "external"}
    assert all(p["step_time_s"] == 0.5 and p["vram"]["over_budget"] is None for p in profiles)
    # a CPU profile is labelled CPU and never turned into GPU-hours
    assert all(p["device"] == "cpu" and p["estimate"]["gpu_hours"] is None for p in profiles)
    assert {p["cell"].name: p["cost"] for p in runner.plan()}["base"].gpu_hours is None
    text = render_terminal(write_reports(runner.run_dir))
    assert "Random-init profile" in text and "— (CPU profile)" in text
    assert "NOT COMPARED" in text and "PASS" not in text  # nothing was compared
    gpu, _ = make_runner(mini, ex, device="cuda")  # the fake executor ignores the device
    gpu.profile()
    cost = {p["cell"].name: p["cost"] for p in gpu.plan()}["base"]
    assert cost.gpu_hours == pytest.approx(cost.steps * 0.5 / 3600)


def test_interrupted_cell_is_recorded(mini):
    expected = load_expected(mini / "expected" / "mini.yaml")

    class Interrupting(FakeExecutor):
        def train(self, cell, ctx):
            raise KeyboardInterrupt

    runner, _ = make_runner(mini, Interrupting(expected))
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    assert result(runner, "base")["status"] == "interrupted"
    assert not build_report(load_run(runner.run_dir)).passed


def test_random_init_over_budget_fails_the_run(mini):
    expected = load_expected(mini / "expected" / "mini.yaml")

    class Oversized(FakeExecutor):
        def profile(self, cell, ctx, steps):
            if cell.name == "plus":
                raise RuntimeError("CUDA out of memory (simulated)")
            return {"step_time_s": 0.25}

    runner, _ = make_runner(mini, Oversized(expected))
    runner.write_suite_json()
    runner.profile()
    report = write_reports(runner.run_dir)
    assert not report.passed and report.passed_for(["base"])
    assert json.loads((runner.run_dir / "plus" / "profile.json").read_text())["error"]["stage"] == "profile"


def test_no_progress_reaches_every_training_and_evaluation(mini):
    assert RunOptions(out=mini).progress is True
    runner, ex = make_runner(mini, progress=False)
    runner.run()
    assert {c[0] for c in ex.calls} >= {"train", "eval"}
    assert len(ex.contexts) == ex.count("train") + ex.count("eval")
    assert all(ctx.progress is False for ctx in ex.contexts)


def test_the_real_executor_hands_progress_to_train_and_evaluate(tmp_path, monkeypatch):
    from repro.suite import executor as executor_mod

    seen = {}
    monkeypatch.setattr(executor_mod.train, "train", lambda settings, **kw: seen.update(train=kw) or "x")
    monkeypatch.setattr(executor_mod.evaluate, "evaluate", lambda settings, **kw: seen.update(eval=kw) or {})
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "smoke.yaml")
    cell = next(c for c in suite.cells.values() if c.train is not None)
    ctx = RunContext("smoke", cell.name, 0, tmp_path, tmp_path, progress=False)
    executor_mod.ReproExecutor().train(cell, ctx)
    executor_mod.ReproExecutor().evaluate(cell, None, ctx)
    assert seen["train"]["progress"] is False and seen["eval"]["progress"] is False
