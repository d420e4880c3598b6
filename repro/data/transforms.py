"""Training augmentations of the reference code (UniFuse / Depth Anywhere), drawn per sample.

Geometric augmentations (yaw roll, left-right flip) act jointly on RGB, depth and masks, so labels
stay aligned; colour jitter acts on the student's RGB only (the teacher sees ``rgb_noaug``, which
has the same geometry but no jitter, exactly as the released training code feeds it).

Randomness comes from a ``torch.Generator`` seeded from ``(seed, epoch, index)``: a sample's
augmentation does not depend on the worker that loads it, the number of workers, or the order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(rgb: torch.Tensor) -> torch.Tensor:
    """(…, 3, H, W) in [0, 1] -> ImageNet-normalised; kept separate so the teacher gets raw RGB."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    return (rgb - mean) / std


@dataclass(frozen=True)
class AugmentConfig:
    """The reference recipe: yaw roll always, flip p = 0.5, jitter p = 0.5 with these ranges."""

    yaw_roll: bool = True
    flip_p: float = 0.5
    jitter_p: float = 0.5
    brightness: tuple[float, float] = (0.8, 1.2)
    contrast: tuple[float, float] = (0.8, 1.2)
    saturation: tuple[float, float] = (0.8, 1.2)
    hue: tuple[float, float] = (-0.1, 0.1)


@dataclass(frozen=True)
class AugmentParams:
    """One sample's draw; ``jitter`` is (order of the 4 ops, brightness, contrast, saturation, hue)."""

    roll: int = 0
    flip: bool = False
    jitter: tuple[tuple[int, ...], float, float, float, float] | None = None


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator that depends only on (seed, epoch, index): well mixed, worker-independent."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(index)]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _uniform(lo_hi: tuple[float, float], generator: torch.Generator) -> float:
    lo, hi = lo_hi
    return float(lo + (hi - lo) * torch.rand((), generator=generator))


def sample_params(cfg: AugmentConfig, width: int, generator: torch.Generator) -> AugmentParams:
    """Draw one sample's augmentation (always the same number of draws, so streams stay aligned)."""
    roll = int(torch.randint(0, width, (), generator=generator))
    flip = float(torch.rand((), generator=generator)) < cfg.flip_p
    use_jitter = float(torch.rand((), generator=generator)) < cfg.jitter_p
    order = tuple(int(i) for i in torch.randperm(4, generator=generator))
    factors = [_uniform(r, generator) for r in (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)]
    return AugmentParams(
        roll=roll if cfg.yaw_roll else 0,
        flip=flip,
        jitter=(order, *factors) if use_jitter else None,  # type: ignore[arg-type]
    )


def apply_geometric(x: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """Yaw roll (circular shift of columns: a rotation about the vertical axis), then LR flip."""
    if params.roll:
        x = torch.roll(x, shifts=params.roll, dims=-1)
    if params.flip:
        x = torch.flip(x, dims=(-1,))
    return x


def undo_geometric(x: torch.Tensor, roll: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`apply_geometric` per sample of a batch (B,C,H,W): flip back, then roll back.

    An exact pixel permutation (differentiable): a prediction on an augmented panorama, moved back
    into the panorama's own frame (where a cached pseudo label lives).
    """
    w = x.shape[-1]
    src = (torch.arange(w, device=x.device) + roll.to(x.device).long()[:, None]) % w  # roll back
    src = torch.where(flip.to(x.device).bool()[:, None], w - 1 - src, src)  # flip back first
    return x.gather(-1, src[:, None, None, :].expand_as(x))  # one gather on the device: no host sync


def apply_color(rgb: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """ColorJitter with the drawn factors, in the drawn order (as torchvision's ColorJitter)."""
    if params.jitter is None:
        return rgb
    order, b, c, s, h = params.jitter
    ops = (
        lambda x: TF.adjust_brightness(x, b),
        lambda x: TF.adjust_contrast(x, c),
        lambda x: TF.adjust_saturation(x, s),
        lambda x: TF.adjust_hue(x, h),
    )
    for i in order:
        rgb = ops[i](rgb)
    return rgb.clamp(0.0, 1.0)
