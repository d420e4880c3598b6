"""``--launcher local --jobs N``: N cell × seed jobs at once on this machine, one GPU each.

The same jobs as on SLURM (:mod:`.jobs`), started as subprocesses by submitit's LocalExecutor
with ``CUDA_VISIBLE_DEVICES`` set to the GPU the job holds; a job starts once the jobs it
depends on ended ok (a failed dependency fails its dependents without running them). The
launcher waits for every job, then assembles the results and writes the report, as the SLURM
report job does; ``repro suite status RUN_DIR`` works meanwhile from another shell.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from repro.errors import UserError
from repro.suite.launchers.jobs import (
    LaunchSpec,
    PlannedJob,
    SeedJob,
    clear_seed_records,
    finish_run,
    plan_jobs,
    prepare_synthetic,
    write_jobs,
)

NO_LIMIT_MIN = 60 * 24 * 365  # submitit's local jobs have a timeout; a suite cell has none


def _slots(jobs: int, device: str | None, per_job: int = 1) -> list[tuple[int, ...] | None]:
    """The GPUs of each concurrent job (``per_job`` each: ``--gpus-per-cell``), or None per job on a
    machine (or a run) without CUDA."""
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    if device is not None and device.startswith("cpu"):
        return [None] * jobs
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return [None] * jobs
    if jobs * per_job > count:
        each = "one GPU" if per_job == 1 else f"{per_job} GPUs (--gpus-per-cell)"
        raise UserError(
            f"--jobs {jobs} asks for more GPUs than this machine has ({count}): {each} per job"
        )
    return [tuple(range(i * per_job, (i + 1) * per_job)) for i in range(jobs)]


def run(
    spec: LaunchSpec, jobs: int, progress: Callable[[str], None] | None = None, poll_s: float = 1.0
) -> Any:
    """Run the suite with ``jobs`` jobs at once; returns the report."""
    import submitit

    say = progress or (lambda _text: None)
    runner = spec.runner()
    runner.write_suite_json()
    prepare_synthetic(runner)
    plan = plan_jobs(runner)
    for name in plan.cached:
        say(f"{name}: current result, not run")
    clear_seed_records(runner, plan)
    folder = runner.run_dir / "_jobs" / "%j"
    free = _slots(jobs, spec.options.device, spec.options.gpus_per_cell)
    waiting: list[PlannedJob] = list(plan.jobs)
    running: dict[tuple[str, int], tuple[Any, int | None]] = {}
    ended: dict[tuple[str, int], str] = {}
    records: dict[tuple[str, int], dict[str, Any]] = {
        (j.cell, j.seed): {"cell": j.cell, "seed": j.seed, "job_id": None, "after": [], "log": None}
        for j in plan.jobs
    }

    def save() -> None:
        write_jobs(
            runner.run_dir,
            {
                "launcher": "local",
                "spec": spec.as_dict(),
                "jobs": list(records.values()),
                "cached": plan.cached,
                "cited": plan.cited,
                "launcher_pid": os.getpid(),
            },
        )

    save()
    while waiting or running:
        for job in list(waiting):
            deps = [ended.get(a) for a in job.after]
            if any(d not in (None, "ok") for d in deps):
                waiting.remove(job)
                ended[(job.cell, job.seed)] = "dependency failed"
                records[(job.cell, job.seed)]["state"] = "dependency failed"
                say(f"{job.name}: not run (a job it starts from failed)")
            elif all(d == "ok" for d in deps) and free:
                waiting.remove(job)
                gpu = free.pop(0)
                executor = submitit.LocalExecutor(folder=folder)
                executor.update_parameters(
                    timeout_min=NO_LIMIT_MIN,
                    gpus_per_node=0 if gpu is None else len(gpu),
                    visible_gpus=() if gpu is None else gpu,
                    stderr_to_stdout=True,
                )
                sub = executor.submit(SeedJob(spec, job.cell, job.seed))
                running[(job.cell, job.seed)] = (sub, gpu)
                records[(job.cell, job.seed)].update(
                    job_id=str(sub.job_id), log=str(sub.paths.stdout), gpu=gpu, after=[f"{c}/seed{s}" for c, s in job.after]
                )
                where = "" if gpu is None else f", GPU {','.join(map(str, gpu))}"
                say(f"{job.name}: started (job {sub.job_id}{where})")
        save()
        time.sleep(poll_s)
        for key, (sub, gpu) in list(running.items()):
            if not sub.done():
                continue
            del running[key]
            free.append(gpu)
            state = "ok" if _ended_ok(sub) else "failed"
            ended[key] = state
            records[key]["state"] = state
            say(f"{key[0]}/seed{key[1]}: {state}")
    save()
    return finish_run(spec, list(dict.fromkeys([j.cell for j in plan.jobs] + plan.cited)))


def _ended_ok(sub: Any) -> bool:
    from submitit.core.utils import UncompletedJobError

    try:
        return sub.exception() is None
    except UncompletedJobError:  # killed: no result was written
        return False


def pid_states(job_ids: list[str]) -> dict[str, str]:
    """Local jobs' ids are their controller processes: RUNNING while it lives, else ENDED."""
    out = {}
    for jid in job_ids:
        try:
            os.kill(int(jid), 0)
            out[jid] = "RUNNING"
        except (ProcessLookupError, ValueError):
            out[jid] = "ENDED"
        except PermissionError:
            out[jid] = "RUNNING"
    return out
