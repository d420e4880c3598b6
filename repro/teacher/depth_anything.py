"""Depth Anything (V1/V2, ViT-S/B/L) through ``transformers``: the frozen perspective teacher.

The paper's teacher is Depth Anything V1 ViT-L. Faces are resized to 518 (a multiple of the
ViT's 14-pixel patch), ImageNet-normalised from the *un-jittered* RGB, and run in chunks of at
most ``chunk_size`` faces (the released code splits batches of more than 9 faces, for memory).
The predicted relative disparity is resized back to the face size and min–max normalised to
[0, 1] per face, as the released training code does.

Resize back to face size (``output_resize``) is a named option: the paper does not say; the
default ``"bilinear"`` is Depth Anything's own inference (``F.interpolate(..., "bilinear")``);
``"nearest"`` is what the released Depth Anywhere ``train.py`` does (518 → 256 with
``mode='nearest'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from repro.choices import DEFAULT_TEACHER as DEFAULT_ID
from repro.choices import Precision
from repro.geometry.disparity import normalize_01
from repro.teacher.hub import load_pretrained, resolve_id

ResizeMode = Literal["nearest", "bilinear", "bicubic", "area"]

PATCH = 14  # the DINOv2 patch size; inputs must be multiples of it


# Architecture of each size (DINOv2 backbone + DPT head), as the released checkpoints' configs
# state them; used to build randomly initialised models of the real size (benchmarks, dry runs).
@dataclass(frozen=True)
class _Arch:
    hidden: int
    layers: int
    heads: int
    fusion: int
    neck: tuple[int, ...]
    out_v1: tuple[int, ...]  # backbone layers feeding the DPT head, V1 and V2 checkpoints
    out_v2: tuple[int, ...]


_ARCH: dict[str, _Arch] = {
    "small": _Arch(384, 12, 6, 64, (48, 96, 192, 384), (9, 10, 11, 12), (3, 6, 9, 12)),
    "base": _Arch(768, 12, 12, 128, (96, 192, 384, 768), (9, 10, 11, 12), (3, 6, 9, 12)),
    "large": _Arch(1024, 24, 16, 256, (256, 512, 1024, 1024), (21, 22, 23, 24), (5, 12, 18, 24)),
}


def _size_and_version(model_id: str) -> tuple[str, str]:
    low = model_id.lower()
    size = next((s for s in _ARCH if s in low), None)
    if size is None:
        raise ValueError(f"cannot tell the size (small/base/large) of Depth Anything model {model_id!r}")
    return size, ("v2" if "v2" in low else "v1")


def depth_anything_config(name_or_id: str = DEFAULT_ID):
    """A ``DepthAnythingConfig`` with the real architecture of ``name_or_id`` (no download).

    ``"tiny"`` is a toy of the same structure (2 ViT layers of width 32) for tests and CPU dry runs.
    """
    from transformers import DepthAnythingConfig, Dinov2Config

    if name_or_id == "tiny":
        backbone = Dinov2Config(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=518,
            patch_size=PATCH,
            out_indices=[1, 2],
            apply_layernorm=True,
            reshape_hidden_states=False,
        )
        return DepthAnythingConfig(
            backbone_config=backbone,
            reassemble_hidden_size=32,
            neck_hidden_sizes=[16, 32],
            reassemble_factors=[2, 1],
            fusion_hidden_size=16,
            head_hidden_size=8,
        )
    size, version = _size_and_version(resolve_id(name_or_id))
    a = _ARCH[size]
    backbone = Dinov2Config(
        hidden_size=a.hidden,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        intermediate_size=4 * a.hidden,
        image_size=518,
        patch_size=PATCH,
        out_indices=list(a.out_v2 if version == "v2" else a.out_v1),
        apply_layernorm=True,
        reshape_hidden_states=False,
    )
    return DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=a.hidden,
        neck_hidden_sizes=list(a.neck),
        fusion_hidden_size=a.fusion,
    )


def _resize(x: torch.Tensor, size: tuple[int, int], mode: ResizeMode) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    return F.interpolate(x, size=size, mode=mode)


def teacher_input_size(height: int, width: int, input_size: int) -> tuple[int, int]:
    """Depth Anything's own input sizing: shorter side -> ``input_size``, both sides multiples of 14.

    Square faces become ``input_size``²; a 512×1024 panorama becomes 518×1036.
    """
    scale = input_size / min(height, width)

    def fit(n: int) -> int:
        return max(PATCH, round(n * scale / PATCH) * PATCH)

    return fit(height), fit(width)


class DepthAnythingTeacher(nn.Module):
    """Frozen Depth Anything: faces in [0, 1] -> disparity per face, min–max normalised to [0, 1].

    ``predict_faces`` is the teacher contract shared with :class:`repro.teacher.OracleTeacher`.
    """

    is_stand_in = False

    def __init__(
        self,
        model: nn.Module,
        *,
        input_size: int = 518,
        chunk_size: int = 12,
        input_resize: ResizeMode = "bilinear",
        output_resize: ResizeMode = "bilinear",
        precision: Precision = "auto",
        name: str = "depth-anything",
    ) -> None:
        super().__init__()
        if input_size % PATCH:
            raise ValueError(f"input_size must be a multiple of {PATCH}, got {input_size}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.model = model.eval()
        self.model.requires_grad_(False)
        self.input_size = input_size
        self.chunk_size = chunk_size
        self.input_resize: ResizeMode = input_resize
        self.output_resize: ResizeMode = output_resize
        self.precision: Precision = precision
        self.name = name
        from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        self.register_buffer("mean", torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_pretrained(
        cls,
        name_or_id: str = DEFAULT_ID,
        *,
        cache_dir: str | Path | None = None,
        random_init: bool = False,
        revision: str | None = None,
        **opts: Any,
    ) -> DepthAnythingTeacher:
        """Load a released checkpoint at ``revision`` (default: the pin), or, with ``random_init``,
        the same architecture untrained."""
        from transformers import DepthAnythingForDepthEstimation

        model_id = resolve_id(name_or_id)
        if random_init:
            model = DepthAnythingForDepthEstimation(depth_anything_config(model_id))
        else:
            model = load_pretrained(DepthAnythingForDepthEstimation, model_id, cache_dir=cache_dir, revision=revision)
        return cls(model, name=model_id, **opts)

    def train(self, mode: bool = True) -> DepthAnythingTeacher:
        """The teacher stays in eval mode whatever its owner does (frozen BatchNorm/dropout)."""
        super().train(False)
        return self

    def _autocast(self, device: torch.device):
        use_bf16 = device.type == "cuda" and self.precision in ("auto", "bf16")
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16)

    @torch.no_grad()
    def raw_disparity(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N,3,h,w) in [0, 1] -> the network's relative disparity (N,1,h,w), unnormalised."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images shaped (N,3,h,w), got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        size = teacher_input_size(h, w, self.input_size)
        outs = []
        for chunk in images.split(self.chunk_size):
            x = _resize(chunk.float(), size, self.input_resize)
            x = (x - self.mean) / self.std
            with self._autocast(x.device):
                disp = self.model(pixel_values=x).predicted_depth
            outs.append(_resize(disp.float().unsqueeze(1), (h, w), self.output_resize))
        return torch.cat(outs) if outs else images.new_zeros(0, 1, h, w)

    def predict_faces(self, faces: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """Faces (N,3,h,w) in [0, 1] -> disparity (N,1,h,w) min–max normalised per face. ``depth`` is unused."""
        return normalize_01(self.raw_disparity(faces))

    def describe(self) -> str:
        return f"Depth Anything teacher {self.name} (input {self.input_size}, output resize {self.output_resize})"
