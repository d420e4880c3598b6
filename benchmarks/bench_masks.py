"""Mask generation throughput (images/s): the whole resumable pipeline, batch 1 vs batched, same run.

Randomly initialised Grounding DINO + SAM (no download): on CPU the toy sizes, which measure the
pipeline itself (decode, detect, segment, PNG + manifest writes); on CUDA the real architectures
(Swin-T Grounding DINO + ViT-H SAM) on 512×1024 panoramas. Every box threshold is 0 so each image
goes through SAM (random detectors find nothing at the paper's 0.3).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_label, parser, report

from repro.masks import generate_masks
from repro.masks.random_init import random_grounded_sam


def write_panoramas(root: Path, n: int, h: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (h, 2 * h, 3), dtype=np.uint8)).save(root / f"pano_{i:03d}.jpg")


def run(images: Path, backend, batch_size: int, workers: int) -> float:
    out = Path(tempfile.mkdtemp(prefix="bench_masks_"))
    try:
        t0 = time.perf_counter()
        summary = generate_masks(images, out, backend, batch_size=batch_size, num_workers=workers, progress=False)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return summary.written / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    cuda = torch.cuda.is_available()
    size = "real" if cuda else "tiny"
    h = 512 if cuda else (64 if args.quick else 256)
    n = (8 if args.quick else 32) if cuda else (8 if args.quick else 24)
    torch.manual_seed(0)
    backend = random_grounded_sam(size, box_threshold=0.0, text_threshold=0.0)
    images = Path(tempfile.mkdtemp(prefix="bench_masks_img_"))
    rows, figures = [], {}
    try:
        write_panoramas(images, n, h)
        run(images, backend, 1, 0)  # warm-up (lazy init, kernels)
        base = None
        for batch, workers in ((1, 0), (4, 0), (4, 2)):
            ips = run(images, backend, batch, workers)
            base = base or ips
            rows.append({"models": size, "batch": batch, "workers": workers, "images/s": ips, "vs batch 1": ips / base})
            figures[f"images_per_s_b{batch}_w{workers}"] = ips
        if cuda:
            figures["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    finally:
        shutil.rmtree(images, ignore_errors=True)
    figures["speedup_batched"] = rows[1]["images/s"] / rows[0]["images/s"]
    where = device_label()
    report(
        f"mask generation, {n} panoramas {h}x{2 * h}, {size} random Grounding DINO + SAM, {where}",
        rows,
        args.json,
        figures=figures,
    )


if __name__ == "__main__":
    main()
