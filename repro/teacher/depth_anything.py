"""Depth Anything (V1/V2, ViT-S/B/L) through ``transformers``: the frozen perspective teacher.

The paper's teacher is Depth Anything V1 ViT-L. Faces are resized to 518 (a multiple of the
ViT's 14-pixel patch), ImageNet-normalised from the *un-jittered* RGB, and run in chunks of at
most ``chunk_size`` faces (the released code splits batches of more than 9 faces, for memory).
The predicted relative disparity is resized back to the face size and min–max normalised to
[0, 1] per face, as the released training code does.

The network is the original Depth Anything's at every input size, not only at 518×518:

* ``pos_embed="original"`` resizes DINOv2's position embeddings as the original DINOv2 does
  (:mod:`repro.teacher.pos_embed`); ``"transformers"`` keeps Hugging Face's exact-size resize.
* The original ends with a bilinear (``align_corners=True``) resize to the input size and a ReLU;
  :meth:`DepthAnythingTeacher.network` applies the same step, a no-op whenever the input sides
  are multiples of 14 (which the original requires, and which :func:`teacher_input_size` gives).

Resizes are named for what they do (:data:`RESIZE_MODES`): ``nearest``; ``bilinear`` (plain, no
antialiasing: Depth Anything's own inference resizes its output back this way); and
``bilinear_antialias`` (torchvision's ``resize`` of a tensor, which the released Depth Anywhere
``train.py`` applies to the faces before the teacher). ``output_resize`` defaults to
``bilinear``; the released training uses ``nearest`` (518 → 256), see docs/paper_vs_code.md.

``precision`` is ``fp32`` (the released code and Depth Anything's inference), ``bf16`` (autocast,
on any device) or ``bf16_weights`` (the frozen weights themselves cast to bf16, so no fp32 copy is
held, under the same autocast); the measured price of each is in docs/teacher.md. The cheapest
faithful form for a GPU: ``bf16_weights``, ``attention="sdpa"`` (the default), ``channels_last``
(the DPT head's convolutions), ``compile`` (``torch.compile`` of the network) and a ``chunk_size``
holding all 6 faces × the unlabeled batch in one call where memory allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from repro.choices import DEFAULT_TEACHER as DEFAULT_ID
from repro.choices import TeacherAttention as Attention
from repro.choices import TeacherPrecision as Precision
from repro.choices import values
from repro.geometry.disparity import normalize_01
from repro.revisions import resolve_revision
from repro.teacher.hub import load_pretrained, resolve_id
from repro.teacher.pos_embed import PosEmbed, use_pos_embed

ResizeMode = Literal["nearest", "bilinear", "bilinear_antialias", "bicubic", "area"]
RESIZE_MODES: tuple[str, ...] = values(ResizeMode)
PRECISIONS: tuple[str, ...] = values(Precision)
ATTENTIONS: tuple[str, ...] = values(Attention)

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


def resize(x: torch.Tensor, size: tuple[int, int], mode: ResizeMode) -> torch.Tensor:
    """``x`` (N,C,h,w) to ``size`` the ``mode`` way (half-pixel centres; antialiasing only where named)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "bilinear_antialias":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(x, size=size, mode=mode, align_corners=False)
    if mode in ("nearest", "area"):
        return F.interpolate(x, size=size, mode=mode)
    raise ValueError(f"resize mode must be one of {', '.join(RESIZE_MODES)}, got {mode!r}")


