"""``--launcher slurm``: one sbatch job per cell × seed through submitit, a report job at the end.

submitit writes each job's batch script, pickles the job callable into the run's ``_jobs/``
folder and reads back its result; the scheduler runs the jobs in dependency order (``afterok``:
a cell waits for the job that trains its ``init_from`` checkpoint, and is cancelled if that job
fails) and the report job once every job has ended (``afterany``). Jobs are requeueable and get
the warning signal ``signal_delay_s`` before their time limit or preemption: training stops at a
step boundary with its state saved, the job requeues itself and resumes bit-identically.

The run folder, the data root and the Python environment (or the container image) must be
visible on the compute nodes at the same paths (a shared file system), as for any submitit job.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.errors import UserError
from repro.suite.launchers.jobs import (
    LaunchSpec,
    PlannedJob,
    ReportJob,
    SeedJob,
    clear_seed_records,
    finish_run,
    plan_jobs,
    prepare_synthetic,
    write_jobs,
)
from repro.suite.runner import run_name

CONTAINER_RUNTIMES = ("apptainer", "pyxis")


@dataclass
class SlurmSettings:
    """The sbatch knobs of ``repro suite NAME --launcher slurm`` (None: the cluster's default)."""

    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None  # sbatch syntax: 32G, 500M
    time_min: int = 24 * 60
    account: str | None = None
    qos: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # --slurm-arg KEY=VALUE
    signal_delay_s: int = 120  # warning signal this long before the time limit
    container_image: str | None = None
    container_runtime: str = "apptainer"
    python: str | None = None  # the job's Python outside a container (default: this interpreter)


def parse_time(text: str) -> int:
    """sbatch's time formats (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``) in minutes."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+(?::\d+){0,2})", text.strip())
    if not m:
        raise UserError(f"--time must look like 90, 4:00:00 or 2-00:00:00, got {text!r}")
    parts = [int(x) for x in m.group(2).split(":")]
    if m.group(1) is not None:  # D-HH[:MM[:SS]]
        h, mi, sec = parts + [0] * (3 - len(parts))
        minutes = int(m.group(1)) * 1440 + h * 60 + mi + (sec > 0)
    else:  # MM, MM:SS or HH:MM:SS
        h, mi, sec = parts if len(parts) == 3 else [0, parts[0], parts[1] if len(parts) > 1 else 0]
        minutes = h * 60 + mi + (sec > 0)
    if minutes <= 0:
        raise UserError(f"--time must be positive, got {text!r}")
    return minutes


def parse_slurm_args(items: list[str]) -> dict[str, Any]:
    """``--slurm-arg KEY=VALUE`` (or a bare ``KEY`` for a flag) as sbatch long options."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise UserError(f"--slurm-arg must be KEY=VALUE with an sbatch option name, got {item!r}")
        out[key] = value if sep else True
    return out


def _mounts(spec: LaunchSpec) -> list[str]:
    """Folders a containerised job needs at the same path: outputs, data, the suite and expected files."""
    suite_dir = Path(spec.suite_file).parent
    paths = [spec.options.out, spec.options.data_root, suite_dir, suite_dir.parent / "expected"]
    return list(dict.fromkeys(str(p) for p in paths))


def container_command(settings: SlurmSettings, mounts: list[str]) -> tuple[str, list[str]]:
    """(python command, extra srun arguments) that run the job inside ``settings.container_image``.

    Apptainer/Singularity: ``apptainer exec [--nv] --bind P:P,... IMAGE.sif python``; the image is
    built from ours (``apptainer build repro.sif docker-daemon://repro:latest``).
    pyxis/enroot: ``srun --container-image=IMAGE --container-mounts=P:P,...`` and the image's python.
    """
    image = settings.container_image
    if image is None:
        return settings.python or "", []
    binds = ",".join(f"{m}:{m}" for m in mounts)
    if settings.container_runtime == "apptainer":
        nv = ["--nv"] if settings.gpus_per_task else []
        return shlex.join(["apptainer", "exec", *nv, "--bind", binds, image, "python"]), []
    if settings.container_runtime == "pyxis":
        return "python", [f"--container-image={image}", f"--container-mounts={binds}", "--no-container-mount-home"]
    raise UserError(f"--container-runtime must be one of {', '.join(CONTAINER_RUNTIMES)}")


def make_executor(folder: Path, settings: SlurmSettings, mounts: list[str]) -> Any:
    """A submitit SlurmExecutor with the knobs applied (dependencies are set per job)."""
    import submitit

    python, srun_args = container_command(settings, mounts)
    executor = submitit.SlurmExecutor(folder=folder, python=python or None, max_num_timeout=20)
    params: dict[str, Any] = {
        "time": settings.time_min,
        "signal_delay_s": settings.signal_delay_s,
        "stderr_to_stdout": True,
        "additional_parameters": {"requeue": True, "kill-on-invalid-dep": "yes", **settings.extra},
    }
    optional = {
        "partition": settings.partition,
        "gpus_per_task": settings.gpus_per_task,
        "cpus_per_task": settings.cpus_per_task,
        "mem": settings.mem,
        "account": settings.account,
        "qos": settings.qos,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    if srun_args:
        params["srun_args"] = srun_args
    executor.update_parameters(**params)
    return executor


def _submit(executor: Any, fn: Any, name: str, dependency: str | None) -> Any:
    from submitit.core.utils import FailedJobError

    executor.update_parameters(job_name=name, dependency=dependency)
    try:
        return executor.submit(fn)
    except (FailedJobError, FileNotFoundError) as exc:  # sbatch refused the job, or is not installed
        detail = " ".join(str(exc).split())
        raise UserError(f"sbatch could not submit {name}: {detail}") from None


def submit(
    spec: LaunchSpec, settings: SlurmSettings, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Submit the suite's jobs and its report job; returns what jobs.json records."""
    runner = spec.runner()
    runner.write_suite_json()
    prepare_synthetic(runner)
    plan = plan_jobs(runner)
    run_dir = runner.run_dir
    say = progress or (lambda _text: None)
    for name in plan.cached:
        say(f"{name}: current result, not submitted")
    if not plan.jobs:
        say("nothing to submit: writing the report")
        finish_run(spec, plan.cited)
        return {"launcher": "slurm", "jobs": [], "cached": plan.cached, "cited": plan.cited}
    settings = _gpus_for_cells(settings, spec.options.gpus_per_cell)
    clear_seed_records(runner, plan)
    mounts = _mounts(spec)
    executor = make_executor(run_dir / "_jobs" / "%j", settings, mounts)
    prefix = f"repro-{run_name(runner.suite)}"
    submitted: dict[tuple[str, int], Any] = {}
    records = []
    for job in plan.jobs:
        dependency = _afterok(job, submitted)
        sub = _submit(executor, SeedJob(spec, job.cell, job.seed), f"{prefix}-{job.cell}-s{job.seed}", dependency)
        submitted[(job.cell, job.seed)] = sub
        records.append(
            {
                "cell": job.cell,
                "seed": job.seed,
                "job_id": str(sub.job_id),
                "after": [submitted[a].job_id for a in job.after],
                "log": str(sub.paths.stdout),
                "script": str(sub.paths.submission_file),
            }
        )
        say(f"{job.name}: job {sub.job_id}" + (f" (after {dependency})" if dependency else ""))
    report_executor = make_executor(
        run_dir / "_jobs" / "%j",
        SlurmSettings(**{**settings.__dict__, "gpus_per_task": None, "cpus_per_task": 1, "time_min": 60}),
        mounts,
    )
    ids = ":".join(str(s.job_id) for s in submitted.values())
    report = _submit(report_executor, ReportJob(spec), f"{prefix}-report", f"afterany:{ids}")
    say(f"report: job {report.job_id} (after every job ends)")
    data = {
        "launcher": "slurm",
        "spec": spec.as_dict(),
        "jobs": records,
        "report_job": {"job_id": str(report.job_id), "log": str(report.paths.stdout)},
        "cached": plan.cached,
        "cited": plan.cited,
    }
    write_jobs(run_dir, data)
    return data


def _gpus_for_cells(settings: SlurmSettings, gpus_per_cell: int) -> SlurmSettings:
    """A job trains its cell on ``gpus_per_cell`` ranks (one task, DDP inside): it must hold that many GPUs."""
    if gpus_per_cell <= 1:
        return settings
    if settings.gpus_per_task is None:
        return SlurmSettings(**{**settings.__dict__, "gpus_per_task": gpus_per_cell})
    if settings.gpus_per_task < gpus_per_cell:
        raise UserError(
            f"--gpus-per-cell {gpus_per_cell} needs --gpus-per-task of at least {gpus_per_cell}, "
            f"got {settings.gpus_per_task}"
        )
    return settings


def _afterok(job: PlannedJob, submitted: dict[tuple[str, int], Any]) -> str | None:
    ids = [str(submitted[a].job_id) for a in job.after]
    return f"afterok:{':'.join(ids)}" if ids else None


# --------------------------------------------------------------------------- scheduler states


def scheduler_states(job_ids: list[str]) -> dict[str, str]:
    """SLURM's view of the jobs: ``scontrol`` for the ones slurmctld still holds, ``sacct`` for older ones.

    A job the scheduler no longer knows (and no accounting to ask) is absent from the answer.
    """
    wanted = set(job_ids)
    states: dict[str, str] = {}
    res = _run(["scontrol", "show", "job", "-o"])
    for line in res.splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        jid = fields.get("JobId")
        if jid in wanted:
            restarts = int(fields.get("Restarts", "0") or 0)
            states[jid] = fields.get("JobState", "UNKNOWN") + (f" (requeued {restarts}x)" if restarts else "")
    missing = sorted(wanted - set(states))
    if missing:
        out = _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(missing)])
        for line in out.splitlines():
            jid, _, state = line.partition("|")
            if jid in wanted and state:
                states[jid] = state.split()[0]
    return states


def _run(argv: list[str]) -> str:
    try:
        res = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout if res.returncode == 0 else ""
