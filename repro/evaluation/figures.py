"""The paper's qualitative comparison (Figs. 7, 8, 12) for any set of checkpoints.

One sheet (``comparison.png``): a row per panorama — the RGB input, each model's depth on one
shared colour scale with a colourbar, and a rendered point-cloud view per model (ceiling removed,
seen from above and behind the camera, as the paper's point-cloud figures). Per panorama and
model, :mod:`repro.evaluation.predict`'s outputs at the input image's own resolution: 16-bit depth
PNG (+ ``.json`` saying what a count means) and a coloured PLY.

Relative (affine-invariant) models predict disparity up to an unknown scale and shift; their depth
is shown divided by its median, so maps of different models share one scale (the colourbar says
"relative depth, median = 1"). Metric models are shown in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from repro.atomic import write_bytes, write_json
from repro.errors import UserError
from repro.evaluation.predict import depth_png, point_cloud, to_depth, write_ply
from repro.geometry import equirect_directions

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CEILING_ELEVATION_DEG = 25.0  # points seen above this elevation are dropped from the cloud views
VIEW_SIZE = (360, 480)  # rendered point-cloud view, rows × columns
CMAP = "turbo"


@dataclass
class FigureModel:
    """A loaded network and how to call it."""

    label: str
    model: torch.nn.Module
    meta: dict[str, Any]  # input_size, output_kind (as load_student / load_released return)
    source: str


def panoramas(paths: list[Path]) -> list[Path]:
    """The images of each folder (sorted), or the files themselves."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UserError(f"{p}: no .png/.jpg panoramas in this folder")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"no such panorama or folder: {p}")
    return out


