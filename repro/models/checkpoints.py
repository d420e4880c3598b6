"""Every student checkpoint format, in and out: ours (training state and finished model) and the released ones.

Ours (``FORMAT``): ``<out>/checkpoints/last.pt`` holds the model, optimizer and scheduler state, the
RNG states (:mod:`repro.train.rng`), the data position and the resolved settings — everything a
bit-identical resume needs; ``final.pt`` the finished model with the metadata that rebuilds its
network (:func:`build_student_from_meta`). Everything is tensors or primitive containers, written
atomically (:mod:`repro.atomic`): a crash leaves the previous checkpoint intact.

Released layouts, all read with ``torch.load(..., weights_only=True)``:

* a raw ``state_dict`` (BiFuse++, HoHoNet, EGformer and Depth Anywhere's released weights);
* UniFuse's ``model.pth``: a ``state_dict`` with extra non-tensor entries (``layers``, ``height``,
  ``width``, ``dataset``, ``net``, ``fusion``, ``se_in_fusion``), reported as ``extras``;
* a container ``{'model': state_dict, 'optim': ..., 'settings': argparse.Namespace}`` (Depth
  Anywhere's training checkpoints), or ``{'state_dict': ...}`` / ``{'model_state_dict': ...}``;
* any of these with every key under ``module.`` (DataParallel/DDP) or ``model.`` (Lightning).

Keys a model declares as derived (:attr:`Student.derived_state_patterns`, e.g. BiFuse++'s
projection tables saved under five prefixes) are dropped and reported as ``derived``; the model
recomputes them. Anything else that does not match is reported key by key: with ``strict=True``
a mismatch raises :class:`CheckpointError`, otherwise the matching tensors are loaded and the
report says what was left out. Missing ``num_batches_tracked`` counters (checkpoints from
PyTorch < 0.4.1) are tolerated and listed as ``defaulted``.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from repro.atomic import write_bytes
from repro.errors import UserError

FORMAT = "repro-train-v1"
LAST, FINAL = "last.pt", "final.pt"
DEFAULT_SIZE = (512, 1024)  # the published input size of every student
CONTAINER_KEYS = ("model", "state_dict", "model_state_dict")
PREFIXES = ("module.", "model.module.", "model.")


class CheckpointError(UserError):
    """A checkpoint that cannot be read, or does not fit the model."""


@dataclass
class LoadReport:
    path: str
    layout: str
    prefix: str | None = None
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 10) -> str:
        def keys(items: list) -> str:
            shown = ", ".join(str(i) for i in items[:limit])
            return shown + (f", … (+{len(items) - limit})" if len(items) > limit else "")

        lines = [f"{self.path}: {self.layout}, {len(self.loaded)} tensors match the model"]
        if self.prefix:
            lines.append(f"  stripped prefix {self.prefix!r}")
        for name in ("missing", "unexpected", "mismatched", "derived", "defaulted"):
            items = getattr(self, name)
            if items:
                lines.append(f"  {name} ({len(items)}): {keys(items)}")
        if self.extras:
            lines.append(f"  extras: {keys([f'{k}={v!r}' for k, v in self.extras.items()])}")
        return "\n".join(lines)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str, dict[str, Any]]:
    """(state_dict, layout description, non-tensor extras) of a checkpoint file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        # Depth Anywhere stores its argparse settings next to the weights; allow just that class.
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: not loadable as weights only (refusing to unpickle code): {exc}") from None
    except Exception as exc:  # a truncated or foreign file fails inside the unpickler in many ways (KeyError …)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: {exc}") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")

    layout, extras = "state_dict", {}
    for key in CONTAINER_KEYS:
        if isinstance(obj.get(key), Mapping):
            extras = {k: _describe(v) for k, v in obj.items() if k != key}
            layout, obj = f"container[{key!r}]", obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    others = {k: v for k, v in obj.items() if not isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: no tensors found ({layout})")
    if others:
        layout += " with non-tensor entries"
        extras.update({k: _describe(v) for k, v in others.items()})
    return tensors, layout, extras


def _describe(value: Any) -> Any:
    """Small metadata verbatim; large or opaque objects (optimizer state, settings) by type only."""
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)) and len(value) <= 16:
        items = [_describe(v) for v in value]
        if all(not isinstance(i, str) or not i.startswith("<") for i in items):
            return items
    if isinstance(value, Mapping) and len(value) <= 64:
        items = {str(k): _describe(v) for k, v in value.items()}
        if all(not isinstance(i, str) or not i.startswith("<") for i in items.values()):
            return items
    return f"<{type(value).__name__}>"


def _strip_prefix(state: dict[str, torch.Tensor], expected: set[str]) -> tuple[dict[str, torch.Tensor], str | None]:
    if set(state) & expected:
        return state, None
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix) :]: v for k, v in state.items()}
            if set(stripped) & expected:
                return stripped, prefix
    return state, None


