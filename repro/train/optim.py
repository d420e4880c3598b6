"""Optimizer and learning-rate schedule from a student's published recipe.

The recipes and where each number comes from are in :data:`repro.run_settings.RECIPES`. Schedules are
expressed per optimizer step (``LambdaLR`` stepped every step) so a run resumed mid-epoch needs no
special case; HoHoNet's poly decay is still piecewise constant per epoch, exactly as its
``train.py`` steps ``LambdaLR((1 − epoch/E)^0.9)`` once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from repro.run_settings import RECIPES, Recipe, TrainSettings


def recipe_for(settings: TrainSettings) -> Recipe:
    return RECIPES[settings.student.name]


def build_optimizer(params: Iterable[nn.Parameter], settings: TrainSettings) -> torch.optim.Optimizer:
    """Adam/AdamW with the recipe's betas and weight decay; ``schedule`` overrides any of them and lr."""
    recipe = recipe_for(settings)
    schedule = settings.schedule
    params = [p for p in params if p.requires_grad]
    betas = tuple(schedule.betas) if schedule.betas is not None else recipe.betas
    weight_decay = schedule.weight_decay if schedule.weight_decay is not None else recipe.weight_decay
    kwargs = {"lr": float(schedule.lr), "betas": betas, "weight_decay": weight_decay}
    name = schedule.optimizer or recipe.optimizer
    if name == "adam":
        return torch.optim.Adam(params, **kwargs)
    if name == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    raise ValueError(f"unknown optimizer {name!r}")


@dataclass
class PolyPerEpoch:
    """``(1 − epoch / epochs) ^ power`` with ``epoch = step // steps_per_epoch`` (a picklable lambda).

    Without an epoch count (a run bounded by steps only) the decay runs over steps instead.
    """

    power: float
    steps_per_epoch: int
    epochs: int | None
    total_steps: int

    def __call__(self, step: int) -> float:
        if self.epochs:
            progress = (step // self.steps_per_epoch) / self.epochs
        else:
            progress = step / max(1, self.total_steps)
        return max(0.0, 1.0 - progress) ** self.power


def constant(step: int) -> float:
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, settings: TrainSettings, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """The recipe's schedule (or ``schedule.scheduler``) as a per-step ``LambdaLR``."""
    recipe = recipe_for(settings)
    if (settings.schedule.scheduler or recipe.scheduler) == "poly":
        epochs = settings.schedule.epochs
        fn = PolyPerEpoch(recipe.poly_power, steps_per_epoch, epochs, total_steps)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, constant)