def predict_native(fm: FigureModel, rgb: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Depth (H0, W0) at the image's own resolution: the network at its size, its output resized back."""
    from repro.data.base import resize_rgb
    from repro.data.transforms import imagenet_normalize

    size = tuple(fm.meta["input_size"])
    with torch.inference_mode():
        pred = fm.model(imagenet_normalize(resize_rgb(rgb, size)[None].to(device))).float().cpu()  # type: ignore[arg-type]
    pred = F.interpolate(pred, size=tuple(rgb.shape[-2:]), mode="bilinear", align_corners=False)[0, 0]
    return to_depth(pred, fm.meta["output_kind"])


def render_cloud(depth: torch.Tensor, rgb: torch.Tensor, size: tuple[int, int] = VIEW_SIZE) -> np.ndarray:
    """(rows, cols, 3) uint8: the coloured point cloud, ceiling removed, from above and behind the camera."""
    h, w = depth.shape
    step = max(1, h // 256)
    d = depth[::step, ::step]
    dirs = equirect_directions(h, w, dtype=torch.float32)[::step, ::step]
    colours = rgb[:, ::step, ::step].permute(1, 2, 0).clamp(0, 1)
    keep = (d > 0) & torch.isfinite(d) & (dirs[..., 1] < math.sin(math.radians(CEILING_ELEVATION_DEG)))
    pts = (dirs * d[..., None])[keep].numpy().astype(np.float64)
    cols = (colours[keep].numpy() * 255).astype(np.uint8)
    out = np.full((*size, 3), 255, np.uint8)
    if len(pts) == 0:
        return out
    scale = float(np.median(np.linalg.norm(pts, axis=1)))
    eye = np.array([0.0, 2.6, -1.3]) * scale  # above and a little behind: looking down into the room
    forward = -eye / np.linalg.norm(eye)
    right = np.cross(np.array([0.0, 1.0, 0.0]), forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    rel = pts - eye
    z = rel @ forward
    front = z > 1e-6
    rel, z, cols = rel[front], z[front], cols[front]
    f = 0.9 * size[1]
    u = (rel @ right) / z * f + size[1] / 2
    v = -(rel @ up) / z * f + size[0] / 2
    inside = (u >= 0) & (u < size[1] - 1) & (v >= 0) & (v < size[0] - 1)
    u, v, z, cols = u[inside].astype(int), v[inside].astype(int), z[inside], cols[inside]
    order = np.argsort(-z)  # far first: near points are written last and stay on top
    u, v, cols = u[order], v[order], cols[order]
    splat = int(np.clip(round(math.sqrt(size[0] * size[1] / max(len(u), 1))), 2, 5))  # close the gaps
    for du in range(splat):
        for dv in range(splat):
            out[np.minimum(v + dv, size[0] - 1), np.minimum(u + du, size[1] - 1)] = cols
    return out


def _display(depth: torch.Tensor, metric: bool) -> np.ndarray:
    if metric:
        return depth.numpy()
    valid = depth[(depth > 0) & torch.isfinite(depth)]
    med = float(valid.median()) if valid.numel() else 1.0
    return (depth / med).numpy()


def write_outputs(stem: str, fm: FigureModel, depth: torch.Tensor, rgb: torch.Tensor, out_dir: Path) -> dict[str, str]:
    """Depth PNG (+ json) and PLY of one model on one panorama, at the panorama's resolution."""
    metric = fm.meta["output_kind"] == "depth"
    counts, per_count = depth_png(depth, metric)
    base = out_dir / f"{stem}_{fm.label}"
    from PIL import Image

    from repro.atomic import write_png

    files = {"depth_png": f"{base}_depth.png", "ply": f"{base}.ply"}
    write_png(Path(files["depth_png"]), Image.fromarray(counts))
    write_ply(Path(files["ply"]), *point_cloud(depth, rgb))
    record = {"model": fm.source, "kind": "metric" if metric else "relative (up to scale)",
              ("metres_per_count" if metric else "units_per_count"): per_count, "size": list(depth.shape), **files}
    write_json(base.with_suffix(".json"), record)
    return files


def comparison_sheet(images: list[Path], models: list[FigureModel], out_dir: str | Path,
                     device: str | torch.device = "cpu") -> Path:
    """Predict with every model on every panorama, write per-image outputs and ``comparison.png``."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repro.data.base import read_rgb

    if not models:
        raise UserError("no checkpoints to compare")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    for fm in models:
        fm.model.to(device).eval()
    metric = all(fm.meta["output_kind"] == "depth" for fm in models)
    n = len(models)
    widths = [2.0] * (n + 1) + [0.08, 0.34] + [1.0] * n  # images, colourbar, room for its labels, square clouds
    fig = plt.figure(figsize=(sum(widths) * 2.1 + 0.6, 2.1 * len(images) + 0.5), dpi=160)
    grid = fig.add_gridspec(len(images), len(widths), width_ratios=widths, wspace=0.04, hspace=0.08)
    for row, image in enumerate(images):
        rgb = read_rgb(image)
        depths = [predict_native(fm, rgb, device) for fm in models]
        for fm, depth in zip(models, depths, strict=True):
            write_outputs(image.stem, fm, depth, rgb, out_dir)
        shown = [_display(d, metric) for d in depths]
        finite = np.concatenate([s[np.isfinite(s) & (s > 0)] for s in shown])
        lo, hi = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(rgb.permute(1, 2, 0).numpy())
        ax.set_ylabel(image.stem, fontsize=8)
        _clean(ax, "Input" if row == 0 else None)
        im = None
        for i, (fm, s) in enumerate(zip(models, shown, strict=True)):
            ax = fig.add_subplot(grid[row, 1 + i])
            im = ax.imshow(s, cmap=CMAP, vmin=lo, vmax=hi)
            _clean(ax, fm.label if row == 0 else None)
        cax = fig.add_subplot(grid[row, n + 1])
        bar = fig.colorbar(im, cax=cax)
        bar.ax.tick_params(labelsize=6)
        # as many decimals as the range needs, so neighbouring ticks never read the same
        decimals = max(0, int(np.ceil(-np.log10(max(float(hi - lo), 1e-12) / 4))))
        bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter(f"%.{decimals}f"))
        bar.set_label("depth (m)" if metric else "relative depth\n(median = 1)", fontsize=6)
        for i, (fm, depth) in enumerate(zip(models, depths, strict=True)):
            ax = fig.add_subplot(grid[row, n + 3 + i])
            ax.imshow(render_cloud(depth, rgb))
            _clean(ax, f"{fm.label}: point cloud" if row == 0 else None)
    sheet = out_dir / "comparison.png"
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    write_bytes(sheet, buffer.getvalue())
    return sheet


def _clean(ax: Any, title: str | None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=8)
