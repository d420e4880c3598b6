"""Parity checks: the released Depth Anywhere code's own functions beside ours, on a CPU.

Each check feeds both sides identical inputs and returns :class:`Row` s (max difference against a
tolerance). The released side is imported from ``RELEASED_SRC`` through :mod:`released_env`;
the ``repro`` side is configured exactly as ``--variant released_code`` configures it
(``suites/_defaults/paper.yaml``), so the table checks the shipped variant, not a private setting.

Stand-ins (the same module on both sides, so they cancel out): a seeded convolution for the
teacher (Depth Anything weights cannot be assumed offline; ``train.py`` passes the teacher in as
an argument, so the released training step runs unchanged around it) and a small seeded CNN for
the student of the training step. The students row compares the real student networks.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from repro.config import load_config
from repro.data.transforms import imagenet_normalize
from repro.settings import DistillSpec, LossWeights

ROOT = Path(__file__).resolve().parents[2]
VARIANT_FILE = ROOT / "suites" / "_defaults" / "paper.yaml"


@dataclass
class Row:
    check: str
    compared: str
    value: float
    tolerance: float
    unit: str = "max |Δ|"

    @property
    def ok(self) -> bool:
        return bool(self.value <= self.tolerance)  # NaN fails


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = float(b.double().abs().max())
    return max_abs(a, b) / scale if scale > 0 else max_abs(a, b)


def variant_settings() -> dict[str, Any]:
    """The ``train:`` overlay of ``--variant released_code`` as shipped, plus the paper defaults."""
    raw = load_config(VARIANT_FILE)
    base = dict(raw["defaults"]["train"])
    variant = raw["variants"]["released_code"]["train"]
    distill = {**base["distill"], **variant.get("distill", {})}
    return {**base, **variant, "distill": distill}


# -- stand-ins ------------------------------------------------------------------------------------


class StandInTeacher(nn.Module):
    """A seeded, smooth, positive 'relative disparity' network: (N,3,h,w) -> (N,h,w).

    Called as the released code calls Depth Anything (``DA(x)``) and as Hugging Face's
    ``DepthAnythingForDepthEstimation`` is called by ``repro`` (``model(pixel_values=x).predicted_depth``).
    """

    def __init__(self, seed: int = 7) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 1, 5, padding=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.2)
            self.conv.bias.fill_(0.1)

    def forward(self, x: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None) -> Any:
        inp = x if x is not None else pixel_values
        out = nn.functional.softplus(self.conv(inp))[:, 0]
        return out if x is not None else SimpleNamespace(predicted_depth=out)


class StandInStudent(nn.Module):
    """A seeded two-layer CNN giving (B,1,H,W) disparity; ``as_released`` returns the released dict."""

    def __init__(self, seed: int = 11, as_released: bool = False) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))
        self.as_released = as_released

    def forward(self, x: torch.Tensor) -> Any:
        out = self.body(x) + 1.0
        return {"pred_depth": out} if self.as_released else out


# -- inputs -----------------------------------------------------------------------------------------


def panoramas(batch: int, height: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Smooth synthetic RGB in [0, 1], depth in metres and a sky-like mask (top rows invalid)."""
    g = torch.Generator().manual_seed(seed)
    w = 2 * height
    low = torch.rand(batch, 4, height // 16, w // 16, generator=g)
    up = nn.functional.interpolate(low, (height, w), mode="bicubic", align_corners=False).clamp(0, 1)
    rgb = up[:, :3].contiguous()
    depth = 0.5 + 9.0 * up[:, 3:]
    depth[..., : height // 16, :] = 0  # invalid ground truth rows
    mask = torch.ones(batch, 1, height, w, dtype=torch.bool)
    rows = torch.arange(height)[:, None]
    mask[:, :, : height // 5] = (rows[: height // 5] > torch.rand(batch, 1, 1, w, generator=g) * height / 5)
    return {"rgb": rgb, "depth": depth, "mask": mask}


# -- checks -----------------------------------------------------------------------------------------


def check_geometry(height: int = 512, seed: int = 3) -> list[Row]:
    """Rotation draw, EquirecRotate, Equirec2Cube and the sky-mask path against repro.geometry.released."""
    import train as released_train  # noqa: PLC0415 - the released train.py, importable under released_code()

    from repro.geometry.released import (
        RELEASED_TO_OURS,
        ReleasedProjection,
        draw_rotations,
        flip_frame,
        rotate_equirect_released,
    )

    data = panoramas(2, height, seed)
    rgb, mask = data["rgb"], data["mask"]
    prob = released_train.ProcessDABatch(height, 2 * height, CUDA=False)
    torch.manual_seed(seed)
    rel_rot, rot_vec = prob.randRotate(rgb)  # the released draw from the global generator
    import pytorch3d.transforms.rotation_conversions as p3dr  # real or the harness shim

    rel_matrix = p3dr.euler_angles_to_matrix((rot_vec / 180 * math.pi).reshape(1, 3), convention="XYZ")
    ours_r = draw_rotations(1, 45.0, torch.Generator().manual_seed(seed), frame="y_down")
    from benchmarks.parity.released_env import scipy_euler

    reference = scipy_euler(rot_vec / 180 * math.pi)
    rows = [
        Row("rotation", "pytorch3d euler_angles_to_matrix vs scipy (float64)", max_abs(rel_matrix, reference), 1e-6),
        Row("rotation", "Euler draw -> matrix, y-down frame (released vs ours)", max_abs(flip_frame(ours_r), rel_matrix), 0.0),
    ]

    ours_rot = rotate_equirect_released(rgb, ours_r)
    rows.append(Row("rotation", "EquirecRotate, bilinear (RGB)", max_abs(ours_rot, rel_rot), 1e-5))
    disp = 0.2 + rgb[:, :1]
    rows.append(Row("rotation", "EquirecRotate, nearest (disparity)",
                    max_abs(rotate_equirect_released(disp, ours_r, "nearest"), prob.rotate(disp, rot_vec, mode="nearest")),
                    0.0))
    identity = prob.rotate(rgb, torch.zeros(3))
    rows.append(Row("rotation", "identity rotation moves pixels (info: released vs ours)",
                    max_abs(rotate_equirect_released(rgb, torch.eye(3)[None]), identity), 1e-5))

    proj = ReleasedProjection(height // 2)
    order = list(RELEASED_TO_OURS)

    def rel_faces(x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        out = prob.BiFuse_E2C(x, mode)
        return out.reshape(x.shape[0], 6, *out.shape[1:])[:, order]

    for mode, tol in (("bilinear", 1e-5), ("nearest", 0.0)):
        rows.append(Row("projection", f"Equirec2Cube, {mode}", max_abs(proj.project(rel_rot, mode=mode), rel_faces(rel_rot, mode)), tol))
    rel_sky = rel_faces(prob.rotate(mask.float(), rot_vec)).floor() == 1
    ours_sky = proj.project(rotate_equirect_released(rgb, ours_r), mask=rotate_equirect_released(mask.float(), ours_r))[1]
    rows.append(Row("projection", "sky mask, rotated + projected (pixels differing)",
                    float((ours_sky != rel_sky).sum()), 0.0, "count"))
    return rows
