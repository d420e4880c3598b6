"""Write synthetic panoramas in each dataset's real on-disk layout, so every reader runs unchanged.

File names, folders, image formats and depth encodings follow the real datasets (depth scale and
invalid value are taken from the reader classes, the single source of truth). Labeled layouts get
train/val/test; list-based ones also get ``<dataset>_<split>.txt`` in the root, which the readers
prefer over the official lists. The unlabeled layouts (SpatialAudioGen, folder) get ``count``
frames and their exact depth in the ``.depth/`` sidecar (for the oracle teacher).

True sky/watermark masks of every image go to the mask root in the ``repro.masks`` format
(PNG + ``manifest.jsonl``), so the ``ground_truth`` mask backend finds them. Everything is built
in temporary folders and renamed into place: an interrupted run leaves nothing half written.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from repro.data import DATASETS
from repro.data.folder import DEPTH_DIR
from repro.data.mask_manifest import MaskRecord, write_manifest, write_mask
from repro.data.structured3d import SCENE_RANGES
from repro.data.synth.world import panorama_generator, render_panorama
from repro.progress import progress_bar

MARKER = ".synth.json"  # what generated this folder (checked by ensure_synthetic)
SCENES = ".synth_scenes.jsonl"  # the scene description of every image
GENERATOR_VERSION = 1
LABELED_SPLITS = ("train", "val", "test")
_S2D3D_ROOMS = ("office", "hallway", "conferenceRoom", "lounge", "storage", "WC")
_S2D3D_AREAS = {"train": ("area_1", "area_2", "area_3", "area_4", "area_6"), "test": ("area_5a", "area_5b")}


@dataclass(frozen=True)
class SynthOptions:
    """Generator knobs (a suite's ``synthetic.options``)."""

    sky_fraction: float = 0.25  # panoramas with an opening to the sky
    watermark_fraction: float = 0.25  # panoramas with a watermark stamp
    min_valid_fraction: float = 0.2  # masks below this valid fraction are marked dropped
    jpeg_quality: int = 95

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> SynthOptions:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options or {}) - known)
        if unknown:
            raise ValueError(f"unknown synthetic option(s) {unknown} (known: {sorted(known)})")
        out = cls(**(options or {}))
        for name in ("sky_fraction", "watermark_fraction", "min_valid_fraction"):
            if not 0.0 <= getattr(out, name) <= 1.0:
                raise ValueError(f"synthetic option {name} must be in [0, 1], got {getattr(out, name)}")
        return out


def _uid(g: torch.Generator) -> str:
    return "".join(f"{int(v):08x}" for v in torch.randint(0, 2**31 - 1, (4,), generator=g))


# (split, index, generator) -> (rgb path, depth path or None when depth goes to the .depth sidecar)
PathFn = Callable[[str, int, torch.Generator], tuple[str, str | None]]


def _matterport(split: str, i: int, g: torch.Generator) -> tuple[str, str]:
    scene, uid = f"synth{split}{i // 4:04d}", _uid(g)
    return f"{scene}/pano_skybox_color/{uid}.jpg", f"{scene}/pano_depth/{uid}.png"


def _stanford(split: str, i: int, g: torch.Generator) -> tuple[str, str]:
    areas = _S2D3D_AREAS.get(split, _S2D3D_AREAS["train"])
    area, room = areas[i % len(areas)], f"{_S2D3D_ROOMS[i % len(_S2D3D_ROOMS)]}_{i // len(_S2D3D_ROOMS) + 1}"
    name = f"camera_{_uid(g)}_{room}_frame_equirectangular_domain"
    return f"{area}/rgb_/{name}_rgb.png", f"{area}/depth/{name}_depth.png"


def _structured3d(split: str, i: int, g: torch.Generator) -> tuple[str, str]:
    room = int(torch.randint(0, 10**6, (), generator=g))
    full = f"scene_{SCENE_RANGES[split].start + i:05d}/2D_rendering/{room}/panorama/full"
    return f"{full}/rgb_rawlight.png", f"{full}/depth.png"


def _video_frames(split: str, i: int, g: torch.Generator) -> tuple[str, None]:
    return f"synth_video_{i // 8:03d}/frame_{i % 8:06d}.jpg", None


def _folder(split: str, i: int, g: torch.Generator) -> tuple[str, None]:
    return f"pano_{i:05d}.jpg", None


