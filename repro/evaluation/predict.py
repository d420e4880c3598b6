"""In-the-wild prediction (paper Figs. 7–8): depth PNG, colour preview and point cloud per panorama.

Every output is at the input image's resolution: the image is resized (bicubic) to the network's
input size, and the network's output map (disparity, or metres for a metric model) is resized back
with bilinear interpolation (antialiased when shrinking) before it is turned into depth. An input
whose width is not twice its height (within :data:`ASPECT_TOLERANCE`) is not an equirectangular
panorama and is refused with a :class:`~repro.errors.UserError` naming the file and its size.

For each input panorama ``NAME.*`` under ``out_dir`` (in the panorama's folder relative to the
inputs' common folder, so Structured3D's many ``rgb_rawlight.png`` keep their own outputs; one
folder of inputs gives the flat layout; :mod:`repro.evaluation.naming`):

* ``NAME_depth.png`` — 16-bit depth. A metric model (``metric`` checkpoints, Table 5) writes
  millimetres. A relative model predicts affine-invariant disparity, whose shift is unknown; we
  invert it with a floor at 1/1000 of its maximum (so depth spans at most 1000:1), scale it so the
  farthest pixel is 65535 and record the scale: the values are depth *up to scale*.
* ``NAME_preview.png`` — the disparity colour-mapped (near = warm), for looking at, with a colour
  bar below it labelled in depth (metres, or the relative units of ``NAME_depth.png``).
* ``NAME.ply`` — a coloured point cloud (binary PLY, x right, y up, z forward — the project's
  axes), each pixel's ray (:func:`repro.geometry.equirect_directions`) times its depth.
* ``NAME.json`` — what the PNG values mean (kind, metres or relative units per count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
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
ASPECT_TOLERANCE = 0.01  # |W/H - 2| / 2: stitchers often write a 2H±1-pixel width (1181×591)


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


def check_panorama_size(image: Path, width: int, height: int) -> None:
    """An equirectangular panorama is 2:1; anything else would be silently stretched."""
    if height <= 0 or abs(width / height - 2.0) > 2.0 * ASPECT_TOLERANCE:
        raise UserError(
            f"{image} is {width}×{height} pixels, not an equirectangular panorama: its width must be "
            f"twice its height (within {ASPECT_TOLERANCE:.0%}); crop or pad it to 2:1 first"
        )


def resize_prediction(pred: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The network's (h, w) output map -> (H, W) of the input image: bilinear, antialiased when shrinking."""
    if tuple(pred.shape[-2:]) == tuple(size):
        return pred
    up = F.interpolate(pred[None, None].float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return up[0, 0]


def colorize(disparity: torch.Tensor) -> np.ndarray:
    """Colour-mapped disparity (H, W, 3) uint8, min–max normalised (near = warm)."""
    from matplotlib import colormaps

    d = disparity.float()
    d = (d - d.min()) / (d.max() - d.min()).clamp_min(1e-12)
    return (colormaps["turbo"](d.numpy())[..., :3] * 255).round().astype(np.uint8)


def colour_bar(depth_min: float, depth_max: float, width: int, label: str) -> np.ndarray:
    """A horizontal colour bar (h, width, 3) uint8 for :func:`colorize`, ticked in depth.

    The preview is linear in disparity, so the bar's axis is too (a ``FuncNorm`` on ``-1/depth``):
    each colour sits above the depth it stands for.
    """
    from matplotlib import colorbar, colormaps, colors
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    depth_min = max(depth_min, 1e-12)
    depth_max = max(depth_max, depth_min * (1 + 1e-6))
    norm = colors.FuncNorm(
        (lambda d: -1.0 / np.maximum(d, 1e-12), lambda v: -1.0 / np.minimum(v, -1e-12)),
        vmin=depth_min,
        vmax=depth_max,
    )
    dpi = 100
    fig = Figure(figsize=(width / dpi, 0.8), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0.04, 0.55, 0.92, 0.3))
    bar = colorbar.Colorbar(ax, cmap=colormaps["turbo_r"], norm=norm, orientation="horizontal")
    bar.set_label(label, fontsize=8, labelpad=1)
    ax.tick_params(labelsize=7, length=2, pad=1)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def preview(depth: torch.Tensor, label: str) -> np.ndarray:
    """The colour-mapped disparity (1/depth) at full size, its colour bar below (at least 480 px wide)."""
    valid = depth[(depth > 0) & torch.isfinite(depth)]
    image = colorize(1.0 / depth.clamp_min(1e-12))
    h, w, _ = image.shape
    if valid.numel() == 0:
        return image
    bar = colour_bar(float(valid.min()), float(valid.max()), max(w, 480), label)
    canvas = np.full((h + bar.shape[0], max(w, bar.shape[1]), 3), 255, dtype=np.uint8)
    left = (canvas.shape[1] - w) // 2
    canvas[:h, left : left + w] = image
    canvas[h:, : bar.shape[1]] = bar
    return canvas


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
            rgb = read_rgb(image)
        except DataError as exc:
            raise UserError(str(exc)) from None
        height, width = rgb.shape[-2:]
        check_panorama_size(image, width, height)
        net_input = resize_rgb(rgb, size)  # type: ignore[arg-type]
        with torch.inference_mode():
            pred = model(imagenet_normalize(net_input[None].to(device)))[0, 0].float().cpu()
        depth = to_depth(resize_prediction(pred, (height, width)), meta["output_kind"])
        counts, per_count = depth_png(depth, metric)
        stem = out_dir / key
        files = {
            "depth_png": stem.with_name(f"{stem.name}_depth.png"),
            "preview_png": stem.with_name(f"{stem.name}_preview.png"),
            "ply": stem.with_name(f"{stem.name}.ply"),
        }
        _save_png(counts, files["depth_png"])
        label = "depth (m)" if metric else "relative depth, up to scale (= depth PNG value × units_per_count)"
        _save_png(preview(depth, label), files["preview_png"])
        write_ply(files["ply"], *point_cloud(depth, rgb))
        record = {
            "image": str(image),
            "kind": "metric" if metric else "relative (up to scale)",
            ("metres_per_count" if metric else "units_per_count"): per_count,
            "input_size": list(size),  # the network's input; the outputs are at output_size
            "output_size": [height, width],
            "checkpoint": str(checkpoint),
            **{k: str(v) for k, v in files.items()},
        }
        write_json(stem.with_name(f"{stem.name}.json"), record)
        records.append(record)
    return records
