"""What produced a result: code, packages, CUDA stack, GPU, container, seeds, hashes, time.

Every value is read from the running system; what cannot be read is ``None`` (with the reason
where useful), never guessed. ``code_hash`` is also the "code version" of the cell cache key.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # .../repro
PACKAGES = (
    "repro-depth-anywhere",
    "torch",
    "torchvision",
    "transformers",
    "segment-anything",
    "numpy",
    "scipy",
    "pillow",
    "pyyaml",
    "nvidia-ml-py",
    "huggingface-hub",
    "safetensors",
)
# Modules that cannot change a number a cell produces (reporting, CLI, launcher): editing them
# must not invalidate 200-epoch results. Everything else in the package is hashed.
_NOT_RESULT_CODE = ("suite/", "cli.py", "__main__.py", "docker.py", "demo.py")


@cache
def code_hash() -> str:
    """Hash of the package source that can influence results (see ``_NOT_RESULT_CODE``)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_ROOT.rglob("*")):
        rel = path.relative_to(PACKAGE_ROOT).as_posix()
        if not path.is_file() or "__pycache__" in rel or rel.startswith(_NOT_RESULT_CODE):
            continue
        if path.suffix not in (".py", ".yaml", ".json", ".txt"):
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(
            ["git", "-C", str(PACKAGE_ROOT.parent), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def git_info() -> dict[str, Any]:
    """Commit and dirtiness of the source checkout; in an image, the commit baked in at build."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {
            "commit": os.environ.get("REPRO_GIT_COMMIT") or None,
            "dirty": None,
            "source": "REPRO_GIT_COMMIT (image build)" if os.environ.get("REPRO_GIT_COMMIT") else "unavailable",
        }
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "source": "git"}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def torch_info() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"version": None}
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "cuda_available": torch.cuda.is_available(),
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "num_threads": torch.get_num_threads(),
    }


def gpu_info() -> list[dict[str, Any]]:
    """Every GPU NVML sees: model, driver, memory. Empty without a GPU/driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            out.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "driver": driver.decode() if isinstance(driver, bytes) else driver,
                    "memory_total": int(pynvml.nvmlDeviceGetMemoryInfo(h).total),
                }
            )
        return out
    except Exception:
        return []
    finally:
        pynvml.nvmlShutdown()


def container_info() -> dict[str, Any]:
    """Whether we run in a container and, if the launcher passed it, the image digest."""
    in_container = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()
    digest = os.environ.get("REPRO_IMAGE_DIGEST") or None
    return {
        "in_container": in_container,
        "image": os.environ.get("REPRO_IMAGE") or None,
        "image_digest": digest,
        "note": None
        if digest or not in_container
        else "digest unknown: run via `repro docker run` or set REPRO_IMAGE_DIGEST",
    }


@cache
def environment() -> dict[str, Any]:
    """The parts that do not change during a run (collected once per process)."""
    return {
        "git": git_info(),
        "code_hash": code_hash(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "torch": torch_info(),
        "gpus": gpu_info(),
        "container": container_info(),
    }


def hub_models() -> dict[str, Any]:
    """The Hub revisions in force (pins) and those this process loaded weights at."""
    from repro.revisions import PINNED, loaded

    return {"pinned": dict(PINNED), "loaded": loaded()}


def teacher_info(spec: Any, *, random_init: bool = False) -> dict[str, Any]:
    """One teacher as its settings name it; ``revision`` is the commit the Hugging Face cache holds now."""
    if spec.is_oracle:
        return {"id": spec.id, "revision": None, "weights": None, "precision": None, "stand_in": True}
    from repro.teacher import cached_revision
    from repro.teacher.depth_anything import resolve_id

    model_id = resolve_id(spec.id)
    local = Path(model_id).expanduser().is_dir()
    return {
        "id": model_id,
        "revision": None if random_init or local else cached_revision(model_id, spec.revision) or spec.revision,
        "weights": "random_init" if random_init else ("local" if local else "pretrained"),
        "precision": spec.precision,
        "input_size": spec.input_size,
        "output_resize": spec.output_resize,
        "pos_embed": spec.pos_embed,
        "stand_in": False,
    }


def teachers(cell: Any, *, random_init: bool = False) -> dict[str, Any] | None:
    """The teachers a cell runs: ``train`` (pseudo labels) and/or ``eval`` (Table 3's teacher row)."""
    out: dict[str, Any] = {}
    if cell.train is not None and cell.train.pseudo:
        out["train"] = teacher_info(cell.train.teacher, random_init=random_init)
    if cell.eval is not None and cell.eval.model == "teacher_equirect" and cell.eval.teacher is not None:
        out["eval"] = teacher_info(cell.eval.teacher, random_init=random_init)
    return out or None


def collect(**run: Any) -> dict[str, Any]:
    """Environment plus the run's own facts (seeds, config and data hashes, wall time...)."""
    return {**environment(), "hub_models": hub_models(), **run}
