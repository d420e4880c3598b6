"""Random indoor scenes: a room box around the camera, furniture boxes and cylinders, materials, lights.

Coordinates are the camera's (x right, y up, z forward; camera at the origin), metres. Three styles
differ in room statistics, palettes, textures and lighting, so that training on one and testing on
the other is a small, controllable domain shift (the synthetic Matterport3D -> Stanford2D3D):

* ``a`` (home-like, Matterport3D stand-in): mid-sized rooms, wooden plank floors, pastel
  wallpaper, warm dim lights, sofas/tables/cabinets.
* ``b`` (office-like, Stanford2D3D stand-in): larger rooms and long hallways, carpet, off-white
  walls, tiled ceilings, many desks, bright cool light.
* ``c`` (loft/studio-like, a third domain for unlabeled data): low-ceilinged small rooms or tall
  open halls (room sizes 2.5-12 m, ceilings 2.3-4.5 m), the camera near the floor or high up,
  few but large pieces and many columns, concrete/brick (checker, grid) walls, saturated
  colours, a single strong light or many weak ones. It overlaps neither ``a`` nor ``b`` in
  palette and texture and spans a wider geometry than either, so it is the Structured3D /
  SpatialAudioGen stand-in of Table 3: unlabeled data that is NOT the test domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

# texture patterns (see repro.data.synth.render._pattern)
PLAIN, CHECKER, PLANKS, NOISE, GRID = range(5)


@dataclass(frozen=True)
class Style:
    name: str
    room_x: tuple[float, float]  # room extent along x (m)
    room_z: tuple[float, float]
    hallway_p: float  # probability of an elongated room (one side 2-3.5 m, the other long)
    hallway_len: tuple[float, float]
    room_h: tuple[float, float]
    camera_h: tuple[float, float]  # camera height above the floor
    boxes: tuple[int, int]  # number of furniture boxes (inclusive range)
    box_w: tuple[float, float]
    box_h: tuple[float, float]
    cylinders: tuple[int, int]
    lights: tuple[int, int]
    light_rgb: tuple[float, float, float]
    light_power: tuple[float, float]
    ambient: tuple[float, float]
    wall_colors: tuple[tuple[float, float, float], ...]
    floor_colors: tuple[tuple[float, float, float], ...]
    ceiling_colors: tuple[tuple[float, float, float], ...]
    furniture_colors: tuple[tuple[float, float, float], ...]
    wall_patterns: tuple[int, ...]
    floor_patterns: tuple[int, ...]
    ceiling_patterns: tuple[int, ...]
    furniture_patterns: tuple[int, ...]
    contrast: tuple[float, float]  # pattern contrast (second colour = colour * (1 - contrast))


STYLES: dict[str, Style] = {
    "a": Style(
        name="a",
        room_x=(3.0, 8.0),
        room_z=(3.0, 8.0),
        hallway_p=0.1,
        hallway_len=(6.0, 10.0),
        room_h=(2.4, 3.2),
        camera_h=(1.4, 1.6),
        boxes=(4, 9),
        box_w=(0.4, 2.0),
        box_h=(0.4, 2.0),
        cylinders=(0, 3),
        lights=(1, 3),
        light_rgb=(1.0, 0.85, 0.65),
        light_power=(2.0, 5.0),
        ambient=(0.18, 0.3),
        wall_colors=((0.85, 0.8, 0.7), (0.75, 0.8, 0.7), (0.8, 0.7, 0.65), (0.7, 0.75, 0.85), (0.9, 0.88, 0.82)),
        floor_colors=((0.55, 0.38, 0.22), (0.65, 0.5, 0.33), (0.45, 0.3, 0.2), (0.7, 0.62, 0.5)),
        ceiling_colors=((0.92, 0.9, 0.86), (0.88, 0.86, 0.8)),
        furniture_colors=((0.5, 0.3, 0.2), (0.3, 0.35, 0.5), (0.6, 0.2, 0.2), (0.35, 0.5, 0.3), (0.8, 0.75, 0.6)),
        wall_patterns=(PLAIN, PLANKS, NOISE),
        floor_patterns=(PLANKS, PLANKS, CHECKER),
        ceiling_patterns=(PLAIN,),
        furniture_patterns=(PLAIN, NOISE, PLANKS),
        contrast=(0.15, 0.4),
    ),
    "b": Style(
        name="b",
        room_x=(4.0, 10.0),
        room_z=(4.0, 10.0),
        hallway_p=0.35,
        hallway_len=(8.0, 14.0),
        room_h=(2.7, 3.5),
        camera_h=(1.2, 1.45),
        boxes=(6, 14),
        box_w=(0.4, 1.6),
        box_h=(0.5, 1.2),
        cylinders=(0, 2),
        lights=(2, 4),
        light_rgb=(0.85, 0.92, 1.0),
        light_power=(4.0, 8.0),
        ambient=(0.3, 0.45),
        wall_colors=((0.88, 0.88, 0.86), (0.8, 0.82, 0.84), (0.7, 0.72, 0.75)),
        floor_colors=((0.35, 0.38, 0.45), (0.45, 0.45, 0.45), (0.3, 0.32, 0.3)),
        ceiling_colors=((0.95, 0.95, 0.95), (0.9, 0.9, 0.92)),
        furniture_colors=((0.6, 0.6, 0.62), (0.2, 0.22, 0.25), (0.15, 0.25, 0.45), (0.7, 0.65, 0.55)),
        wall_patterns=(PLAIN, NOISE),
        floor_patterns=(NOISE, CHECKER),
        ceiling_patterns=(GRID,),
        furniture_patterns=(PLAIN, PLAIN, NOISE),
        contrast=(0.05, 0.25),
    ),
    "c": Style(
        name="c",
        room_x=(2.5, 12.0),
        room_z=(2.5, 12.0),
        hallway_p=0.15,
        hallway_len=(10.0, 16.0),
        room_h=(2.3, 4.5),
        camera_h=(0.9, 1.9),
        boxes=(2, 6),
        box_w=(0.8, 2.8),
        box_h=(0.3, 2.4),
        cylinders=(2, 5),
        lights=(1, 6),
        light_rgb=(1.0, 0.95, 0.9),
        light_power=(1.5, 9.0),
        ambient=(0.12, 0.4),
        wall_colors=((0.6, 0.6, 0.58), (0.62, 0.32, 0.25), (0.3, 0.45, 0.55), (0.55, 0.55, 0.3)),
        floor_colors=((0.5, 0.5, 0.48), (0.25, 0.2, 0.18), (0.6, 0.58, 0.52)),
        ceiling_colors=((0.55, 0.55, 0.55), (0.3, 0.3, 0.32), (0.8, 0.78, 0.75)),
        furniture_colors=((0.85, 0.25, 0.15), (0.1, 0.5, 0.45), (0.9, 0.75, 0.1), (0.15, 0.15, 0.18)),
        wall_patterns=(CHECKER, GRID, NOISE),
        floor_patterns=(PLAIN, NOISE, GRID),
        ceiling_patterns=(PLAIN, GRID, PLANKS),
        furniture_patterns=(PLAIN, CHECKER, GRID),
        contrast=(0.2, 0.55),
    ),
}


def get_style(name: str) -> Style:
    try:
        return STYLES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown synthetic style '{name}' (choose from {', '.join(STYLES)})") from None


@dataclass
class Scene:
    """One room, in camera coordinates. Surface ``s`` has material row ``s`` of ``materials``:
    rows 0-5 are the room's faces (x-, x+, floor, ceiling, z-, z+), then the boxes, then the
    cylinders. ``opening`` is the ceiling's hole to the sky (x0, x1, z0, z1), or None."""

    room: torch.Tensor  # (6,) lo xyz, hi xyz
    boxes: torch.Tensor  # (K, 6) lo xyz, hi xyz
    cylinders: torch.Tensor  # (M, 5) cx, cz, radius, y0, y1
    colors: torch.Tensor  # (S, 2, 3) the two colours a pattern mixes
    patterns: torch.Tensor  # (S,) pattern id
    scales: torch.Tensor  # (S,) pattern period (m)
    lights: torch.Tensor  # (L, 6) position xyz, rgb power
    ambient: float
    opening: torch.Tensor | None = None
    style: str = "a"
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (stored beside synthetic datasets, handy in test failures)."""

        def lst(t: torch.Tensor | None) -> Any:
            return None if t is None else [[round(float(v), 4) for v in row] for row in t.tolist()]

        return {
            "style": self.style,
            "room": lst(self.room[None])[0],  # lo xyz, hi xyz
            "boxes": lst(self.boxes),
            "cylinders": lst(self.cylinders),
            "lights": lst(self.lights),
            "ambient": round(self.ambient, 4),
            "opening": None if self.opening is None else lst(self.opening[None])[0],
            **self.extras,
        }


def _u(g: torch.Generator, lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * torch.rand((), generator=g))


def _i(g: torch.Generator, lo: int, hi: int) -> int:
    return int(torch.randint(lo, hi + 1, (), generator=g))


def _pick(g: torch.Generator, options: tuple[Any, ...]) -> Any:
    return options[_i(g, 0, len(options) - 1)]


def _material(g: torch.Generator, style: Style, colors: tuple, patterns: tuple, scale: tuple[float, float]) -> tuple:
    base = torch.tensor(_pick(g, colors)) * _u(g, 0.85, 1.15)
    base = (base + (torch.rand(3, generator=g) - 0.5) * 0.08).clamp(0.02, 1.0)
    second = base * (1.0 - _u(g, *style.contrast))
    return torch.stack([base, second]), _pick(g, patterns), _u(g, *scale)


def sample_scene(style: str | Style, generator: torch.Generator, sky: bool = False) -> Scene:
    """A random room of ``style`` around the camera; ``sky`` opens part of (or all) the ceiling."""
    st = style if isinstance(style, Style) else get_style(style)
    g = generator
    if _u(g, 0, 1) < st.hallway_p:
        sx, sz = _u(g, 2.0, 3.5), _u(g, *st.hallway_len)
        if _u(g, 0, 1) < 0.5:
            sx, sz = sz, sx
    else:
        sx, sz = _u(g, *st.room_x), _u(g, *st.room_z)
    height, cam_h = _u(g, *st.room_h), _u(g, *st.camera_h)
    margin = 0.6
    cx, cz = _u(g, margin, sx - margin), _u(g, margin, sz - margin)  # camera position in the room
    lo = torch.tensor([-cx, -cam_h, -cz])
    hi = torch.tensor([sx - cx, height - cam_h, sz - cz])

    boxes = []
    for _ in range(_i(g, *st.boxes)):
        w, d, h = _u(g, *st.box_w), _u(g, *st.box_w), _u(g, *st.box_h)
        w, d = min(w, sx - 0.2), min(d, sz - 0.2)
        against_wall = _u(g, 0, 1) < 0.5
        for _try in range(8):
            x0 = _u(g, float(lo[0]) + 0.05, float(hi[0]) - w - 0.05)
            z0 = _u(g, float(lo[2]) + 0.05, float(hi[2]) - d - 0.05)
            if against_wall:  # push to the nearest wall along the shorter distance
                if _u(g, 0, 1) < 0.5:
                    x0 = float(lo[0]) + 0.02 if x0 - float(lo[0]) < float(hi[0]) - x0 - w else float(hi[0]) - w - 0.02
                else:
                    z0 = float(lo[2]) + 0.02 if z0 - float(lo[2]) < float(hi[2]) - z0 - d else float(hi[2]) - d - 0.02
            # keep 0.3 m between the camera and any furniture
            if not (x0 - 0.3 < 0 < x0 + w + 0.3 and z0 - 0.3 < 0 < z0 + d + 0.3):
                boxes.append([x0, float(lo[1]), z0, x0 + w, float(lo[1]) + min(h, height - 0.1), z0 + d])
                break
    cylinders = []
    for _ in range(_i(g, *st.cylinders)):
        column = _u(g, 0, 1) < 0.4
        r = _u(g, 0.15, 0.35) if column else _u(g, 0.2, 0.6)
        top = float(hi[1]) if column else float(lo[1]) + _u(g, 0.4, 1.1)
        for _try in range(8):
            px = _u(g, float(lo[0]) + r + 0.05, float(hi[0]) - r - 0.05)
            pz = _u(g, float(lo[2]) + r + 0.05, float(hi[2]) - r - 0.05)
            if px * px + pz * pz > (r + 0.3) ** 2:
                cylinders.append([px, pz, r, float(lo[1]), top])
                break

    mats = [_material(g, st, st.wall_colors, st.wall_patterns, (0.1, 0.5))]
    mats = mats * 2 + [  # x- and x+ walls share the wallpaper
        _material(g, st, st.floor_colors, st.floor_patterns, (0.15, 0.6)),
        _material(g, st, st.ceiling_colors, st.ceiling_patterns, (0.5, 0.6)),
    ]
    mats += [mats[0], _material(g, st, st.wall_colors, st.wall_patterns, (0.1, 0.5))]  # z walls
    for _ in range(len(boxes) + len(cylinders)):
        mats.append(_material(g, st, st.furniture_colors, st.furniture_patterns, (0.05, 0.3)))

    lights = []
    for _ in range(_i(g, *st.lights)):
        pos = [
            _u(g, float(lo[0]) + 0.3, float(hi[0]) - 0.3),
            float(hi[1]) - 0.25,
            _u(g, float(lo[2]) + 0.3, float(hi[2]) - 0.3),
        ]
        power = _u(g, *st.light_power)
        lights.append(pos + [c * power for c in st.light_rgb])

    opening = None
    if sky:
        if _u(g, 0, 1) < 0.3:  # courtyard: no ceiling at all
            opening = torch.tensor([float(lo[0]) - 1, float(hi[0]) + 1, float(lo[2]) - 1, float(hi[2]) + 1])
        else:  # a skylight of 30-90 % of each side
            fx, fz = _u(g, 0.3, 0.9), _u(g, 0.3, 0.9)
            x0 = _u(g, float(lo[0]), float(hi[0]) - fx * sx)
            z0 = _u(g, float(lo[2]), float(hi[2]) - fz * sz)
            opening = torch.tensor([x0, x0 + fx * sx, z0, z0 + fz * sz])

    return Scene(
        room=torch.cat([lo, hi]),
        boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 6),
        cylinders=torch.tensor(cylinders, dtype=torch.float32).reshape(-1, 5),
        colors=torch.stack([m[0] for m in mats]).float(),
        patterns=torch.tensor([m[1] for m in mats]),
        scales=torch.tensor([m[2] for m in mats], dtype=torch.float32),
        lights=torch.tensor(lights, dtype=torch.float32).reshape(-1, 6),
        ambient=_u(g, *st.ambient),
        opening=opening,
        style=st.name,
    )
