"""The teacher applied directly to the equirectangular image: paper Table 3's "Depth Anything" row.

Wrapped with the student interface (ImageNet-normalised equirect in, (B,1,H,W) disparity out) so
the evaluator scores it like any student. The panorama is fed whole, as Depth Anything would be
given any image: shorter side 518, both sides multiples of 14 (518×1036 for 512×1024).
"""

from __future__ import annotations

import torch
from torch import nn


class TeacherOnEquirect(nn.Module):
    """A teacher as an evaluable model: ``forward(x, depth=None) -> (B,1,H,W)`` raw relative disparity.

    The output is the teacher's disparity *before* the per-face [0, 1] normalisation (which would
    put the farthest pixel at zero disparity, i.e. infinite depth); the evaluator aligns it. The
    oracle teacher needs ``depth`` (the panorama's true distance, synthetic data only).
    """

    def __init__(self, teacher: nn.Module) -> None:
        super().__init__()
        self.teacher = teacher
        from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        self.register_buffer("mean", torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def is_stand_in(self) -> bool:
        return bool(getattr(self.teacher, "is_stand_in", False))

    def describe(self) -> str:
        return f"{self.teacher.describe()} on the equirectangular image"

    @torch.no_grad()
    def forward(self, x: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        if getattr(self.teacher, "is_stand_in", False):
            if depth is None:
                raise ValueError("the oracle teacher on equirect images needs depth= (the true distance map)")
            return self.teacher.raw_disparity(depth)
        rgb = (x * self.std + self.mean).clamp(0, 1)
        return self.teacher.raw_disparity(rgb)
