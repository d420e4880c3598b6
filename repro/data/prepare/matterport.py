"""Matterport3D: skybox cubes and undistorted depth images -> the equirect panoramas UniFuse made.

The official release has no panoramas. UniFuse (``UniFuse/Matterport3D/stitch.m`` with PanoBasic,
alibaba/UniFuse-Unidirectional-Fusion) made them at 1024×2048, which the shipped split lists and
Depth Anywhere use; we follow its conventions, with our own geometry (:mod:`repro.geometry`):

* **RGB** from ``matterport_skybox_images/<pano>_skybox<k>_sami.jpg``: six 90° faces. PanoBasic
  places them at longitude ``vx = (−π/2, −π/2, 0, π/2, π, −π/2)`` and latitude ``vy = (π/2, 0, 0,
  0, 0, −π/2)``: k = 0 up, 1 left, 2 front (centre column), 3 right, 4 back, 5 down, with the up
  and down faces' image right pointing to the front. In our F R B L U D order that is skybox
  2, 3, 4, 1, 0 turned 90° clockwise, 5 turned 90° counter-clockwise (:data:`SKYBOX_FACES`);
  :func:`repro.geometry.cube_to_equirect` stitches them.
* **Depth** from the 18 ``undistorted_depth_images/<pano>_d<c>_<y>.png`` (uint16, 4000 per metre)
  with ``undistorted_camera_parameters/<scene>.conf``: each view is cropped symmetric about its
  principal point, its z-depth turned into ray distance, and projected with focal ``fx`` onto the
  panorama (nearest neighbour, overlapping valid depths averaged, 0 where no view sees). View
  directions come from the camera-to-world poses expressed in a per-panorama frame (mean camera
  centre; z = first principal axis of the 18 centres, sign as MATLAB's ``pca``; x towards camera
  7), as ``vx = 5π/6 + atan2(−v_y, v_x)``, ``vy = −asin(v_z)`` of the pose's third axis ``v``.
* ``ray_scale="unifuse"`` (default) reproduces UniFuse's z-to-ray factor
  ``sqrt(X² + Y² + 1)`` with X, Y normalised by the crop's width and height (not by the focal
  length); ``"exact"`` uses ``(u − c)/fx`` — the geometric ray length.

Output: ``<scene>/pano_skybox_color/<pano>.jpg`` and ``<scene>/pano_depth/<pano>.png`` (uint16,
4000 per metre). A panorama whose two files exist is skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from repro.data.prepare.common import (
    PrepareError,
    PrepareSummary,
    require_dir,
    run_items,
)

NAME = "matterport3d"
SKYBOX = "matterport_skybox_images"
DEPTH = "undistorted_depth_images"
CAMERAS = "undistorted_camera_parameters"
DEPTH_SCALE = 4000.0
YAW_OFFSET = 5 * math.pi / 6  # UniFuse's theta: where the panorama's centre column looks
#: our face -> (official skybox index, np.rot90 turns making it upright in our orientation)
SKYBOX_FACES: dict[str, tuple[int, int]] = {"F": (2, 0), "R": (3, 0), "B": (4, 0), "L": (1, 0), "U": (0, -1), "D": (5, 1)}
RayScale = Literal["unifuse", "exact"]


class SceneFiles:
    """One scene's files of a download type, from ``<scene>/<type>/`` or ``<scene>/<type>.zip``."""

    def __init__(self, scene_dir: Path) -> None:
        self.dir = scene_dir
        self._zips: dict[str, zipfile.ZipFile] = {}
        self._members: dict[str, dict[str, str]] = {}

    def _index(self, kind: str) -> dict[str, str] | None:
        if kind in self._members:
            return self._members[kind]
        archive = self.dir / f"{kind}.zip"
        if not archive.is_file():
            return None
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as exc:
            raise PrepareError(f"{archive} is not a readable zip ({exc}); download it again") from None
        self._zips[kind] = zf
        self._members[kind] = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
        return self._members[kind]

    def names(self, kind: str) -> list[str]:
        folder = self.dir / kind
        if folder.is_dir():
            return sorted(p.name for p in folder.iterdir() if p.is_file())
        index = self._index(kind)
        return sorted(index) if index is not None else []

    def read(self, kind: str, name: str) -> bytes:
        folder = self.dir / kind
        if (folder / name).is_file():
            return (folder / name).read_bytes()
        index = self._index(kind)
        if index is None or name not in index:
            raise PrepareError(f"{self.dir.name}: {kind}/{name} is missing (download type '{kind}')")
        return self._zips[kind].read(index[name])

    def close(self) -> None:
        for zf in self._zips.values():
            zf.close()


@dataclass
class View:
    depth_file: str
    K: np.ndarray  # (3, 3)
    pose: np.ndarray  # (4, 4) camera to world


