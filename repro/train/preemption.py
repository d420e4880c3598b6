"""A stop request for training, honoured at the next step boundary (scheduler warning signals).

A batch scheduler warns a job before it preempts it or its time runs out (SLURM: ``--signal``).
The signal handler only calls :func:`request`; the trainer finishes the step it is in, writes
``last.pt`` and raises :class:`TrainingPreempted`, so the checkpoint is always a consistent step
boundary and a resumed run continues bit-identically. In DDP every rank stops at the same step
(the request travels in the step's one all-reduce).
"""

from __future__ import annotations

import threading

_requested = threading.Event()


class TrainingPreempted(BaseException):
    """Training stopped on request after checkpointing (a BaseException, like KeyboardInterrupt:
    it is control flow, not a failure, and must pass through the stage error handling)."""

    def __init__(self, step: int, checkpoint: str) -> None:
        super().__init__(f"training stopped at step {step} on request; state saved to {checkpoint}")
        self.step, self.checkpoint = step, checkpoint


def request() -> None:
    """Ask the running trainer to checkpoint and stop (safe to call from a signal handler)."""
    _requested.set()


def requested() -> bool:
    return _requested.is_set()


def clear() -> None:
    _requested.clear()
