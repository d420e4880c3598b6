"""One synthetic panorama in memory: scene, exact distance, true sky and watermark masks.

Used by the dataset writer, and directly by tests and the science suite that need ground truth
beyond what the datasets store (the scene description, the sky and watermark masks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from repro.data.synth.render import render
from repro.data.synth.scene import Scene, sample_scene


@dataclass
class Panorama:
    rgb: torch.Tensor  # (3, H, W) in [0, 1], watermark included
    distance: torch.Tensor  # (1, H, W) metres along each ray; 0 = sky (no depth)
    sky: torch.Tensor  # (1, H, W) bool
    watermark: torch.Tensor  # (1, H, W) bool
    scene: Scene

    @property
    def valid(self) -> torch.Tensor:
        """What a perfect sky/watermark masker keeps (the ``ground_truth`` mask backend)."""
        return ~(self.sky | self.watermark)


def panorama_generator(seed: int, *keys: int) -> torch.Generator:
    """Independent stream per (seed, keys...) — e.g. (seed, dataset, split, index)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *[int(k) & 0xFFFFFFFF for k in keys]]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def add_watermark(rgb: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend a blocky 'logo + text' stamp somewhere in the image -> (rgb, watermark mask).

    The mask is the stamp's whole rectangle, as a box-prompted segmenter would return it.
    """
    _, h, w = rgb.shape
    bh = max(4, int(h * float(0.05 + 0.05 * torch.rand((), generator=generator))))
    bw = max(8, int(w * float(0.08 + 0.1 * torch.rand((), generator=generator))))
    top = int(torch.randint(0, h - bh + 1, (), generator=generator))
    left = int(torch.randint(0, w - bw + 1, (), generator=generator))
    glyphs = torch.rand(3, max(2, bw * 3 // bh), generator=generator) < 0.55  # 3 rows of "text" cells
    stamp = torch.nn.functional.interpolate(glyphs[None, None].float(), size=(bh, bw), mode="nearest")[0]
    color = torch.rand(3, 1, 1, generator=generator) * 0.3 + (0.7 if float(rgb.mean()) < 0.5 else 0.0)
    alpha = 0.35 + 0.45 * float(torch.rand((), generator=generator))
    out = rgb.clone()
    patch = out[:, top : top + bh, left : left + bw]
    blended = patch * (1 - alpha) + color * alpha
    out[:, top : top + bh, left : left + bw] = torch.where(
        stamp.bool(), blended, patch * (1 - 0.25 * alpha) + 0.25 * alpha * color
    )
    mask = torch.zeros(1, h, w, dtype=torch.bool)
    mask[:, top : top + bh, left : left + bw] = True
    return out, mask


def render_panorama(
    seed: int = 0,
    style: str = "a",
    height: int = 256,
    width: int | None = None,
    *,
    sky: bool = False,
    watermark: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Panorama:
    """A random room of ``style`` rendered at ``height`` × ``width`` (default 2 × height)."""
    g = generator if generator is not None else panorama_generator(seed)
    scene = sample_scene(style, g, sky=sky)
    noise_seed = int(torch.randint(0, 2**20, (), generator=g))
    rgb, distance, sky_mask = render(scene, height, width or 2 * height, device=device, seed=noise_seed)
    rgb, distance, sky_mask = rgb.cpu(), distance.cpu(), sky_mask.cpu()
    mark = torch.zeros_like(sky_mask)
    if watermark:
        rgb, mark = add_watermark(rgb, g)
    return Panorama(rgb=rgb, distance=distance, sky=sky_mask, watermark=mark, scene=scene)
