"""A fake release: our randomly initialised students saved as the authors' train.py saves them,
in the folder layout of the release's checkpoints/README.md (nothing of theirs is used)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from repro.models import build_student

#: checkpoints/README.md of albert100121/Depth-Anywhere, verbatim (EGFormer's files carry HoHoNet's names there)
README_LAYOUT: dict[str, tuple[str, dict]] = {
    "UniFuse/UniFuse.pth": ("unifuse", {}),
    "UniFuse/UniFuse_st3d.pth": ("unifuse", {}),
    "UniFuse/UniFuse_SpatialAudioGen.pth": ("unifuse", {}),
    "BiFuseV2/BiFuseV2.pth": ("bifusepp", {}),
    "BiFuseV2/BiFuseV2_st3d.pth": ("bifusepp", {}),
    "BiFuseV2/BiFuseV2_SpatialAudioGen.pth": ("bifusepp", {}),
    "EGFormer/HoHoNet.pth": ("egformer", {}),
    "EGFormer/HoHoNet_st3d.pth": ("egformer", {}),
    "HoHoNet/HoHoNet.pth": ("hohonet", {"input_norm": "double"}),
    "HoHoNet/HoHoNet_st3d.pth": ("hohonet", {"input_norm": "double"}),
}
EXTRA_KEYS = {"extra_head.weight": torch.zeros(2, 2), "extra_head.bias": torch.zeros(2)}


def save_like_train_py(model: torch.nn.Module, path: Path, **settings: object) -> None:
    """What the released utils/model.py save_model writes: model and optimizer state, argparse settings."""
    optim = torch.optim.Adam(model.parameters(), lr=1e-4)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "settings": argparse.Namespace(**settings)}, path)


def write_release(root: Path, size: tuple[int, int], *, files: dict | None = None, extra_keys: dict | None = None) -> Path:
    """Every file of the release (or ``files``) under ``root``; ``extra_keys`` added to EGFormer's."""
    models: dict[tuple[str, tuple], torch.nn.Module] = {}
    for i, (rel, (name, options)) in enumerate((files or README_LAYOUT).items()):
        torch.manual_seed(i)
        model = build_student(name, height=size[0], width=size[1], **options)
        if name == "egformer" and extra_keys:
            state = {**model.state_dict(), **extra_keys}
            model = _Holder(state)
        save_like_train_py(model, root / rel, h=size[0], w=size[1], model_name=Path(rel).parent.name)
        models[(rel, tuple(options.items()))] = model
    return root


class _Holder(torch.nn.Module):
    """A module whose state_dict is a given mapping (to save a file with extra keys)."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self._state = state

    def state_dict(self, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return dict(self._state)

    def parameters(self, recurse: bool = True):  # type: ignore[no-untyped-def]
        return iter([torch.nn.Parameter(torch.zeros(1))])
