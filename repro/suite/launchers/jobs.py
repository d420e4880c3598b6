"""What every launcher shares: the job plan (one job per cell × seed), the job callables, jobs.json.

A launcher (``local``: N jobs at once on this machine; ``slurm``: sbatch through submitit) turns a
suite into jobs: one per seed of every selected cell whose stored result is not current, each
waiting for the job that trains the checkpoint it starts from (``init_from``); a last job
assembles the cells' ``result.json`` from the seed records and writes the report. What was
submitted, with job ids and log paths, is in ``<run>/jobs.json``; :mod:`repro.suite.status`
reads it back.

The job callables are pickled by submitit; a job rebuilds its runner from :class:`LaunchSpec`
(the suite file, scale, variant and run options), so it needs nothing else from the submitting
process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.atomic import write_json
from repro.errors import UserError
from repro.suite.runner import RunOptions, SuiteRunner, read_json
from repro.suite.schema import Suite

JOBS_SCHEMA = "repro.suite.jobs/1"
log = logging.getLogger("repro.suite")


def load_suite_and_expected(path: Path, scale: str | None = None, variant: str | None = None):  # type: ignore[no-untyped-def]
    """A suite with its expected numbers (None when it has no expected file), checked to match."""
    from repro.suite.expected import check_cells_match, load_expected, override_evaluator
    from repro.suite.schema import load_suite

    suite = load_suite(path, scale=scale, variant=variant)
    expected = None
    if suite.expected_path is not None:
        expected = load_expected(suite.expected_path)
        check_cells_match(expected, list(suite.cells), path)
        if suite.verdict_evaluator:
            expected = override_evaluator(expected, suite.verdict_evaluator, f"suite {path.name}")
    return suite, expected


@dataclass
class LaunchSpec:
    """Everything a job needs to rebuild the submitting process's runner (absolute paths)."""

    suite_file: str
    scale: str | None
    variant: str | None
    options: RunOptions
    executor: Any = None  # a picklable CellExecutor; None: the real pipeline (ReproExecutor)

    @classmethod
    def of(cls, suite: Suite, options: RunOptions, executor: Any = None) -> LaunchSpec:
        opts = dataclasses.replace(options, out=options.out.resolve(), data_root=options.data_root.resolve())
        scale = suite.scale if suite.scale != suite.default_scale else None
        return cls(str(Path(suite.path).resolve()), scale, suite.variant, opts, executor)

    def runner(self, **option_changes: Any) -> SuiteRunner:
        from repro.suite.executor import ReproExecutor

        suite, expected = load_suite_and_expected(Path(self.suite_file), self.scale, self.variant)
        executor = self.executor if self.executor is not None else ReproExecutor()
        return SuiteRunner(suite, executor, dataclasses.replace(self.options, **option_changes), expected)

    def as_dict(self) -> dict[str, Any]:
        opts = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self.options).items()}
        return {"suite_file": self.suite_file, "scale": self.scale, "variant": self.variant, "options": opts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LaunchSpec:
        opts = dict(data["options"])
        for key in ("out", "data_root"):
            opts[key] = Path(opts[key])
        if opts.get("shard") is not None:
            opts["shard"] = tuple(opts["shard"])
        return cls(data["suite_file"], data["scale"], data["variant"], RunOptions(**opts))


@dataclass(frozen=True)
class PlannedJob:
    cell: str
    seed: int
    after: tuple[tuple[str, int], ...] = ()  # (cell, seed) jobs that must end ok first

    @property
    def name(self) -> str:
        return f"{self.cell}/seed{self.seed}"


@dataclass
class Plan:
    jobs: list[PlannedJob]
    cached: list[str]  # current results: not submitted
    cited: list[str]  # written by the report job


def plan_jobs(runner: SuiteRunner) -> Plan:
    """One job per seed of every selected cell that must run, with its dependencies."""
    jobs: list[PlannedJob] = []
    cached: list[str] = []
    cited: list[str] = []
    submitted: set[str] = set()
    for cell in runner.selected():
        if cell.kind == "cited":
            cited.append(cell.name)
            continue
        if runner.cached_result(cell) is not None:
            cached.append(cell.name)
            continue
        dep = runner.suite.cells[cell.depends_on] if cell.depends_on else None
        for seed in cell.seeds:
            after = ()
            if dep is not None and dep.name in submitted:
                after = ((dep.name, runner._dep_seed(dep, seed)),)
            jobs.append(PlannedJob(cell.name, seed, after))
        submitted.add(cell.name)
    return Plan(jobs, cached, cited)


def prepare_synthetic(runner: SuiteRunner) -> None:
    """Write the synthetic datasets of smoke / ``--scale tiny`` cells before submitting (seconds).

    Done once here rather than in the jobs: the cell keys then see the data (so a current cell is
    not resubmitted), and the synthesizer's fork-based process pool runs in this plain process. In a
    SLURM job on the CI machine (2 cores, task/none) a forked pool worker deadlocked in a futex
    while the parent waited for it (the job process had a second thread).
    """
    from repro.suite.executor import RunContext

    for cell in runner.selected():
        if cell.synthetic is not None and cell.kind != "cited":
            root = runner.data_root(cell)
            runner._prepare_data(cell, RunContext(runner.suite.name, cell.name, cell.seeds[0], runner.run_dir, root))


def clear_seed_records(runner: SuiteRunner, plan: Plan) -> None:
    """A resubmitted seed must not be judged by the record of an earlier run."""
    for job in plan.jobs:
        runner.seed_record_path(job.cell, job.seed).unlink(missing_ok=True)


# --------------------------------------------------------------------------- the job callables


class CellJobFailed(RuntimeError):
    """A seed's job ended with a failed stage: the job fails, so jobs that need its checkpoint do not start."""


def restart_count() -> int:
    """How often the scheduler has restarted this job (SLURM: requeue after preemption or by hand)."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def _attempts_path(runner: SuiteRunner, cell: str, seed: int) -> Path:
    return runner.run_dir / cell / f"seed{seed}" / "job.json"


def record_attempt(runner: SuiteRunner, cell: str, seed: int, **fields: Any) -> None:
    """Append to (or update the last entry of) ``<cell>/seed<k>/job.json``: job id, host, outcome."""
    path = _attempts_path(runner, cell, seed)
    data = read_json(path) or {"attempts": []}
    if fields.pop("new", False) or not data["attempts"]:
        data["attempts"].append({})
    data["attempts"][-1].update(fields)
    write_json(path, data)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class SeedJob:
    """One seed of one cell. The scheduler's warning signal stops training at a step boundary with
    ``last.pt`` written, and submitit requeues the job, which resumes from it (bit-identically)."""

    spec: LaunchSpec
    cell: str
    seed: int
    resume: bool = False

    def __call__(self) -> str:
        from repro.train import preemption

        restarts = restart_count()
        resume = self.resume or restarts > 0 or self.spec.options.resume
        runner = self.spec.runner(resume=resume)
        requeue = _take_warning_signal(preemption.request)
        record_attempt(
            runner,
            self.cell,
            self.seed,
            new=True,
            job_id=_job_id(),
            host=os.uname().nodename,
            started_at=_now(),
            restart=restarts,
            resume=resume,
            state="running",
        )
        try:
            out = runner.run_seed_job(self.cell, self.seed)
        except preemption.TrainingPreempted as stop:
            record_attempt(runner, self.cell, self.seed, state="preempted", step=stop.step, ended_at=_now())
            log.warning("%s seed %d: %s; requeueing", self.cell, self.seed, stop)
            if requeue is None:
                raise
            requeue(_warning_signal(), None)  # submitit: checkpoint() below, requeue, exit
            raise
        record_attempt(runner, self.cell, self.seed, state=out["status"], ended_at=_now())
        if out["status"] == "failed":
            err = out["error"] or {}
            raise CellJobFailed(f"{self.cell} seed {self.seed} failed in {err.get('stage')}: {err.get('message')}")
        return str(out["status"])

    def checkpoint(self) -> Any:
        """submitit's hook on requeue: the same job, resuming from ``last.pt``."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(dataclasses.replace(self, resume=True))


@dataclass
class ReportJob:
    """The last job: every submitted cell's result.json from its seed records, then the report."""

    spec: LaunchSpec

    def __call__(self) -> bool:
        return finish_run(self.spec).passed


def finish_run(spec: LaunchSpec, cells: list[str] | None = None):  # type: ignore[no-untyped-def]
    """Assemble results of ``cells`` (default: the ones jobs.json lists) and write the report."""
    from repro.suite.report import write_reports

    runner = spec.runner()
    if cells is None:
        jobs = read_jobs(runner.run_dir) or {}
        cells = list(dict.fromkeys([j["cell"] for j in jobs.get("jobs", [])] + jobs.get("cited", [])))
    for name in cells:
        runner.finish_cell(name)
    return write_reports(runner.run_dir)


def _warning_signal() -> signal.Signals:
    from submitit import JobEnvironment

    return JobEnvironment._usr_sig()  # USR2 unless $SUBMITIT_PREEMPT_SIGNAL says otherwise


def _take_warning_signal(request: Any) -> Any:
    """Route the scheduler's warning signal to a stop request; return submitit's own handler
    (checkpoint + requeue + exit), to be called once training has stopped at a step boundary."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    sig = _warning_signal()
    previous = signal.getsignal(sig)
    signal.signal(sig, lambda signum, frame: request())
    return previous if callable(previous) else None


def _job_id() -> str | None:
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    from submitit import JobEnvironment

    return str(JobEnvironment().job_id)


# --------------------------------------------------------------------------- jobs.json


def jobs_path(run_dir: Path) -> Path:
    return Path(run_dir) / "jobs.json"


def read_jobs(run_dir: Path) -> dict[str, Any] | None:
    return read_json(jobs_path(run_dir))


def write_jobs(run_dir: Path, data: dict[str, Any]) -> None:
    write_json(jobs_path(run_dir), {"schema": JOBS_SCHEMA, **data})


def spec_of_run(run_dir: Path) -> LaunchSpec:
    data = read_jobs(run_dir)
    if not data:
        raise UserError(f"{run_dir}: no jobs.json (the suite was not run through --launcher local/slurm)")
    return LaunchSpec.from_dict(data["spec"])
