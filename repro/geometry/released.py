"""The released Depth Anywhere code's sampling conventions, as named geometry options (issue 17).

The paper default keeps py360convert's conventions (``repro.geometry``). The released training
code (``albert100121/Depth-Anywhere``, ``utils/Projection`` and ``utils/Conversion``) differs in
three ways, each a named option of :class:`repro.run_settings.DistillSpec`:

``sampling = "released_code"`` (``utils/Projection/Equirec2Cube.py``)
    Face pixel ``(i, j)`` is the ray ``K⁻¹ (j, i, 1)`` with ``f = w / (2 tan(fov/2))`` and
    ``c = (w − 1)/2`` (py360convert: focal ``(w − 1)/2`` for FoV 90°, so the outermost pixel centres
    sit on the face border). Its longitude/latitude are mapped to ``grid_sample`` coordinates
    ``(lon/π, lat/(π/2))`` with ``align_corners=True`` on the unpadded panorama: ±180° fall on the
    centres of the first and last columns, the poles on the centres of the first and last rows (py360convert:
    pixel-centre coordinates with the seam and the poles wrapped). Offsets up to ~0.7 equirect
    pixels. A carried mask is valid where its bilinear sample is ``>= 1`` (the released
    ``.floor() == 1``).
``rotation_pass = "separate"`` (``utils/Projection/EquirecRotate.py``, ``train.py: rotate``)
    The panorama is first resampled into a rotated panorama — pixel-centre longitude/latitude,
    sampled with ``align_corners=True``, so even the identity moves pixels (by up to ~0.4 px) —
    and then projected: two resamplings. ``"folded"`` (default) folds the rotation into the
    face rays: one resampling.
``rotation_frame = "y_down"`` (``train.py: randRotate``)
    The released code's world frame is x right, **y down**, z forward; its Euler angles
    ``(a, b, c)`` (XYZ, ``pytorch3d.euler_angles_to_matrix``) are the rotation ``(−a, b, −c)`` of
    our y-up frame. The draw is the released one as well: ``(rand(3) − 0.5) · 2·max_deg`` degrees
    in float32, ``/ 180 · π``, so the same uniform numbers give the same matrix bit for bit.

The student's faces (``project_planar_depth``) follow ``train.py: process_output``: the distance
panorama becomes points ``distance · direction(pixel)`` on the (rotated) panorama grid, each point
component is sampled with ``nearest`` and the face takes the component along its axis — the planar
depth uses the *sampled pixel's* direction, not the face ray's (py360convert: face ray's cosine).

Everything here works internally in the released y-down frame, in the released order of
floating-point operations (float32 rotation pass, float64 face grids cast to float32), so nearest
sampling picks the same pixels as the released code. Rotations passed in and faces returned use
``repro.geometry``'s conventions: y-up matrices, faces in F R B L U D order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from repro.choices import RotationFrame, RotationPass, Sampling, values
from repro.geometry.rotation import _axis_rotation
from repro.geometry.sphere import Mode

SAMPLINGS, ROTATION_PASSES, ROTATION_FRAMES = values(Sampling), values(RotationPass), values(RotationFrame)

# y-up (ours) <-> y-down (released): conjugation by diag(1, -1, 1), exact in any dtype.
_FLIP = (1.0, -1.0, 1.0)

#: The released cube faces as axis-angle vectors (degrees) in its y-down frame, in its order
#: B, D, F, L, R, U (``Equirec2Cube.r_lst``); a face's rays are ``Rᵀ K⁻¹ (j, i, 1)``.
RELEASED_FACE_ORDER: tuple[str, ...] = ("B", "D", "F", "L", "R", "U")
_RELEASED_FACE_AXIS_ANGLES = {
    "B": ("Y", -180.0),
    "D": ("X", 90.0),
    "F": ("Y", 0.0),
    "L": ("Y", 90.0),
    "R": ("Y", -90.0),
    "U": ("X", -90.0),
}
#: Our face order (py360convert's F R B L U D) as indices into the released order.
RELEASED_TO_OURS: tuple[int, ...] = tuple(RELEASED_FACE_ORDER.index(f) for f in ("F", "R", "B", "L", "U", "D"))


def flip_frame(rotation: torch.Tensor) -> torch.Tensor:
    """A rotation written in one of the y-up / y-down frames, written in the other: ``S R S``."""
    s = rotation.new_tensor(_FLIP)
    return rotation * s[:, None] * s[None, :]


def euler_draw(uniform: torch.Tensor, max_deg: float, frame: RotationFrame = "y_up") -> torch.Tensor:
    """Uniform numbers (B, 3) in [0, 1) -> (B, 3, 3) y-up rotations, drawn as the released code does.

    Angles ``(u − 0.5) · 2·max_deg`` degrees (``max_deg = 45``: the released ``(rand(3) − 0.5) · 90``),
    radians as ``deg / 180 · π``, ``R = Rx Ry Rz`` (XYZ), all in the dtype of ``uniform`` (float32
    in the released code). ``frame = "y_down"`` reads the angles in the released y-down frame.
    """
    if frame not in ROTATION_FRAMES:
        raise ValueError(f"rotation frame must be one of {ROTATION_FRAMES}, got {frame!r}")
    deg = (uniform - 0.5) * (2.0 * max_deg)
    rad = deg / 180 * math.pi
    mats = [_axis_rotation(axis, rad[:, i]) for i, axis in enumerate("XYZ")]
    rot = mats[0] @ mats[1] @ mats[2]
    return flip_frame(rot) if frame == "y_down" else rot


def released_pixel_directions(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Unit directions (H, W, 3) of the panorama's pixel centres in the y-down frame, float32.

    ``utils/Conversion/EquirecCoordinate.py: XY2xyz``, with its float32 operation order.
    """
    cols = torch.arange(width, device=device)[None, :].expand(height, width)
    rows = torch.arange(height, device=device)[:, None].expand(height, width)
    lon = (cols - (width - 1) / 2.0) / width * 2 * math.pi
    lat = (rows - (height - 1) / 2.0) / height * math.pi
    return torch.stack((torch.cos(lat) * torch.sin(lon), torch.sin(lat), torch.cos(lat) * torch.cos(lon)), -1)


