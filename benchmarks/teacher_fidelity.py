"""Teacher fidelity: the price of bf16, and (given the original code) our network against the original.

Not a speed benchmark (``run_all.py`` runs ``bench_*.py`` only); it prints the numbers that
docs/models.md quotes, with the command that produced them.

* ``bf16``: Depth Anything of a real size (ViT-S by default; ``--arch tiny`` the 2-block toy),
  randomly initialised, on the six cube faces of procedural synthetic panoramas resized to 518²:
  fp32 vs bf16 autocast and vs bf16-held weights (``precision: bf16_weights``), for the network
  output (relative to its range) and for the min–max normalised pseudo-label targets.
* ``resize``: the output-resize modes against each other on true disparity maps of synthetic faces.
* ``parity`` (needs ``--original PATH``, a checkout of github.com/LiheYoung/Depth-Anything): an
  original network, randomly initialised, mapped into our teacher through the published
  conversion rules; the difference relative to the original's range at 518², 224², 112×224 and
  518×1036, with the original DINOv2 position-embedding resize and with Hugging Face's.

    python benchmarks/teacher_fidelity.py bf16 --arch small --panoramas 1
    python benchmarks/teacher_fidelity.py bf16 --arch tiny --panoramas 2
    python benchmarks/teacher_fidelity.py resize --panoramas 2
    DEPTH_ANYTHING_SRC=... python benchmarks/teacher_fidelity.py parity --arch small
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(518, 518), (224, 224), (112, 224), (518, 1036)]


def _range_rel(a: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """(max, mean) |a − ref| over the range of ref."""
    span = ref.max() - ref.min()
    d = (a - ref).abs()
    return float(d.max() / span), float(d.mean() / span)


def cube_faces(n_panos: int, face: int) -> torch.Tensor:
    from repro.data.synth import render_panorama
    from repro.geometry import equirect_to_cube

    panos = torch.stack([render_panorama(seed=i, height=face * 2).rgb for i in range(n_panos)])
    return equirect_to_cube(panos, face).flatten(0, 1).clamp(0, 1)


def bf16_price(arch: str, n_panos: int, face: int) -> None:
    """fp32 vs bf16 autocast vs bf16-held weights, same random weights, same faces."""
    from repro.geometry.disparity import normalize_01
    from repro.teacher import DEPTH_ANYTHING_IDS, DepthAnythingTeacher

    model_id = "tiny" if arch == "tiny" else DEPTH_ANYTHING_IDS[f"depth-anything-v1-{arch}"]
    faces = cube_faces(n_panos, face)
    out = {}
    for precision in ("fp32", "bf16", "bf16_weights"):
        torch.manual_seed(0)  # the same weights each time (bf16_weights casts them in place)
        teacher = DepthAnythingTeacher.from_pretrained(model_id, random_init=True, chunk_size=2, precision=precision)
        raw = teacher.raw_disparity(faces)
        out[precision] = (raw, normalize_01(raw))  # what predict_faces returns, without a second pass
    raw32, tgt32 = out["fp32"]
    name = "tiny ViT (2 blocks, width 32)" if arch == "tiny" else f"ViT-{arch[0].upper()}"
    print(f"{name} random init, {faces.shape[0]} cube faces {face}² -> 518², CPU, against fp32")
    for precision in ("bf16", "bf16_weights"):
        raw16, tgt16 = out[precision]
        net_max, net_mean = _range_rel(raw16, raw32)
        per_face = (raw16 - raw32).abs().flatten(1).amax(1) / (raw32.flatten(1).amax(1) - raw32.flatten(1).amin(1))
        d = (tgt16 - tgt32).abs()
        print(f"  {precision}: network output max |Δ| / range {net_max:.2e} (worst face {per_face.max():.2e}), "
              f"mean {net_mean:.2e}; normalised targets [0, 1]: max |Δ| {d.max():.2e}, mean |Δ| {d.mean():.2e}, "
              f"99th percentile {d.flatten().quantile(0.99):.2e}")  # fmt: skip


def output_resize(n_panos: int) -> None:
    """The output-resize modes on realistic maps: true disparity of synthetic cube faces at 518², to 256²."""
    from repro.data.synth import render_panorama
    from repro.geometry import equirect_to_cube
    from repro.geometry.disparity import normalize_01
    from repro.teacher.depth_anything import resize

    panos = [render_panorama(seed=i, height=1036) for i in range(n_panos)]
    dist = torch.stack([p.distance for p in panos])
    faces = equirect_to_cube(dist, 518, mode="nearest").flatten(0, 1)
    disp = normalize_01(torch.where(faces > 0, 1 / faces.clamp(min=1e-3), torch.zeros_like(faces)))
    maps = {m: resize(disp, (256, 256), m) for m in ("bilinear", "bilinear_antialias", "nearest")}
    print(f"output resize 518² -> 256² on {disp.shape[0]} true-disparity cube faces (range [0, 1]): |Δ| max / 99th pct / mean")
    for a, b in (("bilinear", "bilinear_antialias"), ("bilinear", "nearest")):
        d = (maps[a] - maps[b]).abs()
        print(f"  {a} vs {b}: {d.max():.2e} / {d.flatten().quantile(0.99):.2e} / {d.mean():.2e}")


def parity(arch: str, src: str) -> None:
    sys.path.insert(0, str(ROOT))
    from repro.teacher import DEPTH_ANYTHING_IDS, DepthAnythingTeacher, load_original_weights
    from repro.teacher.pos_embed import use_pos_embed
    from tests.test_teacher_original import build_original, teacher_from

    if arch == "tiny":
        original = build_original(src)
        teacher = teacher_from(original.state_dict())
    else:
        root = Path(src).resolve()
        sys.path[:0] = [str(root)]
        from depth_anything.dpt import DPT_DINOv2

        dims = {"small": (64, [48, 96, 192, 384]), "base": (128, [96, 192, 384, 768])}[arch]
        cwd = os.getcwd()
        os.chdir(root)  # the original loads its DINOv2 through torch.hub from a relative path
        try:
            torch.manual_seed(0)
            original = DPT_DINOv2(encoder=f"vit{arch[0]}", features=dims[0], out_channels=dims[1]).eval()
        finally:
            os.chdir(cwd)
        teacher = DepthAnythingTeacher.from_pretrained(DEPTH_ANYTHING_IDS[f"depth-anything-v1-{arch}"], random_init=True)
        load_original_weights(teacher.model, original.state_dict())
    print(f"{arch}: our teacher's network vs the original Depth Anything, random weights, max |Δ| / range")
    for size in SIZES:
        x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            ref = original(x).unsqueeze(1)
        row = []
        for mode in ("original", "transformers"):
            use_pos_embed(teacher.model, mode)
            row.append(f"pos_embed={mode}: {_range_rel(teacher.network(x), ref)[0]:.1e}")
        print(f"  {size[0]}×{size[1]}: " + ", ".join(row))
    use_pos_embed(teacher.model, "original")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["bf16", "parity", "resize"])
    p.add_argument("--arch", default="small", choices=["tiny", "small", "base", "large"])
    p.add_argument("--panoramas", type=int, default=1, help="bf16: panoramas (6 cube faces each)")
    p.add_argument("--face", type=int, default=256, help="bf16: cube face size")
    p.add_argument("--original", default=os.environ.get("DEPTH_ANYTHING_SRC"), help="parity: the original code")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    if args.what == "resize":
        output_resize(args.panoramas)
    elif args.what == "bf16":
        bf16_price(args.arch, args.panoramas, args.face)
    elif not args.original:
        p.error("parity needs --original PATH (or DEPTH_ANYTHING_SRC): a checkout of LiheYoung/Depth-Anything")
    else:
        parity(args.arch, args.original)


if __name__ == "__main__":
    main()
