"""torch.distributed through ``torchrun``: process group, DDP wrapping, rank-0-only writing.

``torchrun --nproc_per_node N -m repro train CONFIG`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/
``MASTER_ADDR``/``MASTER_PORT``; :func:`init` reads them (NCCL on GPU, gloo on CPU). The global
batch stays the published one: each rank reads ``global / world_size`` images per step (see
:mod:`repro.train.sampling`), and DDP averages the gradients, so N ranks take the same optimizer
step as one process with the whole batch — exactly so for models without BatchNorm; with
BatchNorm each rank normalises its own chunk unless it is converted to SyncBatchNorm (done on CUDA,
see :func:`wrap_model`; torch has no CPU SyncBatchNorm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from repro.devices import pick_device


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """The process's place in a ``torchrun`` launch (a single process when not launched so)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistInfo(rank, world, local)


def resolve_device(device: str | torch.device | None, info: DistInfo) -> torch.device:
    """``None``: this rank's GPU when CUDA is available, else CPU."""
    device = pick_device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", info.local_rank % max(1, torch.cuda.device_count()))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def init(device: torch.device, info: DistInfo) -> bool:
    """Join the process group when launched with several processes; True if this call created it."""
    if not info.enabled or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"backend": backend, "rank": info.rank, "world_size": info.world_size}
    if backend == "nccl":
        kwargs["device_id"] = device
    dist.init_process_group(**kwargs)
    return True


def shutdown(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.barrier()


def wrap_model(model: nn.Module, device: torch.device, info: DistInfo, sync_bn: bool = True) -> nn.Module:
    """DDP around ``model`` when distributed (parameters are broadcast from rank 0)."""
    if not info.enabled:
        return model
    if sync_bn and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a small tensor over ranks (one collective for all the step's scalars)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` on every rank (used for per-rank RNG states in checkpoints)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
