"""Tiny models and in-memory datasets for the trainer tests (also imported by the DDP worker script).

They honour the project contracts (sample dict; ``forward`` on ImageNet-normalised RGB returning
(B,1,H,W)) so the loop under test is the real one; only their size is toy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from repro.config import from_data
from repro.run_settings import TrainSettings


class TinyStudent(nn.Module):
    """Two 3×3 convolutions and a ``10·sigmoid`` head, like UniFuse's output; no BatchNorm."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.sigmoid(self.net(x))


def room_depth(h: int, w: int, half: tuple[float, float, float]) -> torch.Tensor:
    """Ray distance (1,H,W) inside an axis-aligned box room centred on the camera."""
    from repro.geometry import equirect_directions

    d = equirect_directions(h, w)
    t = (torch.tensor(half) / d.abs().clamp_min(1e-6)).amin(-1)
    return t[None]


class RoomPanoramas(torch.utils.data.Dataset):
    """Box rooms whose colour encodes depth (so a small conv net can learn it) plus texture noise.

    ``set_epoch`` + a per-(epoch, index) yaw roll stand in for ``repro.data``'s augmentations, so
    the resume test exercises the epoch plumbing.
    """

    def __init__(self, n: int = 4, h: int = 16, w: int = 32, seed: int = 0, augment: bool = True) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.samples = []
        for i in range(n):
            half = tuple((1.5 + 2.5 * torch.rand(3, generator=gen)).tolist())
            depth = room_depth(h, w, half)
            shade = (depth / depth.max()).expand(3, h, w)
            rgb = (0.8 * shade + 0.2 * torch.rand(3, h, w, generator=gen)).clamp(0, 1)
            self.samples.append({"rgb": rgb, "depth": depth, "path": f"room{i}.png"})
        self.epoch, self.seed, self.augment = 0, seed, augment

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.samples[index]
        roll = 0
        if self.augment:
            gen = torch.Generator().manual_seed(self.seed * 1000 + self.epoch * 100 + index)
            roll = int(torch.randint(0, s["rgb"].shape[-1], (), generator=gen))
        rgb, depth = (torch.roll(s[k], roll, dims=-1) for k in ("rgb", "depth"))
        return {"rgb": rgb, "rgb_noaug": rgb.clone(), "depth": depth, "valid": depth > 0, "path": s["path"]}


#: an oracle without distortion or noise: the exact face disparity (for equivalence tests)
EXACT_ORACLE = {"scale_range": [1.0, 1.0], "shift_range": [0.0, 0.0], "noise_std": 0.0}


class CountingTeacher(nn.Module):
    """Wraps a teacher and records how many faces each call received."""

    def __init__(self, teacher: Any) -> None:
        super().__init__()
        self.teacher, self.calls = teacher, []
        self.is_stand_in = getattr(teacher, "is_stand_in", False)

    def predict_faces(self, faces: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(faces.shape[0])
        return self.teacher.predict_faces(faces, depth=depth)


def components(
    n_labeled: int = 4,
    n_unlabeled: int | None = None,
    oracle: dict[str, Any] | None = None,
    size: tuple[int, int] = (16, 32),
    **kw: Any,
):
    """A tiny student (seeded), labeled rooms and, with ``n_unlabeled``, other rooms + the oracle teacher."""
    from repro.teacher import build_teacher
    from repro.train import Components

    torch.manual_seed(0)
    unlabeled = teacher = None
    if n_unlabeled is not None:
        unlabeled = RoomPanoramas(n_unlabeled, *size, seed=1)
        teacher = build_teacher("oracle", **(oracle if oracle is not None else {}))
    return Components(
        model=kw.pop("model", None) or TinyStudent(),
        labeled=RoomPanoramas(n_labeled, *size),
        unlabeled=unlabeled,
        teacher=teacher,
        student={"name": "tiny"},
    )


def settings(**overrides: Any) -> TrainSettings:
    """TrainSettings of a tiny CPU run (UniFuse's recipe names the optimizer; the model is injected)."""
    raw: dict[str, Any] = {
        "student": {"name": "unifuse", "pretrained": False},
        "labeled": [{"dataset": "matterport3d"}],
        "input_size": [16, 32],
        "precision": "fp32",
        "schedule": {"epochs": 2, "batch_size": 2, "lr": 1e-3, "num_workers": 0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return from_data(TrainSettings, raw)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors: one intra-op thread is fastest, and avoids OpenMP spin on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def load_model_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def finite(x: float) -> bool:
    return math.isfinite(x)


def run_worker(out_dir: str, overrides_json: str, n_images: int, n_unlabeled: int | None = None) -> None:
    """One process of a ``torchrun``-style launch (RANK/WORLD_SIZE/MASTER_* in the environment)."""
    import json

    from repro.train import Trainer
    from repro.train.distributed import env_info, init, shutdown

    torch.set_num_threads(1)
    info = env_info()
    device = torch.device("cpu")
    created = init(device, info)
    try:
        comps = components(n_images, n_unlabeled, EXACT_ORACLE)
        Trainer(settings(**json.loads(overrides_json)), comps, out_dir, device=device, info=info, progress=False).fit()
    finally:
        shutdown(created)


def launch(
    world_size: int,
    out_dir: Path,
    overrides: dict[str, Any],
    n_images: int,
    n_unlabeled: int | None = None,
    timeout: float = 180,
) -> None:
    """Ranks 1.. as worker processes with the environment torchrun gives them; rank 0 in this process.

    Running rank 0 here saves one interpreter start (importing torch and, through DDP,
    torch._dynamo costs ~10 s on a busy 2-core machine; the training itself well under 1 s).
    """
    import json
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    here = Path(__file__).resolve().parent
    code = (
        f"import sys; sys.path[:0] = [{str(here)!r}, {str(here.parent)!r}]\n"
        "from train_fixtures import run_worker\n"
        f"run_worker({str(out_dir)!r}, {json.dumps(overrides)!r}, {n_images}, {n_unlabeled})\n"
    )
    common = {"WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    procs = []
    for rank in range(1, world_size):
        env = {**os.environ, **common, "RANK": str(rank), "LOCAL_RANK": str(rank), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True))
    saved = {k: os.environ.get(k) for k in (*common, "RANK", "LOCAL_RANK")}
    os.environ.update({**common, "RANK": "0", "LOCAL_RANK": "0"})
    errors = []
    try:
        run_worker(str(out_dir), json.dumps(overrides), n_images, n_unlabeled)
    except Exception as exc:  # noqa: BLE001 - reported together with the workers' errors
        errors.append(f"rank 0: {exc!r}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    for rank, proc in enumerate(procs, 1):
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode:
            errors.append(f"rank {rank} exited {proc.returncode}:\n{err[-3000:]}")
    if errors:
        raise RuntimeError("\n".join(errors))
