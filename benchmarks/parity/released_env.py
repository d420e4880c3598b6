"""Import the released Depth Anywhere code (``RELEASED_SRC``) on a CPU, with the fewest shims.

Nothing of the released code is copied here: its files are imported from the user's checkout.
The shims only make it importable and runnable without a GPU or network, and live in this
harness, never in the ``repro`` package:

* ``.cuda()`` on tensors and modules is a no-op (the released ``train.py: rotate`` and EGformer's
  sampling patterns call it unconditionally);
* torchvision backbones are built without ImageNet weights (BiFuse++ and HoHoNet download them at
  construction; the parity checks copy weights across, so their values do not matter);
* modules the checked functions never call are stubbed when missing: ``cv2`` (only
  ``cv2.Rodrigues`` is called, by ``Equirec2Cube``: provided through ``scipy``), ``imageio``,
  ``pytorch3d`` (only ``euler_angles_to_matrix`` is called: the same float32 arithmetic as
  pytorch3d, checked against ``scipy`` in the parity table), ``tensorboard``, ``sklearn`` and ``shapely`` (HoHoNet's layout post-processing), ``timm`` and
  ``einops`` when missing (EGformer imports them at construction: its row needs the real packages,
  the ``parity`` extra, which ``make install`` installs).

Real packages win: if ``cv2`` or ``pytorch3d`` is installed it is used as is.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

ENV_VAR = "RELEASED_SRC"
EXPECTED_FILES = ("train.py", "utils/Projection/Equirec2Cube.py", "utils/metric.py")


class ReleasedSourceMissing(RuntimeError):
    """``RELEASED_SRC`` is not set or does not point at a checkout of the released code."""


def released_src(path: str | os.PathLike[str] | None = None) -> Path:
    """The checkout of albert100121/Depth-Anywhere to test against (argument or ``RELEASED_SRC``)."""
    raw = path if path is not None else os.environ.get(ENV_VAR)
    if not raw:
        raise ReleasedSourceMissing(
            f"{ENV_VAR} is not set: point it at a checkout of github.com/albert100121/Depth-Anywhere"
        )
    root = Path(raw).expanduser().resolve()
    missing = [f for f in EXPECTED_FILES if not (root / f).is_file()]
    if missing:
        raise ReleasedSourceMissing(f"{ENV_VAR}={root} is not a Depth-Anywhere checkout (missing {', '.join(missing)})")
    return root


def _rodrigues(vec: Any) -> tuple[np.ndarray, None]:
    """cv2.Rodrigues(rvec) -> (R, jacobian): computed in float64, returned in the input's dtype."""
    from scipy.spatial.transform import Rotation

    arr = np.asarray(vec)
    mat = Rotation.from_rotvec(arr.reshape(3).astype(np.float64)).as_matrix()
    return mat.astype(arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64), None


def _euler_angles_to_matrix(angles: torch.Tensor, convention: str) -> torch.Tensor:
    """pytorch3d's ``euler_angles_to_matrix``: ``R = R_a0 @ R_a1 @ R_a2`` in the input's dtype.

    As pytorch3d computes it (per-axis matrices from ``torch.cos``/``torch.sin``, multiplied left to
    right), so float32 draws round alike; :func:`scipy_euler` checks the convention independently.
    """
    if len(convention) != 3:
        raise ValueError(f"invalid convention {convention!r}")
    mats = []
    for axis, angle in zip(convention.upper(), torch.unbind(angles, -1), strict=True):
        c, s, one, zero = torch.cos(angle), torch.sin(angle), torch.ones_like(angle), torch.zeros_like(angle)
        flat = {
            "X": (one, zero, zero, zero, c, -s, zero, s, c),
            "Y": (c, zero, s, zero, one, zero, -s, zero, c),
            "Z": (c, -s, zero, s, c, zero, zero, zero, one),
        }[axis]
        mats.append(torch.stack(flat, -1).reshape(angle.shape + (3, 3)))
    return mats[0] @ mats[1] @ mats[2]


def scipy_euler(angles: torch.Tensor, convention: str = "XYZ") -> torch.Tensor:
    """Intrinsic Euler angles (radians) -> matrices in float64, by scipy: an independent reference."""
    from scipy.spatial.transform import Rotation

    flat = angles.detach().reshape(-1, 3).double().cpu().numpy()
    return torch.from_numpy(Rotation.from_euler(convention.upper(), flat).as_matrix())