def parse_conf(text: str, origin: str = "") -> dict[str, list[View]]:
    """``<scene>.conf`` -> the views of each panorama, in file order (18 each: 3 cameras × 6 yaws)."""
    views: dict[str, list[View]] = {}
    K: np.ndarray | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "intrinsics_matrix":
                K = np.array([float(v) for v in parts[1:10]]).reshape(3, 3)
            elif parts[0] == "scan":
                if K is None:
                    raise ValueError("scan line before any intrinsics_matrix")
                pose = np.array([float(v) for v in parts[3:19]]).reshape(4, 4)
                views.setdefault(parts[2].split("_")[0], []).append(View(parts[1], K, pose))
        except ValueError as exc:
            raise PrepareError(f"{origin}:{lineno}: malformed camera line ({exc})") from None
    return views


def panorama_frame(centres: np.ndarray) -> np.ndarray:
    """(3, 3) axes (columns x, y, z) of UniFuse's per-panorama frame from the (18, 3) camera centres."""
    centred = centres - centres.mean(0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    if axis[np.argmax(np.abs(axis))] < 0:  # MATLAB pca: the largest component of each axis is positive
        axis = -axis
    towards7 = centred[6] / np.linalg.norm(centred[6])
    y = np.cross(axis, towards7)
    y /= np.linalg.norm(y)
    x = np.cross(y, axis)
    return np.stack([x, y, axis], 1)


def view_angles(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4, 4) camera-to-world poses of one panorama -> PanoBasic's (vx, vy) per view, radians."""
    frame = panorama_frame(poses[:, :3, 3])
    v = poses[:, :3, 2] @ frame  # each pose's third axis in the panorama frame (frame is orthonormal)
    return YAW_OFFSET + np.arctan2(-v[:, 1], v[:, 0]), -np.arcsin(np.clip(v[:, 2], -1.0, 1.0))


def camera_axes(vx: float, vy: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image right, image down and forward of a roll-free view at (vx, vy), in our axes (x right, y up, z fwd)."""
    forward = np.array([math.cos(vy) * math.sin(vx), math.sin(vy), math.cos(vy) * math.cos(vx)])
    right = np.array([math.cos(vx), 0.0, -math.sin(vx)])
    return right, np.cross(right, forward), forward


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # MATLAB's round (half away from zero, for positive x)


def crop_centred(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The largest window centred on the principal point (UniFuse's crop)."""
    h, w = depth.shape
    cx, cy = K[0, 2], K[1, 2]
    new_w, new_h = _round(2 * min(cx, w - cx)), _round(2 * min(cy, h - cy))
    x0 = 0 if w - cx >= cx else w - new_w
    y0 = 0 if h - cy >= cy else h - new_h
    return depth[y0 : y0 + new_h, x0 : x0 + new_w]


def ray_factor(h: int, w: int, fx: float, fy: float, ray_scale: RayScale) -> np.ndarray:
    """(h, w) factor turning z-depth into distance along the ray."""
    cols = np.arange(w) - (w - 1) / 2
    rows = np.arange(h) - (h - 1) / 2
    sx, sy = (w, h) if ray_scale == "unifuse" else (fx, fy)
    return np.sqrt((cols[None, :] / sx) ** 2 + (rows[:, None] / sy) ** 2 + 1.0)


def stitch_depth(
    depths: list[np.ndarray], Ks: list[np.ndarray], vx: np.ndarray, vy: np.ndarray, height: int,
    ray_scale: RayScale = "unifuse",
) -> np.ndarray:
    """Perspective z-depths (metres, 0 = none) -> (height, 2·height) equirect ray distance, views averaged."""
    from repro.geometry import equirect_directions

    dirs = equirect_directions(height, 2 * height, dtype=torch.float64).numpy()
    total = np.zeros((height, 2 * height))
    count = np.zeros((height, 2 * height))
    for depth, K, ax, ay in zip(depths, Ks, vx, vy, strict=True):
        crop = crop_centred(depth, K)
        h, w = crop.shape
        distance = crop * ray_factor(h, w, K[0, 0], K[1, 1], ray_scale)
        right, down, forward = camera_axes(float(ax), float(ay))
        z = dirs @ forward
        ahead = z > 1e-9
        zs = np.where(ahead, z, 1.0)
        col = np.rint(K[0, 0] * (dirs @ right) / zs + (w - 1) / 2)
        row = np.rint(K[0, 0] * (dirs @ down) / zs + (h - 1) / 2)  # PanoBasic: one focal (fx) for both axes
        inside = ahead & (col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)
        sampled = np.zeros_like(total)
        sampled[inside] = distance[row[inside].astype(np.int64), col[inside].astype(np.int64)]
        hit = sampled > 0
        total += np.where(hit, sampled, 0.0)
        count += hit
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def skybox_to_equirect(faces: dict[int, np.ndarray], height: int) -> np.ndarray:
    """Official skybox faces (index -> (w, w, 3) uint8) -> (height, 2·height, 3) uint8 equirect."""
    from repro.geometry import CUBE_FACES, cube_to_equirect

    ours = [np.rot90(faces[SKYBOX_FACES[f][0]], SKYBOX_FACES[f][1]) for f in CUBE_FACES]
    cube = torch.from_numpy(np.stack(ours).astype(np.float32)).permute(0, 3, 1, 2)[None]  # (1, 6, 3, w, w)
    pano = cube_to_equirect(cube, height, 2 * height)[0]
    return pano.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _decode(data: bytes, what: str, mode: str | None = None) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert(mode) if mode else im)
    except (OSError, ValueError) as exc:
        raise PrepareError(f"unreadable {what} ({exc})") from None


def _png16(depth_m: np.ndarray) -> bytes:
    raw = np.rint(depth_m * DEPTH_SCALE)
    raw = np.where((raw < 0) | (raw > 65535), 0, raw).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(raw).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@dataclass
class _Pano:
    scene: SceneFiles
    pano: str
    views: list[View]


def convert_pano(item: _Pano, out: Path, height: int, ray_scale: RayScale = "unifuse") -> bool:
    """Write one panorama's RGB and depth; False when both are already there."""
    from repro.atomic import write_bytes

    scene = item.scene.dir.name
    rgb_path = out / scene / "pano_skybox_color" / f"{item.pano}.jpg"
    depth_path = out / scene / "pano_depth" / f"{item.pano}.png"
    if rgb_path.is_file() and depth_path.is_file():
        return False
    faces = {
        k: _decode(item.scene.read(SKYBOX, f"{item.pano}_skybox{k}_sami.jpg"), f"skybox {k} of {item.pano}", "RGB")
        for k in range(6)
    }
    if len(item.views) != 18:
        raise PrepareError(f"{len(item.views)} depth views in {scene}.conf, expected 18")
    depths = []
    for view in item.views:
        raw = _decode(item.scene.read(DEPTH, view.depth_file), view.depth_file)
        if raw.ndim != 2:
            raise PrepareError(f"{view.depth_file} is not a single-channel 16-bit depth image")
        depths.append(raw.astype(np.float64) / DEPTH_SCALE)
    vx, vy = view_angles(np.stack([v.pose for v in item.views]))
    depth = stitch_depth(depths, [v.K for v in item.views], vx, vy, height, ray_scale)
    write_bytes(depth_path, _png16(depth), fsync=False)
    write_bytes(rgb_path, _jpeg(skybox_to_equirect(faces, height)), fsync=False)  # RGB last: the "done" mark
    return True


def _scene_dirs(source: Path) -> list[Path]:
    return sorted(p for p in source.iterdir() if p.is_dir() and ((p / SKYBOX).is_dir() or (p / f"{SKYBOX}.zip").is_file()))


def _pano_ids(files: SceneFiles) -> list[str]:
    return sorted({n.split("_skybox")[0] for n in files.names(SKYBOX) if "_skybox" in n})


def _count(scene_dir: Path) -> int:
    files = SceneFiles(scene_dir)
    try:
        return len(_pano_ids(files))
    finally:
        files.close()


def _panos(scene_dirs: list[Path]) -> Iterator[_Pano]:
    for scene_dir in scene_dirs:
        files = SceneFiles(scene_dir)
        try:
            conf_name = f"{scene_dir.name}.conf"
            views = parse_conf(files.read(CAMERAS, conf_name).decode(), f"{scene_dir}/{CAMERAS}/{conf_name}")
            for pano in _pano_ids(files):
                yield _Pano(files, pano, views.get(pano, []))
        finally:
            files.close()


def prepare(
    source: Path, out_root: Path, *, height: int = 1024, ray_scale: RayScale = "unifuse", progress: bool = True
) -> PrepareSummary:
    """Stitch every panorama of every scene under ``source`` (``v1/scans``) into ``out_root/matterport3d``."""
    require_dir(source, "the Matterport3D download", "download_mp.py's v1/scans folder")
    scenes = _scene_dirs(source)
    if not scenes:
        raise PrepareError(
            f"no <scene>/{SKYBOX}(.zip) under {source}; download the types {SKYBOX}, {DEPTH} and {CAMERAS} "
            "(see docs/data.md)"
        )
    out = out_root / NAME
    summary = PrepareSummary(NAME, out)
    total = sum(_count(s) for s in scenes)
    run_items(
        _panos(scenes),
        lambda item: convert_pano(item, out, height, ray_scale),
        summary,
        desc="matterport3d",
        total=total,
        progress=progress,
        name=lambda item: f"{item.scene.dir.name}/{item.pano}",
    )
    summary.notes.append(f"{len(scenes)} scene(s), panoramas at {height}x{2 * height}, depth ray scale {ray_scale}")
    return summary
