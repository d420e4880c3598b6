"""One training run on several processes of this machine (DDP), started the way ``torchrun`` starts them.

A suite cell that holds N GPUs (``repro suite --gpus-per-cell N``: one SLURM job with N GPUs, or N
GPUs of a workstation) trains on N ranks: :func:`train_on_ranks` starts them through torch's own
launcher API (:func:`torch.distributed.launcher.api.elastic_launch`, what ``torchrun --standalone``
runs), each rank calls :func:`repro.train.train`, and the global batch stays the published one
(each rank reads ``global / N`` images per step, :mod:`repro.train.distributed`).

Preemption: the job process receives the scheduler's warning signal, not the ranks. A watcher
thread forwards the stop request to every rank as ``SIGUSR2``; the ranks stop at the same step
boundary (the request rides the step's all-reduce), rank 0 writes ``last.pt``, and the job sees
:class:`~repro.train.preemption.TrainingPreempted` as a single-process run would raise it.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from torch.distributed.elastic.multiprocessing.errors import record

from repro.run_settings import TrainSettings
from repro.train import preemption

#: how often the job process checks for a stop request to forward (seconds)
FORWARD_POLL_S = 0.2


@record  # the rank's exception reaches the job's error message, not "To enable traceback see ..."
def _rank_main(settings: TrainSettings, kwargs: dict[str, Any], pid_dir: str) -> dict[str, Any]:
    """One rank (a spawned process): train, and report a stop request instead of failing on it."""
    from repro.train import train

    preemption.clear()
    signal.signal(signal.SIGUSR2, lambda signum, frame: preemption.request())
    (Path(pid_dir) / f"{os.environ.get('RANK', '0')}.pid").write_text(str(os.getpid()))
    try:
        return {"checkpoint": str(train(settings, **kwargs))}
    except preemption.TrainingPreempted as stop:
        return {"preempted": [stop.step, stop.checkpoint]}


def _forward_stop_requests(done: threading.Event, pid_dir: Path) -> None:
    """Send ``SIGUSR2`` to the ranks (the pids they registered; never their data-loader workers)
    once this process is asked to stop."""
    while not done.wait(FORWARD_POLL_S):
        if preemption.requested():
            for path in pid_dir.glob("*.pid"):
                try:
                    os.kill(int(path.read_text()), signal.SIGUSR2)
                except (ProcessLookupError, ValueError, OSError):
                    pass
            return


def train_on_ranks(settings: TrainSettings, ranks: int, **kwargs: Any) -> Path:
    """Train ``settings`` on ``ranks`` local processes (DDP; NCCL on GPUs, gloo on CPU); return
    rank 0's checkpoint. ``kwargs`` are :func:`repro.train.train`'s (``out_dir``, ``data_root``, ...)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if ranks < 2:
        raise ValueError(f"train_on_ranks needs at least 2 ranks, got {ranks}")
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=ranks,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",  # torchrun --standalone: a free port on this machine
        max_restarts=0,  # a failed rank fails the cell; resuming is the scheduler's requeue
        start_method="spawn",
    )
    done = threading.Event()
    with tempfile.TemporaryDirectory(prefix="repro-ranks-") as pid_dir:
        watcher = threading.Thread(target=_forward_stop_requests, args=(done, Path(pid_dir)), daemon=True)
        watcher.start()
        try:
            results = elastic_launch(config, _rank_main)(settings, {**kwargs, "progress": False}, pid_dir)
        except ChildFailedError as exc:
            rank, failure = next(iter(sorted(exc.failures.items())))
            raise RuntimeError(f"training rank {rank} of {ranks} failed: {failure.message}") from None
        finally:
            done.set()
            watcher.join()
    stopped = [r["preempted"] for r in results.values() if "preempted" in r]
    if stopped:
        step, checkpoint = stopped[0]
        raise preemption.TrainingPreempted(step, checkpoint)
    return Path(results[0]["checkpoint"])
