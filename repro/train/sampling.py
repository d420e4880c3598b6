"""Deterministic, resumable, rank-sharded data order for the two training streams.

Exact resume and DDP equivalence both follow from one rule: *what a step reads is a pure function
of the step number*. Each stream (labeled, unlabeled) has its own seeded permutation per epoch
(per cycle for the unlabeled stream); step ``s`` reads global batch ``s mod batches_per_epoch`` of
epoch ``s div batches_per_epoch``, and rank ``r`` of ``W`` takes the ``r``-th contiguous chunk of
that global batch. So:

* resuming at step ``s`` needs no sampler or generator state — only ``s`` (checkpointed);
* a run on ``W`` ranks reads, at every step, exactly the images one process reads with the same
  global batch (the published one), split into ``W`` chunks;
* the number of DataLoader workers and their prefetching cannot change the order.

Samples also carry a per-sample ``key`` (a 63-bit integer from (seed, stream, epoch, index)) that
seeds anything random about that sample downstream (the pseudo-label rotation), for the same
reasons. Augmentations come from the dataset's own ``set_epoch`` + per-index generators
(``repro.data``), which the wrapper drives with the stream's epoch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

LABELED, UNLABELED = 0, 1
STREAM_NAMES = {LABELED: "labeled", UNLABELED: "unlabeled"}


def mix_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (fits torch int64 and ``Generator.manual_seed``)."""
    state = np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@dataclass(frozen=True)
class Stream:
    """The order in which one dataset is read: seeded per-epoch permutations, fixed global batches.

    Incomplete last batches are dropped (as the published loaders do), so every step of every rank
    has the same batch size.
    """

    size: int
    global_batch: int
    seed: int
    role: int = LABELED
    shuffle: bool = True
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in a world of {self.world_size}")
        if self.global_batch % self.world_size:
            raise ValueError(
                f"the global batch ({self.global_batch}) must divide evenly over {self.world_size} processes"
            )
        if self.size < self.global_batch:
            raise ValueError(
                f"the {STREAM_NAMES.get(self.role, 'data')} set has {self.size} images, fewer than one "
                f"global batch of {self.global_batch}"
            )

    @property
    def local_batch(self) -> int:
        return self.global_batch // self.world_size

    @property
    def batches_per_epoch(self) -> int:
        return self.size // self.global_batch

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of epoch ``epoch`` (identical on every rank)."""
        if not self.shuffle:
            return torch.arange(self.size)
        gen = torch.Generator().manual_seed(mix_seed(self.seed, self.role, epoch))
        return torch.randperm(self.size, generator=gen)

    def locate(self, step: int) -> tuple[int, int]:
        """(epoch, batch within the epoch) read at global step ``step``."""
        return divmod(step, self.batches_per_epoch)

    def local_indices(self, epoch: int, batch: int, order: torch.Tensor | None = None) -> list[int]:
        """This rank's dataset indices of global batch ``batch`` of ``epoch``."""
        order = self.order(epoch) if order is None else order
        start = batch * self.global_batch + self.rank * self.local_batch
        return order[start : start + self.local_batch].tolist()


class StreamBatches(Sampler[list[tuple[int, int]]]):
    """Batch sampler over steps ``start_step, start_step + 1, ...`` (endless unless ``stop_step``).

    Yields this rank's ``[(epoch, index), ...]`` per step; :class:`EpochIndexed` turns the pairs
    into samples.
    """

    def __init__(self, stream: Stream, start_step: int = 0, stop_step: int | None = None) -> None:
        self.stream, self.start_step, self.stop_step = stream, int(start_step), stop_step

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        cached: tuple[int, torch.Tensor] | None = None
        steps = itertools.count(self.start_step) if self.stop_step is None else range(self.start_step, self.stop_step)
        for step in steps:
            epoch, batch = self.stream.locate(step)
            if cached is None or cached[0] != epoch:
                cached = (epoch, self.stream.order(epoch))
            yield [(epoch, i) for i in self.stream.local_indices(epoch, batch, cached[1])]

    def __len__(self) -> int:
        if self.stop_step is None:
            raise TypeError("an endless stream has no length")
        return max(0, self.stop_step - self.start_step)


class EpochIndexed(Dataset):
    """Wraps a dataset so it is indexed by ``(epoch, index)`` and each sample gets its ``key``.

    ``set_epoch`` (``repro.data`` readers draw augmentations from (seed, epoch, index)) is called
    on the worker's copy before each read, so augmentation never depends on worker count or order.
    """

    def __init__(self, dataset: Dataset, seed: int, role: int) -> None:
        self.dataset, self.seed, self.role = dataset, int(seed), int(role)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Any]:
        epoch, index = item
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if set_epoch is not None and getattr(self.dataset, "epoch", None) != epoch:
            set_epoch(epoch)
        sample = dict(self.dataset[index])
        sample["key"] = mix_seed(self.seed, self.role, epoch, index)
        return sample


def stream_loader(
    dataset: Dataset,
    stream: Stream,
    start_step: int,
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
    stop_step: int | None = None,
) -> torch.utils.data.DataLoader:
    """A DataLoader reading ``stream`` from ``start_step`` on (workers are seeded from the stream)."""
    return torch.utils.data.DataLoader(
        EpochIndexed(dataset, stream.seed, stream.role),
        batch_sampler=StreamBatches(stream, start_step, stop_step),
        num_workers=num_workers,
        pin_memory=pin_memory,
        # Only seeds worker processes (our datasets draw from explicit per-sample generators); a
        # fixed generator keeps DataLoader from consuming the global torch RNG.
        generator=torch.Generator().manual_seed(mix_seed(stream.seed, stream.role, start_step, stream.rank)),
        persistent_workers=False,
    )