@dataclass(frozen=True)
class Layout:
    paths: PathFn
    splits: tuple[str, ...] = LABELED_SPLITS
    list_files: bool = False


LAYOUTS: dict[str, Layout] = {
    "matterport3d": Layout(_matterport, list_files=True),
    "stanford2d3d": Layout(_stanford, list_files=True),
    "structured3d": Layout(_structured3d),
    "spatialaudiogen": Layout(_video_frames, splits=("train",)),
    "folder": Layout(_folder, splits=("train",)),
}


def encode_depth(distance: torch.Tensor, scale: float, invalid: int | None) -> np.ndarray:
    """Metres (0 = none) -> the dataset's uint16 raw depth; out-of-range values become invalid."""
    bad = invalid if invalid is not None else 0
    top = 65535 if invalid != 65535 else 65534
    raw = np.rint(distance.squeeze(0).numpy().astype(np.float64) * scale)
    raw = np.where((raw <= 0) | (raw > top), bad, raw)
    return raw.astype(np.uint16)


def _save(path: Path, array: np.ndarray, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, quality=quality)
    else:
        image.save(path, compress_level=3)


@dataclass(frozen=True)
class _Job:
    """Everything one panorama needs (picklable: jobs run in worker processes)."""

    dataset: str
    root: Path
    masks: Path
    split_no: int
    index: int
    height: int
    seed: int
    style: str
    options: SynthOptions


