"""TEST-ONLY: the smoke suite run in-process, optionally with one part of the pipeline broken.

Each mutation is a monkeypatch of the real pipeline (nothing here is used by the package): the
smoke verdict must FAIL under every one of them, or the smoke suite could not tell a working
pipeline from a broken one. Also used by scripts/record_smoke_reference.py to record the
reference numbers (clean runs at several seeds and thread counts).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _noise_targets(mp: pytest.MonkeyPatch) -> None:
    import repro.distill as distill

    real = distill.teacher_targets

    def noisy(*args, **kwargs):  # type: ignore[no-untyped-def]
        t = real(*args, **kwargs)
        g = torch.Generator().manual_seed(1234)
        noise = torch.rand(t.disparity.shape, generator=g).to(t.disparity)
        return dataclasses.replace(t, disparity=noise)

    mp.setattr(distill, "teacher_targets", noisy)


def _rotation_off(mp: pytest.MonkeyPatch) -> None:
    import repro.train.objective as objective

    mp.setattr(objective, "rotations_for", lambda *a, **k: None)


def _masks_inverted(mp: pytest.MonkeyPatch) -> None:
    import repro.distill as distill

    real = distill.teacher_targets

    def inverted(teacher, rgb, valid, *args, **kwargs):  # type: ignore[no-untyped-def]
        return real(teacher, rgb, None if valid is None else ~valid.bool(), *args, **kwargs)

    mp.setattr(distill, "teacher_targets", inverted)


def _crop_wrong(mp: pytest.MonkeyPatch) -> None:
    import repro.evaluation.evaluators as evaluators

    mp.setattr(evaluators, "RELEASED_ZERO_SHOT_CROP", 0)  # the released evaluator forgets its 68-row crop


def _alignment_wrong(mp: pytest.MonkeyPatch) -> None:
    import repro.evaluation.metrics as metrics

    mp.setattr(metrics, "_median_align", lambda depth, gt: depth)  # median scaling silently skipped


#: name -> (patch, stage it breaks: "train" mutations need a fresh training, "eval" ones only evaluation)
MUTATIONS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "pseudo_targets_noise": (_noise_targets, "train"),
    "rotation_off": (_rotation_off, "train"),
    "masks_inverted": (_masks_inverted, "train"),
    "crop_wrong": (_crop_wrong, "eval"),
    "alignment_wrong": (_alignment_wrong, "eval"),
}


@contextlib.contextmanager
def mutated(name: str | None) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        if name is not None:
            MUTATIONS[name][0](mp)
        yield


def smoke_runner(  # type: ignore[no-untyped-def]
    out: Path, *, cells: list[str] | None = None, seed: int | None = None, force: bool = False
):
    """The smoke suite's runner, as `repro suite smoke --out OUT [--cells ...]` builds it."""
    from repro.suite.executor import ReproExecutor
    from repro.suite.expected import check_cells_match, load_expected
    from repro.suite.runner import RunOptions, SuiteRunner
    from repro.suite.schema import load_suite

    suite = load_suite(ROOT / "suites" / "smoke.yaml")
    if seed is not None:
        suite.cells = {n: dataclasses.replace(c, seeds=[seed]) for n, c in suite.cells.items()}
    expected = load_expected(suite.expected_path)
    check_cells_match(expected, list(suite.cells), suite.path)
    options = RunOptions(out=out, data_root=out / "data", cells=cells, force=force, device="cpu")
    return SuiteRunner(suite, ReproExecutor(), options, expected)


def run_smoke(  # type: ignore[no-untyped-def]
    out: Path, *, cells: list[str] | None = None, seed: int | None = None, force: bool = False
):
    """Run (or reuse) the smoke cells under ``out``; the report of the run folder."""
    from repro.suite.report import write_reports

    runner = smoke_runner(out, cells=cells, seed=seed, force=force)
    runner.run()
    return write_reports(runner.run_dir)


def share_data(src: Path, dst: Path) -> None:
    """Point ``dst``'s synthetic data at ``src``'s (generated once per session)."""
    dst.mkdir(parents=True, exist_ok=True)
    if not (dst / "_data").exists():
        os.symlink(src / "_data", dst / "_data")


def reevaluate(out: Path, cell: str) -> None:
    """Drop a cell's stored result so the next run evaluates again (its training is reused)."""
    from repro.suite.runner import run_name

    runner = smoke_runner(out)
    shutil.rmtree(runner.run_dir / cell / "seed0" / "eval", ignore_errors=True)
    (runner.run_dir / cell / "result.json").unlink(missing_ok=True)
    assert run_name(runner.suite) == "smoke"
