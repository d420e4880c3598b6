"""RNG states of a training process, captured into a checkpoint and restored on resume.

Python, NumPy, torch CPU, each CUDA device, and generators owned by the run (such as the oracle
teacher's): everything as tensors or primitive containers, so ``torch.load(weights_only=True)``
reads them back without unpickling code. Together with the data position (the global step) this
is what makes a resumed run bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from repro.models.checkpoints import CheckpointError


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
