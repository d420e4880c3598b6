"""``repro suite status RUN_DIR``: where each cell × seed job of a launched run stands.

The state comes from what the jobs wrote (``<cell>/seed<k>/seed.json`` when a seed ended,
``job.json`` with its attempts) and from the scheduler (SLURM's job state, or whether a local
job's process lives), so it is right even for a job the scheduler has forgotten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabulate import tabulate

from repro.suite.launchers.jobs import read_jobs
from repro.suite.runner import read_json

ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "ENDED")


def _scheduler_states(launcher: str, ids: list[str]) -> dict[str, str]:
    if launcher == "slurm":
        from repro.suite.launchers.slurm import scheduler_states

        return scheduler_states(ids)
    from repro.suite.launchers.local import pid_states

    return pid_states(ids)


def job_state(seed_record: dict[str, Any] | None, attempts: list[dict[str, Any]], scheduler: str | None) -> str:
    """pending / running / done / failed / skipped, from the records first, the scheduler second."""
    if seed_record is not None:
        return {"ok": "done", "skipped": "skipped"}.get(seed_record.get("status", ""), "failed")
    sched = (scheduler or "").split(" ")[0]
    if sched in ENDED:
        return "failed"  # ended without writing its record: cancelled, killed, out of time
    if sched == "RUNNING" or (attempts and attempts[-1].get("state") == "running" and not sched):
        return "running"
    return "pending"  # queued, requeued, held, waiting for a dependency, or not started yet


def rows(run_dir: Path) -> list[dict[str, Any]]:
    """One row per job of the run (plus the cells whose current results were not re-run)."""
    jobs = read_jobs(run_dir)
    if not jobs:
        return []
    launcher = jobs.get("launcher", "slurm")
    ids = [j["job_id"] for j in jobs.get("jobs", []) if j.get("job_id")]
    report = jobs.get("report_job")
    states = _scheduler_states(launcher, ids + ([report["job_id"]] if report else []))
    out = []
    for name in jobs.get("cached", []):
        out.append({"cell": name, "seed": "all", "state": "done (cached)", "job": "—", "scheduler": "—", "log": "—"})
    for j in jobs.get("jobs", []):
        seed_dir = run_dir / j["cell"] / f"seed{j['seed']}"
        attempts = (read_json(seed_dir / "job.json") or {}).get("attempts", [])
        sched = states.get(j.get("job_id") or "")
        state = job_state(read_json(seed_dir / "seed.json"), attempts, sched)
        if j.get("state") == "dependency failed":
            state = "failed (dependency)"
        preempted = sum(1 for a in attempts if a.get("state") == "preempted")
        note = f", resumed after {preempted} preemption(s)" if preempted else ""
        out.append(
            {
                "cell": j["cell"],
                "seed": j["seed"],
                "state": state + note,
                "job": j.get("job_id") or "—",
                "scheduler": sched or "—",
                "log": j.get("log") or "—",
            }
        )
    if report:
        done = (run_dir / "report.json").is_file()
        sched = states.get(report["job_id"])
        state = "done" if done and (sched or "").startswith("COMPLETED") else job_state(None, [], sched)
        out.append(
            {"cell": "(report)", "seed": "", "state": state, "job": report["job_id"], "scheduler": sched or "—", "log": report["log"]}
        )
    return out


def render(run_dir: Path) -> str:
    table = rows(run_dir)
    if not table:
        return f"{run_dir}: no jobs.json (not launched with --launcher local/slurm)\n"
    counts: dict[str, int] = {}
    for r in table:
        if r["cell"] != "(report)":
            key = r["state"].split(" ")[0].rstrip(",")
            counts[key] = counts.get(key, 0) + 1
    body = tabulate(
        [[r["cell"], r["seed"], r["state"], r["job"], r["scheduler"], r["log"]] for r in table],
        ["cell", "seed", "state", "job", "scheduler state", "log"],
        tablefmt="simple",
        disable_numparse=True,
    )
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"{run_dir}\n\n{body}\n\n{summary}\n"
