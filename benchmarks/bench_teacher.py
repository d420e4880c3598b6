"""Teacher throughput: Depth Anything on 6·B cube faces, chunked batches vs a per-face loop, same run.

Also the cheapest faithful form against the released one: weights held in bf16 (``precision:
bf16_weights``, SDPA attention) with all faces in one call, vs fp32 one face per call — on a CPU
that says little about a GPU (CPUs without bf16 matrix units run bf16 slower); ``make gpu-profile``
gives the GPU figure.

Randomly initialised weights of the real architectures (no download): throughput does not depend
on the weights. On CPU, ViT-S at a reduced input size (the full 518² would take minutes on a
laptop core); on CUDA, ViT-S/B/L at 518² in fp32 and bf16 autocast, with peak GPU memory.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_label, parser, report, timeit

from repro.teacher import DEPTH_ANYTHING_IDS, DepthAnythingTeacher


def measure(teacher: DepthAnythingTeacher, faces: torch.Tensor, repeat: int, cuda: bool) -> dict[str, float]:
    """Loop and batched runs alternate, so a machine shared with other work slows both alike."""
    n = faces.shape[0]
    modes = {"loop": 1, "batched": n}
    times: dict[str, list[float]] = {m: [] for m in modes}
    peaks: dict[str, float] = {}
    for chunk in modes.values():  # warm-up: kernels, allocator, autocast caches
        teacher.chunk_size = chunk
        teacher.predict_faces(faces)
    for _ in range(repeat):
        for mode, chunk in modes.items():
            teacher.chunk_size = chunk
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            times[mode].append(timeit(lambda: teacher.predict_faces(faces), repeat=1, warmup=0, sync=cuda))
            if cuda:
                peaks[mode] = torch.cuda.max_memory_allocated() / 2**20
    out: dict[str, float] = {}
    for mode in modes:
        out[f"{mode}_faces_per_s"] = n / (statistics.median(times[mode]) / 1e3)
        if cuda:
            out[f"{mode}_peak_mib"] = peaks[mode]
    out["speedup"] = out["batched_faces_per_s"] / out["loop_faces_per_s"]
    return out


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        archs = ["small"] if args.quick else ["small", "base", "large"]
        precisions, input_size, faces_n, face_w, repeat = ["fp32", "bf16"], 518, 12, 256, 3 if args.quick else 5
    else:
        archs, precisions = ["small"], ["fp32"]
        input_size, faces_n, face_w, repeat = (98, 6, 64, 3) if args.quick else (196, 12, 128, 5)
    faces = torch.rand(faces_n, 3, face_w, face_w, device=device)
    rows, figures = [], {}
    for arch in archs:
        model_id = DEPTH_ANYTHING_IDS[f"depth-anything-v1-{arch}"]
        teacher = DepthAnythingTeacher.from_pretrained(model_id, random_init=True, input_size=input_size).to(device)
        for precision in precisions:
            teacher.precision = precision
            res = measure(teacher, faces, repeat, cuda)
            row = {"arch": f"ViT-{arch[0].upper()}", "input": input_size, "faces": faces_n, "precision": precision}
            row.update({k: round(v, 3) for k, v in res.items()})
            rows.append(row)
            figures[f"{arch}_{precision}_speedup_batched_vs_loop"] = res["speedup"]
            figures[f"{arch}_{precision}_batched_faces_per_s"] = res["batched_faces_per_s"]
        cheap = DepthAnythingTeacher.from_pretrained(
            model_id, random_init=True, input_size=input_size, precision="bf16_weights", chunk_size=faces_n
        ).to(device)
        teacher.precision, teacher.chunk_size = "fp32", 1
        fp32_loop, bf16_batched = [], []
        for _ in range(repeat):  # alternating, so a shared machine slows both alike
            fp32_loop.append(timeit(lambda: teacher.predict_faces(faces), repeat=1, warmup=0, sync=cuda))
            bf16_batched.append(timeit(lambda: cheap.predict_faces(faces), repeat=1, warmup=1, sync=cuda))
        ratio = statistics.median(fp32_loop) / statistics.median(bf16_batched)
        rows.append({"arch": f"ViT-{arch[0].upper()}", "input": input_size, "faces": faces_n,
                     "precision": "bf16_weights batched vs fp32 per-face",
                     "batched_faces_per_s": round(faces_n / (statistics.median(bf16_batched) / 1e3), 3),
                     "loop_faces_per_s": round(faces_n / (statistics.median(fp32_loop) / 1e3), 3),
                     "speedup": round(ratio, 3)})  # fmt: skip
        figures[f"{arch}_bf16_weights_batched_vs_fp32_loop_speedup"] = ratio
        del teacher, cheap
        if cuda:
            torch.cuda.empty_cache()
    where = device_label()
    report(
        f"Depth Anything teacher on {faces_n} faces of {face_w}² -> {input_size}², {where}",
        rows,
        args.json,
        figures=figures,
    )


if __name__ == "__main__":
    main()
