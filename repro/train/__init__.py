"""Training: joint labeled + pseudo-labeled steps, exact resume, DDP, and the suite's entry points.

``train(settings, *, out_dir, data_root, ...) -> final checkpoint`` and ``profile(settings, ...)``
are what ``repro train`` and the suite runner (:mod:`repro.suite.executor`) call.
"""

from __future__ import annotations

from pathlib import Path

import torch

from repro.run_settings import TrainSettings
from repro.train.distributed import env_info, init, resolve_device, shutdown
from repro.train.dry_run import profile
from repro.train.loop import (
    Components,
    InterruptedRunError,
    NonFiniteLossError,
    NonFiniteParametersError,
    Trainer,
    refuse_interrupted,
)


def train(
    settings: TrainSettings,
    *,
    out_dir: str | Path,
    data_root: str | Path,
    init_checkpoint: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    keep_optimizer: bool = True,
) -> Path:
    """Train one configuration; checkpoints and logs go under ``out_dir``; returns ``final.pt``.

    Under ``torchrun`` every process calls this; the process group is set up and torn down here.
    ``resume`` continues from ``out_dir/checkpoints/last.pt`` when it exists (else starts fresh);
    ``init_checkpoint`` (e.g. Table 5's relative-depth model) only sets the starting weights.
    An ``out_dir`` holding an interrupted run is refused unless ``resume`` or ``force`` (start over).
    ``keep_optimizer=False`` deletes ``last.pt`` (weights + optimizer state, 3× the model) once the
    run has finished: ``final.pt`` is all that evaluation and later fine-tuning read.
    """
    from repro.train.build import build_components

    info = env_info()
    dev = resolve_device(device, info)
    created = init(dev, info)
    try:
        refuse_interrupted(Path(out_dir), resume=resume, force=force, info=info)  # before any slow set-up
        if settings.pseudo and settings.pseudo_labels == "cached":
            from repro.train.distributed import barrier
            from repro.train.pseudo_cache import build_cache

            # whatever `repro teacher cache` has not built yet, split over the processes
            build_cache(settings, data_root, shard=(info.rank, info.world_size), device=dev, progress=print)
            barrier(info)
        components = build_components(settings, data_root)
        trainer = Trainer(settings, components, out_dir, device=dev, info=info, progress=progress)
        # the interrupted-run check ran above, before the slow set-up: fit need not repeat it
        final = trainer.fit(resume=resume, init_checkpoint=init_checkpoint, force=True)
        if not keep_optimizer and info.is_main:
            (Path(out_dir) / "checkpoints" / "last.pt").unlink(missing_ok=True)
        return final
    finally:
        shutdown(created)


__all__ = [
    "Components",
    "InterruptedRunError",
    "NonFiniteLossError",
    "NonFiniteParametersError",
    "Trainer",
    "profile",
    "train",
]
