"""`repro demo`: rotated cube faces of a built-in panorama, a quick look at the geometry."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from repro.geometry import CUBE_FACES, equirect_directions, equirect_to_cube, random_rotation


def builtin_panorama(height: int = 512, width: int = 1024) -> torch.Tensor:
    """A procedural box room (3, H, W) in [0, 1]: coloured walls with a 0.5 m checker.

    Each wall has its own hue so a face's orientation can be read off a PNG at a glance.
    """
    d = equirect_directions(height, width, dtype=torch.float64)
    half = torch.tensor([3.0, 1.5, 2.5], dtype=torch.float64)  # room half-extents (x, y, z)
    t = (half / d.abs().clamp_min(1e-9)).amin(-1, keepdim=True)
    hit = d * t
    axis = (d.abs() / half).argmax(-1)
    wall = axis * 2 + (torch.gather(d, -1, axis[..., None])[..., 0] > 0).long()  # 0..5
    palette = torch.tensor(
        [[0.85, 0.35, 0.30], [0.30, 0.70, 0.35], [0.90, 0.85, 0.80], [0.35, 0.35, 0.40],
         [0.30, 0.45, 0.85], [0.85, 0.75, 0.30]], dtype=torch.float64)  # -x +x -y +y -z +z
    in_plane = hit.scatter(-1, axis[..., None], 0.0)  # the wall's own axis would alias the checker
    checker = (torch.floor(in_plane / 0.5).sum(-1) % 2)[..., None]
    rgb = palette[wall] * (0.75 + 0.25 * checker)
    return rgb.permute(2, 0, 1).float().clamp(0, 1)


def _save_png(img: torch.Tensor, path: Path) -> None:
    from PIL import Image

    arr = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(arr).save(path)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random rotation")
    parser.add_argument("--max-deg", type=float, default=45.0, help="Euler-angle range in degrees (0 = no rotation)")
    parser.add_argument("--height", type=int, default=512, help="panorama height (width = 2 × height)")
    parser.add_argument("--face-w", type=int, default=256, help="cube face size in pixels")


def run(args: argparse.Namespace) -> int:
    pano = builtin_panorama(args.height, 2 * args.height)[None]
    rot = random_rotation(1, args.max_deg, generator=torch.Generator().manual_seed(args.seed))
    faces = equirect_to_cube(pano, args.face_w, rotation=rot)[0]
    args.out.mkdir(parents=True, exist_ok=True)
    _save_png(pano[0], args.out / "panorama.png")
    for name, face in zip(CUBE_FACES, faces):
        _save_png(face, args.out / f"face_{name}.png")
    _save_png(torch.cat(list(faces), dim=-1), args.out / "faces_FRBLUD.png")
    print(f"wrote panorama.png, face_{{{','.join(CUBE_FACES)}}}.png and faces_FRBLUD.png to {args.out}")
    print("rotation (XYZ Euler, max ±%g°):\n%s" % (args.max_deg, rot[0].numpy().round(4)))
    return 0
