"""The one device rule of the package: what the user asked for, else the GPU when there is one."""

from __future__ import annotations

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as given; ``None`` means CUDA when available, otherwise the CPU."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)
