"""In-the-wild prediction (paper Figs. 7–8): depth PNG, colour preview and point cloud per panorama.

For each input panorama ``NAME.*`` under ``out_dir`` (in the panorama's folder relative to the
inputs' common folder, so Structured3D's many ``rgb_rawlight.png`` keep their own outputs; one
folder of inputs gives the flat layout; :mod:`repro.evaluation.naming`):

* ``NAME_depth.png`` — 16-bit depth. A metric model (``metric`` checkpoints, Table 5) writes
  millimetres. A relative model predicts affine-invariant disparity, whose shift is unknown; we
  invert it with a floor at 1/1000 of its maximum (so depth spans at most 1000:1), scale it so the
  farthest pixel is 65535 and record the scale: the values are depth *up to scale*.
* ``NAME_preview.png`` — the disparity colour-mapped (near = warm), for looking at.
* ``NAME.ply`` — a coloured point cloud (binary PLY, x right, y up, z forward — the project's
  axes), each pixel's ray (:func:`repro.geometry.equirect_directions`) times its depth.
* ``NAME.json`` — what the PNG values mean (kind, metres or relative units per count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from repro.atomic import write_bytes, write_json, write_png
from repro.devices import pick_device
from repro.errors import UserError
from repro.evaluation.naming import output_keys
from repro.geometry import equirect_directions
from repro.progress import progress_bar

RELATIVE_FLOOR = 1e-3  # disparity floor as a fraction of the map's maximum (depth range ≤ 1000:1)
MM = 1000.0
PNG_MAX = 65535


def to_depth(pred: torch.Tensor, output_kind: str) -> torch.Tensor:
    """Prediction (H, W) -> depth (H, W): metric as is; disparity inverted above a relative floor."""
    pred = pred.float()
    if output_kind == "depth":
        return pred.clamp_min(0)
    floor = RELATIVE_FLOOR * pred.max().clamp_min(1e-12)
    return 1.0 / pred.clamp_min(floor)


def depth_png(depth: torch.Tensor, metric: bool) -> tuple[np.ndarray, float]:
    """(uint16 image, metres-or-units per count)."""
    if metric:
        per_count = 1.0 / MM
    else:
        per_count = float(depth.max()) / PNG_MAX if float(depth.max()) > 0 else 1.0
    counts = (depth / per_count).round().clamp(0, PNG_MAX)
    return counts.to(torch.int32).numpy().astype(np.uint16), per_count


def preview(disparity: torch.Tensor) -> np.ndarray:
    """Colour-mapped disparity (H, W, 3) uint8, min–max normalised."""
    from matplotlib import colormaps

    d = disparity.float()
    d = (d - d.min()) / (d.max() - d.min()).clamp_min(1e-12)
    return (colormaps["turbo"](d.numpy())[..., :3] * 255).round().astype(np.uint8)


def write_ply(path: Path, points: np.ndarray, colors: np.ndarray) -> None:
    """Binary little-endian PLY with float xyz and uchar rgb per vertex (written atomically)."""
    n = len(points)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment repro predict: x right, y up, z forward\n"
        f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    vertex = np.empty(n, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vertex["xyz"] = points
    vertex["rgb"] = colors
    write_bytes(path, header.encode("ascii") + vertex.tobytes())


def point_cloud(depth: torch.Tensor, rgb: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Depth (H, W) along each ray and RGB (3, H, W) in [0, 1] -> valid points (N, 3), colours (N, 3)."""
    h, w = depth.shape
    dirs = equirect_directions(h, w, dtype=torch.float32)
    points = dirs * depth[..., None]
    valid = (depth > 0) & torch.isfinite(depth)
    colors = (rgb.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8)
    return points[valid].numpy(), colors[valid].numpy()


def _save_png(array: np.ndarray, path: Path) -> None:
    write_png(path, Image.fromarray(array))


def predict(
    images: list[str | Path],
    *,
    checkpoint: str | Path,
    out_dir: str | Path,
    student: Any = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run a trained student on each panorama; returns one record per image (its output files)."""
    from repro.data.base import DataError, read_rgb, resize_rgb
    from repro.data.transforms import imagenet_normalize
    from repro.models import load_student

    paths = [Path(p) for p in images]
    for image in paths:
        if not image.is_file():
            raise UserError(f"no such panorama: {image}")
    keys = output_keys(paths)
    from repro.preflight import check_output_dir

    check_output_dir(out_dir, "prediction output folder", need_space=False)
    device = pick_device(device)
    model, meta = load_student(checkpoint, student, device)
    size = tuple(meta["input_size"])
    metric = meta["output_kind"] == "depth"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for image, key in progress_bar(list(zip(paths, keys, strict=True)), desc="predict", unit="image", enabled=progress):
        try:
            full = read_rgb(image)
        except DataError as exc:
            raise UserError(str(exc)) from None
        h, w = full.shape[-2:]
        if abs(w - 2 * h) > 2:  # a rounding pixel is fine; anything else would be stretched silently
            raise UserError(f"panorama {image} is {h}x{w}: an equirectangular panorama has W = 2H")
        rgb = resize_rgb(full, size)  # type: ignore[arg-type]
        with torch.inference_mode():
            pred = model(imagenet_normalize(rgb[None].to(device)))[0, 0].float().cpu()
        depth = to_depth(pred, meta["output_kind"])
        disparity = 1.0 / depth.clamp_min(1e-12) if metric else pred
        counts, per_count = depth_png(depth, metric)
        stem = out_dir / key
        files = {
            "depth_png": stem.with_name(f"{stem.name}_depth.png"),
            "preview_png": stem.with_name(f"{stem.name}_preview.png"),
            "ply": stem.with_name(f"{stem.name}.ply"),
        }
        _save_png(counts, files["depth_png"])
        _save_png(preview(disparity), files["preview_png"])
        write_ply(files["ply"], *point_cloud(depth, rgb))
        record = {
            "image": str(image),
            "kind": "metric" if metric else "relative (up to scale)",
            ("metres_per_count" if metric else "units_per_count"): per_count,
            "input_size": list(size),
            "checkpoint": str(checkpoint),
            **{k: str(v) for k, v in files.items()},
        }
        write_json(stem.with_name(f"{stem.name}.json"), record)
        records.append(record)
    return records