def _grid(rays: torch.Tensor, face: bool = False) -> torch.Tensor:
    """y-down rays (..., 3) -> ``grid_sample`` coordinates (lon/π, lat/(π/2)) (align_corners=True).

    The latitude is divided as ``Equirec2Cube`` (``face``: ``/ (0.5π)``) or ``EquirecRotate``
    (``/ 0.5 / π``) writes it, so the float32 grids round alike.
    """
    unit = rays / torch.linalg.vector_norm(rays, dim=-1, keepdim=True)
    lon = torch.atan2(unit[..., 0], unit[..., 2]) / math.pi
    lat = torch.asin(unit[..., 1])
    lat = lat / (0.5 * math.pi) if face else lat / 0.5 / math.pi
    return torch.stack((lon, lat), -1)


def _sample(equi: torch.Tensor, grid: torch.Tensor, mode: Mode) -> torch.Tensor:
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
    return F.grid_sample(equi, grid.to(equi.dtype), mode=mode, align_corners=True)


def _with_mask(
    equi: torch.Tensor, mask: torch.Tensor | None, sample
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sample values and (optionally) a mask together; the mask is valid where its sample is >= 1."""
    if mask is None:
        return sample(equi)
    c = equi.shape[1]
    out = sample(torch.cat((equi, mask.to(equi.dtype)), 1))
    return out[:, :c] if out.dim() == 4 else out[:, :, :c], (out[:, c:] if out.dim() == 4 else out[:, :, c:]) >= 1.0


def rotate_equirect_released(
    equi: torch.Tensor, rotation: torch.Tensor, mode: Mode = "bilinear", mask: torch.Tensor | None = None
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The released rotation pass: ``out(d) = equi(Rᵀ d)``, pixel-centre grid, align_corners=True.

    ``rotation`` (B, 3, 3) in our y-up frame (see :func:`euler_draw` for the released draw).
    """
    if equi.dim() != 4:
        raise ValueError(f"equirect input must be (B,C,H,W), got shape {tuple(equi.shape)}")
    b, _, h, w = equi.shape
    rot_t = flip_frame(rotation.to(device=equi.device, dtype=torch.float32)).transpose(1, 2)
    if rot_t.shape[0] not in (1, b):
        raise ValueError(f"rotation batch {rot_t.shape[0]} does not match image batch {b}")
    dirs = released_pixel_directions(h, w, equi.device)[None].expand(b, h, w, 3)
    xyz = (rot_t.expand(b, 3, 3)[:, None, None] @ dirs[..., None]).squeeze(-1)
    grid = _grid(xyz)
    return _with_mask(equi, mask, lambda x: _sample(x, grid, mode))


def released_cube_rotations() -> torch.Tensor:
    """(6, 3, 3) float32 rotations ``R`` of the released faces in the y-down frame, released order.

    cv2.Rodrigues of the float32 axis-angle vectors (computed in float64, returned as float32),
    so the tiny cos(π/2) residues of the released grids are reproduced.
    """
    mats = []
    for face in RELEASED_FACE_ORDER:
        axis, deg = _RELEASED_FACE_AXIS_ANGLES[face]
        rad = torch.tensor([deg], dtype=torch.float32) / 180.0 * math.pi
        mats.append(_axis_rotation(axis, rad.to(torch.float64))[0].to(torch.float32))
    return torch.stack(mats)


def released_face_rays(face_w: int, fov_deg: float = 90.0, cameras: torch.Tensor | None = None) -> torch.Tensor:
    """Unit face rays (N, w, w, 3) in the y-down frame, float64, in our F R B L U D order.

    ``cameras`` (N, 3, 3): other cameras (columns right, up, forward in our y-up frame, e.g.
    tangent images) under the same intrinsics; default the released cube.
    """
    f = 0.5 * face_w / math.tan(0.5 * math.radians(fov_deg))
    inv_f = float(torch.tensor(1.0 / f, dtype=torch.float32))  # the released K is float32
    c = (face_w - 1) / 2
    j = torch.arange(face_w, dtype=torch.float64)
    x = ((j - c) * inv_f)[None, :].expand(face_w, face_w)
    y = ((j - c) * inv_f)[:, None].expand(face_w, face_w)
    local = torch.stack((x, y, torch.ones_like(x)), -1)
    local = local / torch.linalg.vector_norm(local, dim=-1, keepdim=True)
    if cameras is None:
        rot_t = released_cube_rotations()[list(RELEASED_TO_OURS)].to(torch.float64)  # rays = local @ R
    else:
        # a y-up camera M sees y-down local rays through S M S; as "local @ R": R = (S M S)ᵀ
        rot_t = flip_frame(cameras.to(torch.float64)).transpose(1, 2)
    return local[None] @ rot_t[:, None]  # (N, w, w, 3)


def _face_axes(rays: torch.Tensor) -> torch.Tensor:
    """Each face's forward axis (N, 3) in the y-down frame: its centre ray, rounded for the cube."""
    w = rays.shape[1]
    centre = rays[:, (w - 1) // 2 : w // 2 + 1, (w - 1) // 2 : w // 2 + 1].mean((1, 2))
    centre = centre / torch.linalg.vector_norm(centre, dim=-1, keepdim=True)
    rounded = centre.round()
    return torch.where((centre - rounded).abs().amax(-1, keepdim=True) < 1e-6, rounded, centre)


class ReleasedProjection:
    """Perspective faces sampled as the released ``Equirec2Cube`` does (see the module docstring)."""

    def __init__(self, face_w: int, fov_deg: float = 90.0, cameras: torch.Tensor | None = None) -> None:
        self.face_w = face_w
        self.rays = released_face_rays(face_w, fov_deg, cameras)  # (N, w, w, 3) y-down, float64
        self.axes = _face_axes(self.rays)  # (N, 3)

    def _grid(self, rotation: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        """(B' or 1, N·w, w, 2) float32 grid; a folded rotation samples the original along Rᵀ d."""
        rays = self.rays[None]
        if rotation is not None:
            rot = flip_frame(rotation.to(torch.float64))  # y-down
            rays = torch.einsum("bji,nhwj->bnhwi", rot, self.rays)  # Rᵀ d
        n, w = self.rays.shape[0], self.face_w
        return _grid(rays, face=True).to(torch.float32).reshape(rays.shape[0], n * w, w, 2).to(device)

    def _faces(self, x: torch.Tensor, grid: torch.Tensor, mode: Mode) -> torch.Tensor:
        b = x.shape[0]
        out = _sample(x, grid.expand(b, *grid.shape[1:]), mode)  # (B, C, N·w, w)
        n, w = self.rays.shape[0], self.face_w
        return out.reshape(b, x.shape[1], n, w, w).permute(0, 2, 1, 3, 4)

    def project(
        self,
        equi: torch.Tensor,
        rotation: torch.Tensor | None = None,
        mode: Mode = "bilinear",
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Panoramas (B,C,H,W) -> faces (B, N, C, w, w), optionally of the rotated panoramas (folded)."""
        grid = self._grid(rotation, equi.device)
        return _with_mask(equi, mask, lambda x: self._faces(x, grid, mode))

    def project_planar_depth(self, distance: torch.Tensor, rotation: torch.Tensor | None = None) -> torch.Tensor:
        """Ray distance (B,1,H,W), 0 = invalid -> planar depth (B, N, 1, w, w) by the points method.

        ``distance · direction(pixel)`` is sampled with nearest and projected on the face axis
        (``train.py: process_output``). With a folded ``rotation`` the axis is rotated instead.
        """
        if distance.dim() != 4 or distance.shape[1] != 1:
            raise ValueError(f"distance must be (B,1,H,W), got {tuple(distance.shape)}")
        _, _, h, w = distance.shape
        dirs = released_pixel_directions(h, w, distance.device).permute(2, 0, 1)  # (3, H, W)
        points = dirs.to(distance.dtype)[None] * distance  # (B, 3, H, W)
        sampled = self._faces(points, self._grid(rotation, distance.device), "nearest")  # (B, N, 3, w, w)
        axes = self.axes.to(device=distance.device, dtype=distance.dtype)
        if rotation is not None:
            rot = flip_frame(rotation.to(device=distance.device, dtype=distance.dtype))
            axes = torch.einsum("bji,nj->bni", rot, axes)  # Rᵀ f: the face axis in the original frame
            return torch.einsum("bnchw,bnc->bnhw", sampled, axes)[:, :, None]
        return torch.einsum("bnchw,nc->bnhw", sampled, axes)[:, :, None]


def draw_rotations(
    batch: int,
    max_deg: float,
    generator: torch.Generator | None = None,
    frame: RotationFrame = "y_up",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(batch, 3, 3) random rotations: the paper default, or the released draw in its frame.

    ``frame = "y_up"``: :func:`repro.geometry.random_rotation` (float64 angles, our frame).
    ``frame = "y_down"``: ``rand(batch, 3)`` in float32 through :func:`euler_draw`, as
    ``train.py: randRotate`` draws it (one ``rand(3)`` per rotation).
    """
    if frame == "y_up":
        from repro.geometry.rotation import random_rotation

        return random_rotation(batch, max_deg, generator=generator, device=device, dtype=torch.float32)
    gen_device = generator.device if generator is not None else "cpu"
    u = torch.rand(batch, 3, generator=generator, device=gen_device, dtype=torch.float32)
    return euler_draw(u, max_deg, frame).to(device)
