"""The pseudo-label cache: the teacher's targets for K rotations of each unlabeled panorama, computed once.

The teacher is frozen; only the rotation (and the augmentation) changes what it sees. With
``pseudo_labels: cached`` the targets of K seeded rotations per panorama are precomputed
(``repro teacher cache CONFIG --shard i/n``: sharded, resumable, one atomically written file per
panorama) and each training visit draws one of the K, so training runs no teacher at all.

How the augmentations meet the cache (the student's input is augmented as always):

* **colour jitter** — the teacher never sees it (it gets ``rgb_noaug``, online too): unaffected.
* **yaw roll** and **left-right flip** — the cached targets live in the panorama's own frame. The
  student's prediction on the augmented panorama is moved back into that frame by the inverse
  pixel permutation (:func:`repro.data.transforms.undo_geometric`, exact and differentiable) and
  then meets the cached faces under the cached rotation. For the roll this is exact: a roll is a
  yaw rotation, so the pair is the online pair of the composed rotation. For the flip it is exact
  on the student's side; the teacher saw the unmirrored faces where online it would see mirrored
  ones, which agree as far as the teacher is mirror-equivariant.
* **rotation** — K fixed draws per panorama (same distribution, ±``rotation_max_deg`` per Euler
  angle) instead of a fresh draw per visit; ``rotation_sampling`` must be ``per_image``.

The science suite's ``gt_pseudo_cached`` cell measures what the cache changes against online
rotation (an equivalence claim in expected/science.yaml). An oracle teacher's random distortion is
drawn once per panorama and frozen in the cache (a real teacher is deterministic anyway).

File format (``<data_root>/<pseudo_cache.root>/<settings hash>/<xx>/<sha1 of path>.npz``, npz
compressed): ``rotation`` (K,3,3) float32 and per rotation ``disparity_k`` (targets in [0, 1] as
uint16, resolution 1/65535) and ``mask_k`` (bits, ``np.packbits``); ``cache.json`` beside the
entries holds the settings the targets depend on. Only rotation ``k`` is decompressed on a visit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from repro.atomic import write_bytes, write_json
from repro.config import to_plain
from repro.errors import UserError
from repro.geometry.released import draw_rotations
from repro.run_settings import TrainSettings
from repro.train.sampling import mix_seed

FORMAT = 1
MANIFEST = "cache.json"
TMP_TAG = ".pseudo"
#: teacher settings that change speed or memory only, not a single target value
_SPEED_ONLY = ("chunk_size", "channels_last", "compile")


class PseudoCacheError(UserError):
    """The cache lacks an entry, or was built with other settings."""


def cache_manifest(settings: TrainSettings) -> dict[str, Any]:
    """Everything the cached targets depend on (the folder name is its hash)."""
    teacher = {k: v for k, v in to_plain(settings.teacher).items() if k not in _SPEED_ONLY}
    d = settings.distill
    return {
        "format": FORMAT,
        "rotations": rotation_count(settings),
        "seed": settings.pseudo_cache.seed,
        "teacher": teacher,
        "distill": {k: v for k, v in to_plain(d).items() if k != "rotation_sampling"},
        "input_size": list(settings.input_size),
        "masks": to_plain(settings.masks),
        "pseudo": to_plain(settings.pseudo),
    }


def rotation_count(settings: TrainSettings) -> int:
    """K, or 1 when rotation is off (every draw would be the identity)."""
    return settings.pseudo_cache.rotations if settings.distill.rotation_max_deg > 0 else 1


def cache_folder(settings: TrainSettings, data_root: str | Path) -> Path:
    text = json.dumps(cache_manifest(settings), sort_keys=True)
    return Path(data_root) / settings.pseudo_cache.root / hashlib.sha256(text.encode()).hexdigest()[:16]


def _relative(path: str, data_root: Path) -> str:
    return Path(os.path.relpath(path, data_root)).as_posix()


def entry_path(folder: Path, data_root: Path, sample_path: str) -> Path:
    digest = hashlib.sha1(_relative(sample_path, data_root).encode()).hexdigest()
    return folder / digest[:2] / f"{digest}.npz"


def cached_rotations(settings: TrainSettings, rel: str) -> torch.Tensor:
    """The K rotations of one panorama, from (cache seed, its data-root-relative path, k) alone."""
    d = settings.distill
    crc = zlib.crc32(rel.encode())
    gens = [torch.Generator().manual_seed(mix_seed(settings.pseudo_cache.seed, crc, k)) for k in range(rotation_count(settings))]
    if d.rotation_max_deg <= 0:
        return torch.eye(3).expand(len(gens), 3, 3).clone()
    return torch.cat([draw_rotations(1, d.rotation_max_deg, generator=g, frame=d.rotation_frame) for g in gens])


def raw_entry_bytes(settings: TrainSettings) -> int:
    """Bytes of one panorama's entry before compression: K × (uint16 targets + mask bits) + rotations."""
    from repro.distill import FACES_PER_PANORAMA

    d = settings.distill
    h, w = settings.input_size
    pixels = h * w if d.projection == "equirect_stitched" else FACES_PER_PANORAMA[d.projection] * d.face_size**2
    k = rotation_count(settings)
    return k * (2 * pixels + (pixels + 7) // 8) + k * 9 * 4


def encode(disparity: torch.Tensor, mask: torch.Tensor, rotation: torch.Tensor) -> bytes:
    """K targets of one panorama -> compressed npz bytes (uint16 targets, packed mask bits)."""
    arrays: dict[str, np.ndarray] = {"rotation": rotation.float().cpu().numpy()}
    disp = torch.nan_to_num(disparity.float().cpu(), nan=0.0).clamp(0, 1)
    for k in range(disp.shape[0]):
        arrays[f"disparity_{k}"] = (disp[k] * 65535 + 0.5).to(torch.int32).numpy().astype(np.uint16)
        arrays[f"mask_{k}"] = np.packbits(mask[k].cpu().numpy().astype(bool), axis=None)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def decode(path: Path, k: int) -> dict[str, torch.Tensor]:
    """Rotation ``k`` of one entry: ``cached_disparity`` (float32), ``cached_mask``, ``cached_rotation``."""
    with np.load(path) as npz:
        disp = torch.from_numpy(npz[f"disparity_{k}"].astype(np.float32) / 65535.0)
        bits = np.unpackbits(npz[f"mask_{k}"], count=disp.numel())
        return {
            "cached_disparity": disp,
            "cached_mask": torch.from_numpy(bits.reshape(disp.shape).astype(bool)),
            "cached_rotation": torch.from_numpy(npz["rotation"][k]),
        }


# --------------------------------------------------------------------------- building


@dataclass
class CacheSummary:
    folder: Path
    written: int = 0
    skipped: int = 0  # already there (a resumed or parallel shard)
    seconds: float = 0.0
    bytes_written: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def bytes_per_panorama(self) -> float:
        return self.bytes_written / self.written if self.written else 0.0


def _unlabeled_items(settings: TrainSettings, data_root: Path) -> list[tuple[str, Dataset, int]]:
    """(sample path, dataset, index) of every unlabeled panorama, un-augmented, sorted by path."""
    from repro.train.build import datasets_of

    plain = dataclasses.replace(settings, augment=False)
    items = []
    for ds in datasets_of(plain.pseudo, plain, data_root, masks=settings.masks):
        for i in range(len(ds)):  # type: ignore[arg-type]
            entries, root = getattr(ds, "entries", None), getattr(ds, "root", None)
            path = str(root / entries[i].rgb) if entries is not None and root is not None else ds[i]["path"]
            items.append((path, ds, i))
    return sorted(items, key=lambda t: t[0])


def write_manifest(settings: TrainSettings, folder: Path) -> None:
    manifest = cache_manifest(settings)
    path = folder / MANIFEST
    if path.is_file() and json.loads(path.read_text()) == manifest:
        return
    write_json(path, manifest)


def build_cache(
    settings: TrainSettings,
    data_root: str | Path,
    *,
    shard: tuple[int, int] | None = None,
    device: str | torch.device = "cpu",
    teacher: Any | None = None,
    progress: Callable[[str], None] | None = None,
) -> CacheSummary:
    """Compute the missing entries of shard ``i/n`` (all by default); existing entries are kept.

    One panorama per teacher call (its K rotations × faces, chunked inside the teacher); an oracle
    teacher's generator is reseeded per panorama, so an entry does not depend on the shard.
    """
    from repro.distill import teacher_targets
    from repro.teacher import build_teacher_from_spec

    if not settings.pseudo:
        raise PseudoCacheError("this configuration has no unlabeled data (pseudo: []): nothing to cache")
    data_root = Path(data_root)
    folder = cache_folder(settings, data_root)
    summary = CacheSummary(folder)
    items = _unlabeled_items(settings, data_root)
    if shard is not None:
        items = items[shard[0] :: shard[1]]
    todo = [it for it in items if not entry_path(folder, data_root, it[0]).is_file()]
    summary.skipped = len(items) - len(todo)
    write_manifest(settings, folder)
    for leftover in folder.glob(f"*/.*{TMP_TAG}.tmp"):  # a killed writer's temp files
        leftover.unlink(missing_ok=True)
    if not todo:
        return summary
    device = torch.device(device)
    if teacher is None:
        teacher = build_teacher_from_spec(settings.teacher)
    if isinstance(teacher, torch.nn.Module):
        teacher.to(device)
    d = settings.distill
    needs_depth = bool(getattr(teacher, "is_stand_in", False))
    t0 = time.perf_counter()
    for n, (path, ds, i) in enumerate(todo, 1):
        rel = _relative(path, data_root)
        gen = getattr(teacher, "generator", None)
        if isinstance(gen, torch.Generator):
            gen.manual_seed(mix_seed(settings.pseudo_cache.seed, zlib.crc32(rel.encode()), 0x0AC1E))
        sample = ds[i]  # type: ignore[index]
        rot = cached_rotations(settings, rel)
        k = rot.shape[0]

        def rep(x: torch.Tensor, k: int = k) -> torch.Tensor:
            return x.unsqueeze(0).expand(k, *x.shape).to(device)

        targets = teacher_targets(
            teacher,
            rep(sample["rgb_noaug"]),
            rep(sample["valid"]),
            rot.to(device) if d.rotation_max_deg > 0 else None,
            projection=d.projection,
            face_size=d.face_size,
            mask_mode=d.mask_mode,
            depth=rep(sample["depth"]) if needs_depth else None,
            sampling=d.sampling,
            rotation_pass=d.rotation_pass,
            has_mask=rep(sample["has_mask"]),
        )
        data = encode(targets.disparity, targets.mask, rot)
        write_bytes(entry_path(folder, data_root, path), data, fsync=False, tag=TMP_TAG)
        summary.written += 1
        summary.bytes_written += len(data)
        if progress is not None and (n % 100 == 0 or n == len(todo)):
            progress(f"pseudo-label cache: {n}/{len(todo)} panoramas ({summary.bytes_per_panorama / 2**20:.2f} MiB each)")
    summary.seconds = time.perf_counter() - t0
    return summary


# --------------------------------------------------------------------------- reading


class CachedTargets(Dataset):
    """The unlabeled dataset, each sample with one of its K cached targets (drawn per visit).

    The draw depends on (cache seed, epoch, index) only, so resume and worker count change nothing.
    """

    def __init__(self, dataset: Dataset, settings: TrainSettings, data_root: str | Path) -> None:
        self.dataset = dataset
        self.data_root = Path(data_root)
        self.folder = cache_folder(settings, self.data_root)
        self.rotations = rotation_count(settings)
        self.seed = settings.pseudo_cache.seed
        self.epoch: int | None = None
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            raise PseudoCacheError(
                f"no pseudo-label cache for these settings at {self.folder}: build it with `repro teacher cache CONFIG`"
            )

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.dataset[index])  # type: ignore[index]
        path = entry_path(self.folder, self.data_root, sample["path"])
        if not path.is_file():
            raise PseudoCacheError(
                f"the pseudo-label cache {self.folder} has no entry for {sample['path']}: "
                "run `repro teacher cache CONFIG` (or train again: missing entries are built first)"
            )
        gen = torch.Generator().manual_seed(mix_seed(self.seed, 0xCAC4E, self.epoch or 0, index))
        k = int(torch.randint(self.rotations, (), generator=gen))
        sample.update(decode(path, k))
        return sample


def targets_from_batch(unlabeled: dict[str, torch.Tensor], distill: Any) -> Any:
    """A collated cached batch -> :class:`repro.distill.PseudoTargets` (in the panoramas' own frame)."""
    from repro.distill import PseudoTargets

    rotation = unlabeled["cached_rotation"] if distill.rotation_max_deg > 0 else None
    return PseudoTargets(
        unlabeled["cached_disparity"],
        unlabeled["cached_mask"],
        rotation,
        distill.projection,
        distill.face_size,
        distill.sampling,
        distill.rotation_pass,
    )