def original_final_resize(disp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The original network's last step: bilinear (``align_corners=True``) to the input size, then ReLU.

    At the same size this is the identity (every output pixel samples one input pixel with weight 1)
    and the head's own ReLU makes the second one idempotent, so it changes nothing at multiples of 14.
    """
    return F.relu(F.interpolate(disp, size=size, mode="bilinear", align_corners=True))


def cached_revision(model_id: str, revision: str | None = None, cache_dir: str | Path | None = None) -> str | None:
    """The commit of ``model_id`` that ``from_pretrained`` reads from the Hugging Face cache (None if not cached).

    Local folders and random initialisations have no revision.
    """
    if Path(model_id).expanduser().is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        path = try_to_load_from_cache(model_id, "config.json", cache_dir=cache_dir, revision=revision)
    except ValueError:  # not a repo id
        return None
    return Path(path).parent.name if isinstance(path, str) else None


def teacher_input_size(height: int, width: int, input_size: int) -> tuple[int, int]:
    """Depth Anything's own input sizing: shorter side -> ``input_size``, both sides multiples of 14.

    Square faces become ``input_size``²; a 512×1024 panorama becomes 518×1036.
    """
    scale = input_size / min(height, width)

    def fit(n: int) -> int:
        return max(PATCH, round(n * scale / PATCH) * PATCH)

    return fit(height), fit(width)


def _set_attention(model: nn.Module, attention: Attention) -> None:
    """Pick the ViT's attention kernel; transformers' DINOv2 reads it from its config at every call."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = attention


class DepthAnythingTeacher(nn.Module):
    """Frozen Depth Anything: faces in [0, 1] -> disparity per face, min–max normalised to [0, 1].

    ``predict_faces`` is the teacher contract shared with :class:`repro.teacher.OracleTeacher`;
    :meth:`provenance` is what every result records about it.
    """

    is_stand_in = False

    def __init__(
        self,
        model: nn.Module,
        *,
        input_size: int = 518,
        chunk_size: int = 12,
        input_resize: ResizeMode = "bilinear_antialias",
        output_resize: ResizeMode = "bilinear",
        precision: Precision = "fp32",
        pos_embed: PosEmbed = "original",
        name: str = "depth-anything",
        revision: str | None = None,
        weights: str = "pretrained",
        attention: Attention = "sdpa",
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        if input_size % PATCH:
            raise ValueError(f"input_size must be a multiple of {PATCH}, got {input_size}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        for what, value, allowed in (
            ("input_resize", input_resize, RESIZE_MODES),
            ("output_resize", output_resize, RESIZE_MODES),
            ("precision", precision, PRECISIONS),
            ("attention", attention, ATTENTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
        self.model = model.eval()
        self.model.requires_grad_(False)
        if precision == "bf16_weights":
            self.model.to(torch.bfloat16)  # frozen: no fp32 master copy is needed
        if channels_last:
            self.model.to(memory_format=torch.channels_last)  # 4-D (conv) weights only
        _set_attention(self.model, attention)
        self.attention: Attention = attention
        self.channels_last = channels_last
        self.compiled = compile  # not `compile`: that would hide nn.Module.compile
        if compile:
            self.model.compile()  # in place: the network stays registered once (no second copy in state_dict)
        use_pos_embed(model, pos_embed)
        self.pos_embed: PosEmbed = pos_embed
        self.input_size = input_size
        self.chunk_size = chunk_size
        self.input_resize: ResizeMode = input_resize
        self.output_resize: ResizeMode = output_resize
        self.precision: Precision = precision
        self.name = name
        self.revision = revision
        self.weights = weights
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
        """Load a released checkpoint (or, with ``random_init``, the same architecture untrained).

        ``revision`` pins a commit / tag of the Hugging Face repository; the commit actually read
        is recorded either way.
        """
        from transformers import DepthAnythingForDepthEstimation

        model_id = resolve_id(name_or_id)
        if random_init:
            model = DepthAnythingForDepthEstimation(depth_anything_config(model_id))
            return cls(model, name=model_id, revision=None, weights="random_init", **opts)
        local = Path(model_id).expanduser().is_dir()
        rev = None if local else resolve_revision(model_id, revision)  # the pin unless one is given
        model = load_pretrained(DepthAnythingForDepthEstimation, model_id, cache_dir=cache_dir, revision=rev)
        used = None if local else (cached_revision(model_id, rev, cache_dir) or rev)
        return cls(model, name=model_id, revision=used, weights="local" if local else "pretrained", **opts)

    def train(self, mode: bool = True) -> DepthAnythingTeacher:
        """The teacher stays in eval mode whatever its owner does (frozen BatchNorm/dropout)."""
        super().train(False)
        return self

    def _autocast(self, device: torch.device):
        """bf16 autocast, or none at all (also inside a caller's autocast region) for fp32."""
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.precision != "fp32")

    @torch.no_grad()
    def network(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalised images (N,3,H,W), sides multiples of 14 -> the network's disparity (N,1,H,W).

        The original Depth Anything's forward on the same weights, end step included.
        """
        h, w = x.shape[-2:]
        if h % PATCH or w % PATCH:
            raise ValueError(f"Depth Anything needs sides that are multiples of {PATCH}, got {h}×{w}")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast(x.device):
            disp = self.model(pixel_values=x).predicted_depth
        return original_final_resize(disp.float().unsqueeze(1), (h, w))

    @torch.no_grad()
    def raw_disparity(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N,3,h,w) in [0, 1] -> the network's relative disparity (N,1,h,w), unnormalised."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images shaped (N,3,h,w), got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        size = teacher_input_size(h, w, self.input_size)
        outs = []
        for chunk in images.split(self.chunk_size):
            x = resize(chunk.float(), size, self.input_resize)
            outs.append(resize(self.network((x - self.mean) / self.std), (h, w), self.output_resize))
        return torch.cat(outs) if outs else images.new_zeros(0, 1, h, w)

    def predict_faces(self, faces: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """Faces (N,3,h,w) in [0, 1] -> disparity (N,1,h,w) min–max normalised per face. ``depth`` is unused."""
        return normalize_01(self.raw_disparity(faces))

    def provenance(self) -> dict[str, Any]:
        """The teacher as a result records it: which weights, at which commit, run how."""
        return {
            "id": self.name,
            "revision": self.revision,
            "weights": self.weights,
            "precision": self.precision,
            "input_size": self.input_size,
            "input_resize": self.input_resize,
            "output_resize": self.output_resize,
            "pos_embed": self.pos_embed,
            "attention": self.attention,
            "chunk_size": self.chunk_size,
            "channels_last": self.channels_last,
            "compile": self.compiled,
            "stand_in": False,
        }

    def describe(self) -> str:
        rev = f"@{self.revision[:12]}" if self.revision else ""
        return (
            f"Depth Anything teacher {self.name}{rev} ({self.weights}, {self.precision}, input {self.input_size}, "
            f"output resize {self.output_resize}, position embeddings {self.pos_embed})"
        )
