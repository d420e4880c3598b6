"""Training checkpoints: atomic, loadable with ``weights_only=True``, complete enough to resume exactly.

A checkpoint holds the model, optimizer and scheduler state, every RNG state of every rank
(Python, NumPy, torch CPU, each CUDA device, and generators owned by the run such as the oracle
teacher's), the data position (the global step: data order is a pure function of it, see
:mod:`repro.train.sampling`), the NaN-guard counters, the running epoch statistics and the
resolved settings. Everything is tensors or primitive containers, so ``torch.load`` never has to
unpickle code. Writes go to a temporary file in the same folder, are fsynced, then renamed over
the target: a crash leaves the previous checkpoint intact.

Layout of ``<out>/checkpoints/``: ``last.pt`` (rewritten every epoch and every N steps; what
``--resume`` reads) and ``final.pt`` (the finished model with the metadata evaluation needs, no
optimizer state).
"""

from __future__ import annotations

import io
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.errors import UserError
from repro.config import atomic_write_bytes

FORMAT = "repro-train-v1"
LAST, FINAL = "last.pt", "final.pt"


class CheckpointError(UserError):
    """A checkpoint that cannot be read or does not belong to this run."""


# --------------------------------------------------------------------------- RNG states


def capture_rng(extra: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """This process's RNG states as tensors and primitives."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": _to_primitive(random.getstate()),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"], dtype=np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: gen.get_state() for name, gen in (extra or {}).items()},
    }
    return state


def restore_rng(state: dict[str, Any], extra: dict[str, torch.Generator] | None = None) -> None:
    random.setstate(_from_primitive(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])
    saved = state.get("generators", {})
    for name, gen in (extra or {}).items():
        if name not in saved:
            raise CheckpointError(f"the checkpoint has no state for the generator '{name}'")
        gen.set_state(saved[name])


def _to_primitive(obj: Any) -> Any:
    """Python's ``random`` state is nested tuples of ints: keep it as lists (tuples load fine too)."""
    if isinstance(obj, tuple):
        return [_to_primitive(o) for o in obj]
    return obj


def _from_primitive(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_from_primitive(o) for o in obj)
    return obj


# --------------------------------------------------------------------------- files


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to memory, then an atomic write (temp file, fsync, rename over ``path``)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getbuffer())
    return Path(path)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one of our checkpoints (weights only; CPU tensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable weights-only checkpoint ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a repro training checkpoint (no format '{FORMAT}')")
    return obj


def model_payload(state_dict: dict[str, torch.Tensor], student: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """What ``final.pt`` holds: the weights and how to rebuild the network around them."""
    return {"format": FORMAT, "kind": "model", "model": state_dict, "student": student, **meta}
