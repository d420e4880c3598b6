"""DINOv2 position embeddings at any input size, resized as the original DINOv2 resizes them.

Depth Anything (V1 and V2) runs the original DINOv2 code, which brings the 37×37 grid of learned
position embeddings to an ``h/14 × w/14`` grid with a bicubic resize given by a *scale factor*
``(n + 0.1) / 37`` per side (``interpolate_offset = 0.1``, no antialiasing). With a scale factor,
``F.interpolate`` samples the grid at ``(i + 0.5) · 37 / (n + 0.1) − 0.5``, not at the
``(i + 0.5) · 37 / n − 0.5`` of an exact-size resize, which is what Hugging Face's DINOv2 does.
The two agree only where no resize happens (square inputs of the training size, 518×518); at
224×224 or 518×1036 they differ by ~1e-3 relative in the network output.

:func:`use_pos_embed` installs the chosen resize on a Hugging Face Depth Anything model:
``"original"`` (the original DINOv2's; default of the teacher) or ``"transformers"`` (leave the
Hugging Face resize in place).
"""

from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F
from torch import nn

from repro.choices import PosEmbed, values

POS_EMBED_MODES: tuple[str, ...] = values(PosEmbed)

#: The original DINOv2's ``interpolate_offset`` (added to the target grid size "to avoid floating
#: point error in the interpolation") and ``interpolate_antialias`` (off), as Depth Anything uses them.
INTERPOLATE_OFFSET = 0.1
INTERPOLATE_ANTIALIAS = False


def resize_pos_grid(
    pos: torch.Tensor,
    grid: tuple[int, int],
    *,
    offset: float = INTERPOLATE_OFFSET,
    antialias: bool = INTERPOLATE_ANTIALIAS,
) -> torch.Tensor:
    """Position embeddings (1, 1 + S², C), class token first -> (1, 1 + gh·gw, C) for a ``grid`` of patches.

    Resized in float32 by the scale factor ``(g + offset) / S`` (bicubic), returned in ``pos``'s dtype.
    """
    n = pos.shape[1] - 1
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"position embeddings must hold a square grid plus a class token, got {n} patch positions")
    gh, gw = grid
    patches = pos[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(
        patches,
        scale_factor=((gh + offset) / side, (gw + offset) / side),
        mode="bicubic",
        align_corners=False,
        antialias=antialias,
    )
    if tuple(patches.shape[-2:]) != (gh, gw):  # the original asserts the same
        raise RuntimeError(f"position grid resized to {tuple(patches.shape[-2:])}, expected {(gh, gw)}")
    patches = patches.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)
    return torch.cat((pos[:, :1].float(), patches), dim=1).to(pos.dtype)


def _original_interpolate_pos_encoding(
    self: nn.Module, embeddings: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """Drop-in for ``Dinov2Embeddings.interpolate_pos_encoding`` (bound to one instance)."""
    pos = self.position_embeddings
    if embeddings.shape[1] == pos.shape[1] and height == width:  # the original's "no resize" case
        return pos
    patch = self.patch_size if isinstance(self.patch_size, int) else self.patch_size[0]
    return resize_pos_grid(pos, (height // patch, width // patch)).to(embeddings.dtype)


def _embeddings(model: nn.Module) -> nn.Module:
    emb = getattr(getattr(model, "backbone", None), "embeddings", None)
    if emb is None or not hasattr(emb, "position_embeddings"):
        raise TypeError(f"{type(model).__name__} has no DINOv2 backbone embeddings (model.backbone.embeddings)")
    return emb


def use_pos_embed(model: nn.Module, mode: PosEmbed) -> nn.Module:
    """Make ``model`` (a Hugging Face Depth Anything) resize its position embeddings the ``mode`` way."""
    if mode not in POS_EMBED_MODES:
        raise ValueError(f"pos_embed must be one of {', '.join(POS_EMBED_MODES)}, got {mode!r}")
    emb = _embeddings(model)
    if mode == "original":
        emb.interpolate_pos_encoding = types.MethodType(_original_interpolate_pos_encoding, emb)
    else:
        emb.__dict__.pop("interpolate_pos_encoding", None)  # back to the class's (Hugging Face) method
    return model
