"""Student networks: forward+backward time per training step, and peak CUDA memory.

Each student at 512×1024 with its official labeled batch per step (UniFuse 3, BiFuse++ 4,
HoHoNet 2, EGformer 2; the Equi baseline like UniFuse, 3), fp32, train mode, random weights.
A step is zero-grad + forward + mean loss + backward (no optimiser update). On CPU the figures
that carry over between machines are the ratios against UniFuse measured in the same run; on
CUDA the absolute milliseconds and peak allocated memory are reported too. ``--quick``: 128×256,
one timed repeat.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, report, timeit  # noqa: E402

from repro.models import build_student, parameter_counts  # noqa: E402

#: labeled images per step in each network's official recipe (Depth Anywhere configs)
BATCH = {"unifuse": 3, "bifusepp": 4, "hohonet": 2, "egformer": 2, "equi": 3}


def step_time(name: str, height: int, batch: int, device: torch.device, repeat: int) -> tuple[float, float | None]:
    """(median ms per step, peak CUDA MiB or None)."""
    torch.manual_seed(0)
    model = build_student(name, height=height, width=2 * height).to(device).train()
    x = torch.randn(batch, 3, height, 2 * height, device=device)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).mean().backward()

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    ms = timeit(step, repeat=repeat, warmup=1, sync=cuda)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    return ms, peak


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    height, repeat = (128, 1) if args.quick else (512, 3)
    rows, figures, per_image = [], {}, []
    for name, batch in BATCH.items():
        ms, peak = step_time(name, height, batch, device, repeat)
        params = parameter_counts(name)[1]
        row = {"student": name, "batch": batch, "input": f"{height}x{2 * height}", "params (M, 512x1024)": params / 1e6}
        row.update({"ms/step": round(ms), "ms/image": round(ms / batch)})
        if peak is not None:
            row["peak MiB"] = peak
        rows.append(row)
        per_image.append(ms / batch)
        print(f"{name}: {ms:.0f} ms/step", flush=True)
    for row, ms_image in zip(rows, per_image):
        row["per image vs unifuse"] = round(ms_image / per_image[0], 2)
        figures[f"{row['student']}_per_image_vs_unifuse"] = row["per image vs unifuse"]
        if device.type == "cuda":
            figures[f"{row['student']}_ms_per_step"] = row["ms/step"]
            figures[f"{row['student']}_peak_mib"] = round(row["peak MiB"])
    title = f"Student forward+backward per training step ({device.type}, fp32, official batch sizes)"
    report(title, rows, args.json, figures=figures, height=height, device=device.type)


if __name__ == "__main__":
    main()