def load_checkpoint(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Load ``path`` into ``model`` and return what happened, key by key.

    ``strict=True`` raises :class:`CheckpointError` (listing the keys) unless every parameter and
    buffer of the model is filled and nothing in the checkpoint is left over.
    """
    state, layout, extras = read_checkpoint(path)
    own = model.state_dict()
    state, prefix = _strip_prefix(state, set(own))
    report = LoadReport(path=str(path), layout=layout, prefix=prefix, extras=extras)

    patterns = [re.compile(p) for p in getattr(model, "derived_state_patterns", ())]
    usable: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if any(p.fullmatch(key) for p in patterns):
            report.derived.append(key)
        elif key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
    mismatched = {m[0] for m in report.mismatched}
    for key in own:
        if key not in usable and key not in mismatched:
            (report.defaulted if key.endswith("num_batches_tracked") else report.missing).append(key)

    report.loaded = sorted(usable)
    if strict and not report.complete:
        hint = _size_hint(model, extras)
        raise CheckpointError(
            f"checkpoint does not match {type(model).__name__} (nothing loaded):\n{report.summary()}{hint}"
        )
    model.load_state_dict(usable, strict=False)
    return report


def _size_hint(model: nn.Module, extras: dict[str, Any]) -> str:
    size = getattr(model, "input_size", None)
    saved = (extras.get("height"), extras.get("width"))
    if size and None not in saved and tuple(saved) != tuple(size):
        return f"\n  hint: the checkpoint was trained at {saved[0]}×{saved[1]}, the model built for {size[0]}×{size[1]}"
    return ""


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``{'model': state_dict, 'metadata': ...}`` atomically (a plain, released-style layout)."""
    return save_state({"model": model.state_dict(), "metadata": dict(metadata or {})}, path)


# --------------------------------------------------------------------------- our format


class NotOurFormat(CheckpointError):
    """A readable file that is not one of ours (maybe a released checkpoint)."""


def save_state(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to memory, then an atomic write (temp file, fsync, rename over ``path``)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes(path, buffer.getbuffer())


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one of our checkpoints (weights only; CPU tensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError, EOFError, KeyError on a corrupt file …
        # released checkpoints may need allow-listed classes: read_checkpoint decides about those
        raise NotOurFormat(f"{path}: not a readable weights-only checkpoint ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise NotOurFormat(f"{path}: not a repro training checkpoint (no format '{FORMAT}')")
    return obj


def model_payload(state_dict: dict[str, torch.Tensor], student: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """What ``final.pt`` holds: the weights and how to rebuild the network around them."""
    return {"format": FORMAT, "kind": "model", "model": state_dict, "student": student, **meta}


def build_student_from_meta(meta: Mapping[str, Any], pretrained: bool = False) -> nn.Module:
    """The network a checkpoint's ``student`` metadata describes (untrained, or with ImageNet backbones)."""
    from repro.models.registry import build_student

    h, w = meta["input_size"]
    return build_student(
        meta["name"], height=int(h), width=int(w), pretrained=pretrained, metric=bool(meta["metric"]), **meta["options"]
    )


def released_meta(name: str, options: Mapping[str, Any], input_size: tuple[int, int]) -> dict[str, Any]:
    """The description :func:`build_student_from_meta` rebuilds a released network from (a released
    file does not describe its network; ``metric: true`` in the options marks a depth output)."""
    options = dict(options)
    metric = bool(options.pop("metric", False))
    return {
        "name": name,
        "options": options,
        "input_size": [int(input_size[0]), int(input_size[1])],
        "metric": metric,
        "output_kind": "depth" if metric else "disparity",
    }


def _load_ours(model: nn.Module, state: Mapping[str, Any], path: Path) -> None:
    """Our checkpoint's weights into ``model``, refusing another network or input size by name."""
    saved = state.get("student") or {}
    name = getattr(model, "name", None)
    if saved.get("name") and name and saved["name"] != name:
        raise CheckpointError(f"{path} holds a {saved['name']} student, not {name}")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:  # missing/unexpected keys, shape mismatches
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{path} does not fit this {name or 'model'}: {' '.join(first[:2])[:300]}") from None


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Initial weights for ``model``: one of our checkpoints, or a released one (strict key match)."""
    try:
        state = load_state(path)
    except NotOurFormat:
        load_checkpoint(model, path, strict=True)
        return
    _load_ours(model, state, Path(path))


def load_student(
    checkpoint: str | os.PathLike[str], student: Any = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """A trained student in eval mode and its description (name, options, input size, output kind).

    Our checkpoints describe their network; released ones need ``student``: a name, or a spec with
    ``name`` and ``options`` (their input size is the published 512×1024 unless the options say
    otherwise, e.g. ``height``/``width``; ``metric: true`` for a depth-output network).
    """
    path = Path(checkpoint)
    try:
        state = load_state(path)
    except NotOurFormat:
        state = None
    if state is not None:
        meta = {**state["student"], "trained_with_teacher": state.get("teacher")}
        asked = student if isinstance(student, str) or student is None else student.name
        if asked is not None and asked != meta.get("name"):
            # our checkpoints name their network: a different --student is a mistake, not an override
            raise CheckpointError(f"{path} holds a {meta.get('name')} student, but --student says {asked}")
        model = build_student_from_meta(meta)
        _load_ours(model, state, path)
        return model.to(device).eval(), meta
    if student is None:
        raise CheckpointError(f"{path} is not a repro checkpoint: say which network it holds (--student NAME)")
    name, options = (student, {}) if isinstance(student, str) else (student.name, dict(student.options))
    size = (options.pop("height", DEFAULT_SIZE[0]), options.pop("width", DEFAULT_SIZE[1]))
    meta = released_meta(name, options, size)
    model = build_student_from_meta(meta)
    load_checkpoint(model, path, strict=True)
    return model.to(device).eval(), meta