def _make_one(job: _Job) -> tuple[MaskRecord, str, str]:
    """Render and write one panorama; returns its mask entry, scene line and split-list line."""
    layout, reader = LAYOUTS[job.dataset], DATASETS[job.dataset]
    keys = (zlib.crc32(job.dataset.encode()), zlib.crc32(job.style.lower().encode()))
    g = panorama_generator(job.seed, *keys, job.split_no, job.index)
    rgb_rel, depth_rel = layout.paths(layout.splits[job.split_no], job.index, g)
    sky = float(torch.rand((), generator=g)) < job.options.sky_fraction
    mark = float(torch.rand((), generator=g)) < job.options.watermark_fraction
    pano = render_panorama(style=job.style, height=job.height, sky=sky, watermark=mark, generator=g)
    rgb8 = (pano.rgb.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    _save(job.root / rgb_rel, rgb8, job.options.jpeg_quality)
    if depth_rel is None:  # unlabeled layouts: exact depth in the sidecar, millimetres
        depth_path = job.root / DEPTH_DIR / Path(rgb_rel).with_suffix(".png")
        raw = encode_depth(pano.distance, reader.depth_scale, None)
    else:
        depth_path = job.root / depth_rel
        raw = encode_depth(pano.distance, reader.depth_scale, reader.depth_invalid)
    _save(depth_path, raw, job.options.jpeg_quality)
    regions = {"sky": pano.sky.squeeze(0).numpy(), "watermark": pano.watermark.squeeze(0).numpy()}
    entry = write_mask(
        job.masks,
        rgb_rel,
        pano.valid.squeeze(0).numpy(),
        job.options.min_valid_fraction,
        labels=[name for name, region in regions.items() if region.any()],
        excluded_by=regions,
    )
    scene = json.dumps({"image": rgb_rel, "sky": sky, "watermark": mark, **pano.scene.to_dict()})
    return entry, scene, f"{rgb_rel} {depth_rel}" if depth_rel else rgb_rel


def _single_thread() -> None:
    torch.set_num_threads(1)


def _start_context() -> multiprocessing.context.BaseContext:
    """fork (fast) only in a single-threaded process: forking while another thread holds a lock
    (logging, tqdm, a launcher's worker threads) can deadlock the children; spawn otherwise."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _write_into(dataset: str, root: Path, masks: Path, *, count: int, workers: int, progress: bool, **job: Any) -> None:
    """All panoramas of ``dataset``; with ``workers`` > 1 in single-threaded processes (panoramas are
    independent, and on shared or small machines this beats intra-op threads by far). Results come
    back in order, so the output does not depend on ``workers``."""
    layout = LAYOUTS[dataset]
    jobs = [_Job(dataset, root, masks, s, i, **job) for s in range(len(layout.splits)) for i in range(count)]
    bar = progress_bar(total=len(jobs), desc=f"synth {dataset}", unit="pano", enabled=progress)
    results = []
    with contextlib.ExitStack() as stack:
        if workers > 1 and len(jobs) > 1:
            pool = stack.enter_context(_start_context().Pool(min(workers, len(jobs)), initializer=_single_thread))
            made = pool.imap(_make_one, jobs)
        else:
            made = map(_make_one, jobs)
        for result in made:
            results.append(result)
            bar.update(1)
    bar.close()
    for split_no, split in enumerate(layout.splits):
        if layout.list_files:
            lines = [line for (_, _, line), j in zip(results, jobs) if j.split_no == split_no]
            (root / f"{dataset}_{split}.txt").write_text("\n".join(lines) + "\n")
    write_manifest(masks, [entry for entry, _, _ in results])
    (root / SCENES).write_text("\n".join(scene for _, scene, _ in results) + "\n")


def default_workers() -> int:
    """One process per core the scheduler gives us."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _marker(dataset: str, count: int, height: int, seed: int, style: str, options: SynthOptions) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "style": style.lower(),
        "count": count,
        "height": height,
        "seed": seed,
        "options": asdict(options),
        "generator_version": GENERATOR_VERSION,
    }


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move ``tmp`` to ``final``; an older synthetic folder there is replaced, anything else refused."""
    if final.exists():
        if not (final / MARKER).is_file():
            raise FileExistsError(f"{final} exists and was not written by the synthetic generator")
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)


def write_dataset(
    dataset: str,
    root: str | Path,
    *,
    mask_root: str | Path | None = None,
    count: int = 8,
    height: int = 256,
    seed: int = 0,
    style: str = "a",
    options: dict[str, Any] | SynthOptions | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate ``dataset`` (``count`` panoramas per split, ``height`` × 2·``height``) under ``root``,
    its true masks under ``mask_root`` (default: ``<root>/../masks/<root name>``). ``workers``
    processes render in parallel (default: one per available core). Returns the marker."""
    if dataset not in LAYOUTS:
        raise ValueError(f"no synthetic layout for dataset '{dataset}' (choose from {', '.join(LAYOUTS)})")
    if count < 1 or height < 4:
        raise ValueError(f"need count >= 1 and height >= 4, got count={count}, height={height}")
    opts = options if isinstance(options, SynthOptions) else SynthOptions.from_dict(options)
    root = Path(root)
    masks = Path(mask_root) if mask_root is not None else root.parent / "masks" / root.name
    marker = _marker(dataset, count, height, seed, style, opts)
    root.parent.mkdir(parents=True, exist_ok=True)
    masks.parent.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.tmp-"))
    tmp_masks = Path(tempfile.mkdtemp(dir=masks.parent, prefix=f".{masks.name}.tmp-"))
    try:
        _write_into(
            dataset,
            tmp_root,
            tmp_masks,
            count=count,
            workers=workers or default_workers(),
            progress=progress,
            height=height,
            seed=seed,
            style=style,
            options=opts,
        )
        for folder in (tmp_root, tmp_masks):
            (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        _replace_dir(tmp_masks, masks)  # masks first: a root without its masks is never visible
        _replace_dir(tmp_root, root)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
        shutil.rmtree(tmp_masks, ignore_errors=True)
    return marker


def read_marker(root: str | Path) -> dict[str, Any] | None:
    path = Path(root) / MARKER
    return json.loads(path.read_text()) if path.is_file() else None


def ensure_synthetic(ref: Any, spec: Any, *, data_root: Path) -> None:
    """The suite's data stage for synthetic cells: write ``ref``'s dataset (all splits) and its true
    masks unless already there. ``spec`` is a :class:`repro.suite.schema.SynthSpec`."""
    root = ref.root_dir(Path(data_root))
    style = str(spec.styles.get(ref.dataset, "a"))
    opts = SynthOptions.from_dict(dict(spec.options or {}))
    want = _marker(ref.dataset, spec.count, spec.height, spec.seed, style, opts)
    if root.exists():
        have = read_marker(root)
        if have is not None and have != want:
            raise ValueError(
                f"{root} holds synthetic data generated with {have}, but this cell asks for {want}; "
                f"delete {root} (and {ref.mask_dir(Path(data_root))}) to regenerate"
            )
        return
    try:
        write_dataset(
            ref.dataset,
            root,
            mask_root=ref.mask_dir(Path(data_root)),
            count=spec.count,
            height=spec.height,
            seed=spec.seed,
            style=style,
            options=opts,
            progress=False,
        )
    except OSError:
        if read_marker(root) != want:  # another process finished the same dataset first: fine
            raise