def _stub(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    mod.__path__ = []  # type: ignore[attr-defined]  # importable as a package
    return mod


def _missing(name: str) -> bool:
    try:
        importlib.import_module(name)
        return False
    except ImportError:
        return True


#: Imported at module level by the released package but unused on the checked paths (HoHoNet's
#: layout post-processing, dataset readers).
_UNUSED: dict[str, tuple[str, ...]] = {
    "sklearn": ("linear_model", "decomposition"),
    "shapely": ("geometry",),
    "timm": ("data", "models", "models.layers", "models.helpers", "models.registry"),  # EGformer's layers (stubbed only when timm is missing)
    "einops": ("layers", "layers.torch"),
}


def _unused(*args: Any, **kwargs: Any) -> Any:
    """Any name of a stubbed module: a decorator passes its function through, anything else fails loudly."""
    if len(args) == 1 and not kwargs and callable(args[0]):
        return args[0]
    raise RuntimeError("called a module the parity harness stubs out (install the real package to use it)")


def _any_name(attr: str) -> Any:
    if attr.startswith("__"):  # inspect and importlib probe dunders: those must stay missing
        raise AttributeError(attr)
    return _unused


def _stubs() -> dict[str, types.ModuleType]:
    out: dict[str, types.ModuleType] = {}
    if _missing("cv2"):
        out["cv2"] = _stub("cv2", Rodrigues=_rodrigues, INTER_CUBIC=2, INTER_NEAREST=0, COLOR_BGR2RGB=4)
    if _missing("imageio"):
        out["imageio"] = _stub("imageio", imread=None)
    if _missing("pytorch3d"):
        conv = _stub("pytorch3d.transforms.rotation_conversions", euler_angles_to_matrix=_euler_angles_to_matrix)
        out["pytorch3d"] = _stub("pytorch3d")
        out["pytorch3d.transforms"] = _stub("pytorch3d.transforms", rotation_conversions=conv,
                                            euler_angles_to_matrix=_euler_angles_to_matrix)
        out["pytorch3d.transforms.rotation_conversions"] = conv
    for top, submodules in _UNUSED.items():
        if _missing(top):  # imported but never called by the checked functions: any name is None
            for name in (top, *(f"{top}.{sub}" for sub in submodules)):
                out[name] = _stub(name)
                out[name].__getattr__ = _any_name  # type: ignore[attr-defined]
    if _missing("torch.utils.tensorboard"):
        out["torch.utils.tensorboard"] = _stub("torch.utils.tensorboard", SummaryWriter=object)
    return out


@contextlib.contextmanager
def _no_cuda() -> Iterator[None]:
    saved = (torch.Tensor.cuda, torch.nn.Module.cuda)
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.nn.Module.cuda = saved  # type: ignore[method-assign]


@contextlib.contextmanager
def _no_pretrained_downloads() -> Iterator[None]:
    """torchvision model builders ignore ``pretrained=True`` (random init, no download)."""
    import torchvision.models as tvm

    saved = {}
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        fn = getattr(tvm, name)
        saved[name] = fn

        def build(*args: Any, _fn: Any = fn, **kwargs: Any) -> Any:
            kwargs.pop("pretrained", None)
            kwargs.pop("weights", None)
            return _fn(*args, weights=None, **kwargs)

        setattr(tvm, name, build)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(tvm, name, fn)


@contextlib.contextmanager
def released_code(path: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Make the released checkout importable (``import utils.Projection ...``) with the CPU shims.

    The released modules and the stubs are removed from ``sys.modules`` on exit, so a second
    checkout (or none) can be used afterwards in the same process.
    """
    root = released_src(path)
    stubs = _stubs()
    before = set(sys.modules)
    sys.modules.update(stubs)
    extra = [str(root), str(root / "baseline_models/HoHoNet"), str(root / "baseline_models/EGformer")]
    sys.path[:0] = extra
    cwd = os.getcwd()
    try:
        with _no_cuda(), _no_pretrained_downloads():
            yield root
    finally:
        os.chdir(cwd)
        for p in extra:
            if p in sys.path:
                sys.path.remove(p)
        for name in set(sys.modules) - before:
            mod = sys.modules.get(name)
            origin = str(getattr(mod, "__file__", "") or "")
            if name in stubs or origin.startswith(str(root)):
                del sys.modules[name]
