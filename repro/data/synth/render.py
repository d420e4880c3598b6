"""Vectorised ray casting of a :class:`Scene` into an equirect panorama (torch, any device).

Every pixel's ray (``repro.geometry.equirect_directions``) is intersected with all surfaces at once:
the room from inside (slabs), furniture boxes (slabs), vertical cylinders (quadratic + caps). The
nearest hit gives the exact ray distance (the depth the datasets store); shading is ambient plus
point lights with inverse-square falloff and hard shadows (shadow rays, cast from each light,
reuse the same intersectors). Objects are tested only against rays within their bounding cone.
Rays leaving through the ceiling's opening see the sky: depth 0 and a true sky mask.
"""

from __future__ import annotations

import math

import torch

from repro.data.synth.scene import CHECKER, GRID, NOISE, PLANKS, Scene
from repro.geometry import equirect_directions

EPS = 1e-4
INF = float("inf")


def _safe(d: torch.Tensor) -> torch.Tensor:
    """Directions with exact zeros nudged, so slab divisions never produce 0 * inf."""
    return torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)


def intersect_room(d: torch.Tensor, room: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays from the origin (inside the room) -> (exit distance (N,), face id 0-5 (N,))."""
    d = _safe(d)
    t_axis = torch.where(d > 0, room[3:] / d, room[:3] / d)  # (N, 3)
    t, axis = t_axis.min(dim=-1)
    face = axis * 2 + (d.gather(-1, axis[:, None])[:, 0] > 0).long()
    return t, face


def intersect_boxes(o: torch.Tensor, d: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (N,3) vs boxes seen from outside -> (entry distance (N,K), inf = miss; entry axis (N,K))."""
    if len(boxes) == 0:
        return o.new_full((len(o), 0), INF), o.new_zeros((len(o), 0), dtype=torch.long)
    o = o.expand(len(d), 3)  # one shared origin (1, 3) or one per ray
    inv = (1.0 / _safe(d))[:, None, :]
    t1 = boxes[None, :, :3] - o[:, None, :]  # in-place below: these (N, K, 3) temporaries dominate
    t1.mul_(inv)
    t2 = boxes[None, :, 3:] - o[:, None, :]
    t2.mul_(inv)
    t_near, axis = torch.minimum(t1, t2).max(dim=-1)
    t_far = torch.maximum(t1, t2, out=t1).amin(dim=-1)
    hit = (t_near <= t_far) & (t_near > EPS)
    return torch.where(hit, t_near, torch.full_like(t_near, INF)), axis


def intersect_cylinders(o: torch.Tensor, d: torch.Tensor, cyl: torch.Tensor) -> torch.Tensor:
    """Rays vs vertical capped cylinders seen from outside -> entry distance (N,M), inf = miss."""
    if len(cyl) == 0:
        return o.new_full((len(o), 0), INF)
    cx, cz, r, y0, y1 = (cyl[:, i][None] for i in range(5))
    ox, oy, oz = (o[:, i : i + 1] for i in range(3))
    dx, dy, dz = (d[:, i : i + 1] for i in range(3))
    px, pz = ox - cx, oz - cz
    a = (dx * dx + dz * dz).clamp_min(1e-12)
    b = px * dx + pz * dz
    c = px * px + pz * pz - r * r
    disc = b * b - a * c
    t_side = (-b - disc.clamp_min(0).sqrt()) / a
    y_side = oy + t_side * dy
    side_ok = (disc >= 0) & (t_side > EPS) & (y_side >= y0) & (y_side <= y1)
    t_side = torch.where(side_ok, t_side, torch.full_like(t_side, INF))
    dy_safe = _safe(dy)
    caps = []
    for y_cap in (y1, y0):
        t_cap = (y_cap - oy) / dy_safe
        qx, qz = px + t_cap * dx, pz + t_cap * dz
        ok = (t_cap > EPS) & (qx * qx + qz * qz <= r * r)
        caps.append(torch.where(ok, t_cap, torch.full_like(t_cap, INF)))
    return torch.minimum(t_side, torch.minimum(*caps))


def _hash(i: torch.Tensor, j: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Deterministic per-lattice-point value in [0, 1) (the classic sine hash, in float64)."""
    x = torch.sin(i.double() * 12.9898 + j.double() * 78.233 + seed.double() * 37.719) * 43758.5453
    return (x - torch.floor(x)).float()


def value_noise(u: torch.Tensor, v: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Smooth 2-D value noise in [0, 1] (bilinear between hashed lattice values, smoothstep)."""
    iu, iv = torch.floor(u), torch.floor(v)
    fu, fv = u - iu, v - iv
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    h00, h10 = _hash(iu, iv, seed), _hash(iu + 1, iv, seed)
    h01, h11 = _hash(iu, iv + 1, seed), _hash(iu + 1, iv + 1, seed)
    return (h00 * (1 - fu) + h10 * fu) * (1 - fv) + (h01 * (1 - fu) + h11 * fu) * fv


def _checker(u: torch.Tensor, v: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    return torch.remainder(torch.floor(u) + torch.floor(v), 2)


def _planks(u: torch.Tensor, v: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Boards one period wide, 4 long, rows staggered, each with its own shade and grain."""
    iu = torch.floor(u)
    board = torch.floor(v * 0.25) + torch.remainder(iu, 2) * 0.5
    return 0.6 * _hash(iu, board, seed) + 0.4 * value_noise(u * 8, v * 0.5, seed)


def _noise(u: torch.Tensor, v: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    return 0.65 * value_noise(u * 2, v * 2, seed) + 0.35 * value_noise(u * 7, v * 7, seed + 1)


def _grid(u: torch.Tensor, v: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Thin lines between ceiling tiles."""
    return (((u - torch.floor(u)) < 0.04) | ((v - torch.floor(v)) < 0.04)).float()


_PATTERNS = {CHECKER: _checker, PLANKS: _planks, NOISE: _noise, GRID: _grid}


def _pattern(kind: torch.Tensor, u: torch.Tensor, v: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Mixing weight in [0, 1] between a surface's two colours; each texture is evaluated only on
    the pixels that show it (plain surfaces cost nothing)."""
    out = torch.zeros_like(u)
    for k, fn in _PATTERNS.items():
        idx = (kind == k).nonzero()[:, 0]
        if len(idx):
            out[idx] = fn(u[idx], v[idx], seed[idx])
    return out


def _bounding_spheres(boxes: torch.Tensor, cylinders: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (J, 3) and radius (J,) of a sphere around each box, then each cylinder."""
    box_c, box_r = (boxes[:, :3] + boxes[:, 3:]) / 2, (boxes[:, 3:] - boxes[:, :3]).norm(dim=1) / 2
    cx, cz, r, y0, y1 = cylinders.unbind(1) if len(cylinders) else (cylinders.new_zeros(0),) * 5
    cyl_c = torch.stack([cx, (y0 + y1) / 2, cz], 1)
    cyl_r = (r * r + ((y1 - y0) / 2) ** 2).sqrt()
    return torch.cat([box_c, cyl_c]), torch.cat([box_r, cyl_r])


def cast(
    origin: torch.Tensor, d: torch.Tensor, boxes: torch.Tensor, cylinders: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rays from one point -> (distance to the first furniture hit (N,), inf = none; object index
    (N,): boxes 0..K-1 then cylinders, -1 = none; the box face's axis (N,)).

    Each object is tested only against the rays inside the cone of its bounding sphere, which is
    a few percent of a panorama's rays: far cheaper than testing every ray against every object.
    """
    n, k = len(d), len(boxes)
    t_best = d.new_full((n,), INF)
    obj = torch.full((n,), -1, dtype=torch.long, device=d.device)
    axis = torch.zeros(n, dtype=torch.long, device=d.device)
    centers, radii = _bounding_spheres(boxes, cylinders)
    if not len(centers):
        return t_best, obj, axis
    rel = centers - origin
    dist = rel.norm(dim=1)
    cosines = d @ (rel / dist[:, None].clamp_min(1e-9)).T  # (N, J)
    o = origin[None]
    for j, (dj, rj) in enumerate(zip(dist.tolist(), radii.tolist())):
        if dj > rj:
            idx = (cosines[:, j] >= math.sqrt(1.0 - (rj / dj) ** 2) - 1e-6).nonzero()[:, 0]
        else:
            idx = torch.arange(n, device=d.device)
        if not len(idx):
            continue
        if j < k:
            t, a = intersect_boxes(o, d[idx], boxes[j : j + 1])
            t, a = t[:, 0], a[:, 0]
        else:
            t, a = intersect_cylinders(o, d[idx], cylinders[j - k : j - k + 1])[:, 0], None
        better = t < t_best[idx]
        sel = idx[better]
        t_best[sel] = t[better]
        obj[sel] = j
        if a is not None:
            axis[sel] = a[better]
    return t_best, obj, axis


def sky_color(d: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Blue gradient with soft clouds (noise on the ray's projection onto a cloud plane)."""
    up = d[:, 1:2].clamp_min(0)
    horizon = torch.tensor([0.85, 0.9, 0.95], device=d.device)
    zenith = torch.tensor([0.3, 0.5, 0.88], device=d.device)
    base = horizon + (zenith - horizon) * up.sqrt()
    y = d[:, 1].clamp_min(0.05)
    clouds = value_noise(d[:, 0] / y * 1.5, d[:, 2] / y * 1.5, seed).clamp(0.45, 1.0)
    w = ((clouds - 0.45) / 0.55)[:, None]
    return base * (1 - w) + w * torch.tensor([0.97, 0.97, 0.98], device=d.device)


def render(
    scene: Scene, height: int, width: int, device: torch.device | str | None = None, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ray cast ``scene`` -> (rgb (3,H,W) in [0,1], distance (1,H,W) metres with 0 = sky, sky (1,H,W))."""
    d = equirect_directions(height, width, device=device, dtype=torch.float32).reshape(-1, 3)
    n = len(d)
    s = {
        k: getattr(scene, k).to(device)
        for k in ("room", "boxes", "cylinders", "colors", "patterns", "scales", "lights")
    }
    t_room, face = intersect_room(d, s["room"])
    t_obj, obj, box_axis = cast(d.new_zeros(3), d, s["boxes"], s["cylinders"])
    in_front = t_obj < t_room
    t = torch.where(in_front, t_obj, t_room)
    which = torch.where(in_front, obj + 1, 0)  # 0 room, 1..K boxes, K+1.. cylinders
    k = len(s["boxes"])
    surface = torch.where(which == 0, face, 5 + which)  # material rows: 6 room faces, boxes, cylinders
    p = d * t[:, None]

    # normals, facing the camera
    normal = torch.zeros_like(d)
    is_room, is_box, is_cyl = which == 0, (which >= 1) & (which <= k), which > k
    room_axis = face // 2
    normal[torch.arange(n), room_axis] = torch.where(is_room, -torch.sign(d[torch.arange(n), room_axis]), 0.0)
    if k:
        normal[torch.arange(n), box_axis] += torch.where(is_box, -torch.sign(d[torch.arange(n), box_axis]), 0.0)
    if len(s["cylinders"]):
        c = s["cylinders"][(which - k - 1).clamp(0, len(s["cylinders"]) - 1)]
        on_cap = ((p[:, 1] - c[:, 4]).abs() < 1e-3) | ((p[:, 1] - c[:, 3]).abs() < 1e-3)
        radial = torch.stack([p[:, 0] - c[:, 0], torch.zeros_like(t), p[:, 2] - c[:, 1]], -1) / c[:, 2:3]
        cap = torch.stack([torch.zeros_like(t), -torch.sign(d[:, 1]), torch.zeros_like(t)], -1)
        normal = torch.where(is_cyl[:, None], torch.where(on_cap[:, None], cap, radial), normal)

    # texture: the two coordinates of the plane the normal is most aligned with
    dominant = normal.abs().argmax(dim=1)
    uv_axes = torch.tensor([[2, 1], [0, 2], [0, 1]], device=d.device)[dominant]
    scale = s["scales"][surface]
    u = p.gather(1, uv_axes[:, :1])[:, 0] / scale
    v = p.gather(1, uv_axes[:, 1:])[:, 0] / scale
    mix = _pattern(s["patterns"][surface], u, v, surface + 101 * seed)[:, None]
    colors = s["colors"][surface]
    albedo = colors[:, 0] * (1 - mix) + colors[:, 1] * mix

    light = torch.full_like(d, scene.ambient)
    p_off = p + normal * 1e-3
    # furniture stands on the floor and lights hang above it: only points below the highest top
    # (and facing the light) can be in shadow, so only they cast shadow rays
    tops = torch.cat([s["boxes"][:, 4], s["cylinders"][:, 4]])
    top = float(tops.max()) if len(tops) else -INF
    for row in s["lights"]:
        to_light = row[:3] - p_off
        dist = to_light.norm(dim=1).clamp_min(1e-3)
        to_light = to_light / dist[:, None]
        lit = (normal * to_light).sum(1).clamp_min(0) / (1.0 + dist * dist)
        maybe = ((lit > 0) & (p[:, 1] < top)).nonzero()[:, 0] if row[1] > top else torch.arange(n, device=d.device)
        if len(maybe):  # shadow rays are cast from the light towards the points (one origin: cone culling)
            t_block, _, _ = cast(row[:3], -to_light[maybe], s["boxes"], s["cylinders"])
            lit[maybe[t_block < dist[maybe] - 1e-3]] = 0.0
        light = light + lit[:, None] * row[3:]
    rgb = albedo * light
    rgb = rgb / (1.0 + 0.25 * rgb)  # gentle tone mapping, no hard clipping of highlights

    sky = torch.zeros(n, dtype=torch.bool, device=d.device)
    if scene.opening is not None:
        x0, x1, z0, z1 = scene.opening.to(d.device)
        sky = is_room & (face == 3) & (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 2] >= z0) & (p[:, 2] <= z1)
        rgb = torch.where(sky[:, None], sky_color(d, torch.tensor(seed, device=d.device)), rgb)
    distance = torch.where(sky, torch.zeros_like(t), t)
    return (
        rgb.clamp(0, 1).T.reshape(3, height, width),
        distance.reshape(1, height, width),
        sky.reshape(1, height, width),
    )
