"""Original-layout Depth Anything weights -> our Hugging Face teacher.

The original checkpoints (``depth_anything_vit{s,b,l}14.pth`` of LiheYoung/Depth-Anything) name
their layers ``pretrained.*`` (the DINOv2 ViT) and ``depth_head.*`` (the DPT head). Hugging Face
published its checkpoints through ``transformers``' conversion script for Depth Anything; these
are the same renaming rules, stated once as patterns (not the script's code):

* ``pretrained.blocks.N.attn.qkv`` is split row-wise into query, key, value (in that order);
* ``ls1/ls2.gamma`` -> ``layer_scale1/2.lambda1``, ``attn.proj`` -> ``attention.output.dense``,
  ``pretrained.norm`` -> ``backbone.layernorm``;
* ``depth_head.projects.i`` / ``resize_layers.i`` -> ``neck.reassemble_stage.layers.i.projection`` / ``.resize``;
* ``scratch.layerK_rn`` -> ``neck.convs.K-1``; ``scratch.refinenetK`` -> ``neck.fusion_stage.layers.4-K``
  (the original counts the fusion blocks from the finest map, Hugging Face from the coarsest),
  ``resConfUnitA.convB`` -> ``residual_layerA.convolutionB``, ``out_conv`` -> ``projection``;
* ``scratch.output_conv1`` / ``output_conv2.0`` / ``output_conv2.2`` -> ``head.conv1/2/3``.

:func:`convert_original_state_dict` applies them; every key must match one rule, so a checkpoint
of another layout fails loudly rather than loading half its weights.
"""

from __future__ import annotations

import pickle
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from repro.errors import UserError

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _rule(pattern: str, target: str | Callable[[re.Match[str]], str]) -> _Rule:
    compiled = re.compile(pattern + r"$")
    return compiled, (target if callable(target) else (lambda m, t=target: m.expand(t)))


_BLOCK = r"pretrained\.blocks\.(\d+)\."
_LAYER = r"backbone.encoder.layer.\1."
_RULES: tuple[_Rule, ...] = (
    _rule(r"pretrained\.(cls_token|mask_token)", r"backbone.embeddings.\1"),
    _rule(r"pretrained\.pos_embed", "backbone.embeddings.position_embeddings"),
    _rule(r"pretrained\.patch_embed\.proj\.(weight|bias)", r"backbone.embeddings.patch_embeddings.projection.\1"),
    _rule(_BLOCK + r"ls([12])\.gamma", _LAYER + r"layer_scale\2.lambda1"),
    _rule(_BLOCK + r"(norm[12]|mlp\.fc[12])\.(weight|bias)", _LAYER + r"\2.\3"),
    _rule(_BLOCK + r"attn\.proj\.(weight|bias)", _LAYER + r"attention.output.dense.\2"),
    _rule(r"pretrained\.norm\.(weight|bias)", r"backbone.layernorm.\1"),
    _rule(r"depth_head\.projects\.(\d)\.(weight|bias)", r"neck.reassemble_stage.layers.\1.projection.\2"),
    _rule(r"depth_head\.resize_layers\.(\d)\.(weight|bias)", r"neck.reassemble_stage.layers.\1.resize.\2"),
    _rule(r"depth_head\.scratch\.layer(\d)_rn\.weight", lambda m: f"neck.convs.{int(m[1]) - 1}.weight"),
    _rule(
        r"depth_head\.scratch\.refinenet(\d)\.out_conv\.(weight|bias)",
        lambda m: f"neck.fusion_stage.layers.{4 - int(m[1])}.projection.{m[2]}",
    ),
    _rule(
        r"depth_head\.scratch\.refinenet(\d)\.resConfUnit(\d)\.conv(\d)\.(weight|bias)",
        lambda m: f"neck.fusion_stage.layers.{4 - int(m[1])}.residual_layer{m[2]}.convolution{m[3]}.{m[4]}",
    ),
    _rule(r"depth_head\.scratch\.output_conv1\.(weight|bias)", r"head.conv1.\1"),
    _rule(r"depth_head\.scratch\.output_conv2\.0\.(weight|bias)", r"head.conv2.\1"),
    _rule(r"depth_head\.scratch\.output_conv2\.2\.(weight|bias)", r"head.conv3.\1"),
)
_QKV = re.compile(_BLOCK + r"attn\.qkv\.(weight|bias)$")


def convert_original_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An original-layout state dict (``pretrained.*``, ``depth_head.*``) in Hugging Face names."""
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        qkv = _QKV.match(key)
        if qkv:
            layer, kind = qkv[1], qkv[2]
            if value.shape[0] % 3:
                raise ValueError(f"{key}: {tuple(value.shape)} does not split into query, key and value")
            for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0), strict=True):
                out[f"backbone.encoder.layer.{layer}.attention.attention.{name}.{kind}"] = part.clone()
            continue
        for pattern, target in _RULES:
            m = pattern.match(key)
            if m:
                out[target(m)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else "")
        raise ValueError(f"not an original Depth Anything layout: no rule for {shown}")
    return out


def load_original_weights(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor]) -> nn.Module:
    """Load an original checkpoint (a ``.pth`` path or its state dict) into a Hugging Face Depth Anything.

    The converted weights take the road of a published checkpoint: written in the published layout
    and read back with ``from_pretrained``, so the installed ``transformers`` applies its own renaming
    of that layout (version 5 renamed the attention projections). Strict: a weight of ``model`` not
    given, or a given weight not used, is an error.
    """
    from safetensors.torch import save_file

    if isinstance(source, Mapping):
        state, where = source, "the state dict"
    else:
        where = str(source)
        try:
            state = torch.load(Path(source), map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise UserError(f"{where}: cannot read an original Depth Anything checkpoint ({exc})") from exc
    try:
        converted = convert_original_state_dict(state)
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from exc
    with tempfile.TemporaryDirectory() as tmp:
        model.config.save_pretrained(tmp)
        save_file({k: v.detach().contiguous() for k, v in converted.items()}, str(Path(tmp) / "model.safetensors"))
        loaded, info = type(model).from_pretrained(tmp, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        detail = "; ".join(f"{k}: {', '.join(map(str, sorted(v)[:5]))}" for k, v in problems.items())
        raise UserError(f"{where}: does not fit this Depth Anything architecture ({detail})")
    model.load_state_dict(loaded.state_dict(), strict=True)
    return model
