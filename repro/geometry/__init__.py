"""Sphere <-> equirect / cube / tangent geometry: pure, batched, differentiable torch.

Conventions (stated once, used everywhere in ``repro``)
-------------------------------------------------------
* World/camera axes: **x right, y up, z forward** (right-handed: x × y = z).
* A unit ray ``q = (sinθ cosφ, sinφ, cosθ cosφ)`` (the paper's eq. 3) has longitude
  ``θ = atan2(x, z)`` in (−π, π] and latitude ``φ = atan2(y, hypot(x, z))`` in [−π/2, π/2].
* Equirectangular images are ``(B, C, H, W)``. Longitude grows to the right with the front
  direction (θ = 0, +z) at the centre column; latitude is +π/2 on the top row. The centre of pixel
  ``(i, j)`` sits at ``col = (θ/2π + 0.5)·W − 0.5`` and ``row = (−φ/π + 0.5)·H − 0.5``, exactly as
  py360convert ≥ 1.0 (``uv2coor``). Sampling wraps seamlessly across the ±180° seam and over the
  poles (the row beyond a pole is the same row half a turn away), again as py360convert pads.
* Cube faces are ``(B, 6, C, w, w)`` in py360convert's ``cube_format="list"`` order
  **F, R, B, L, U, D**, all upright. Face pixels sample the face plane at distance 0.5 on the grid
  ``linspace(−0.5, 0.5, w)`` (py360convert's ``xyzcube``), i.e. a pinhole camera with FoV 90°. The
  paper writes the intrinsics as ``K = [[w/2, 0, w/2], [0, w/2, w/2], [0, 0, 1]]`` for a face that
  spans the continuous range [0, w]; the linspace grid puts the outermost pixel centres on the face
  border instead (focal ``(w−1)/2``), a sub-pixel difference kept for exact py360convert parity.
  The released Depth Anywhere code uses ``f = w/2`` with ``align_corners=True`` panorama sampling
  instead; :mod:`repro.geometry.released` implements its conventions as named options.
* Rotations are 3×3 matrices acting on directions. ``rotate_equirect(e, R)`` moves the content
  seen along direction ``d`` to direction ``R d``: ``out(d) = e(Rᵀ d)``. Every projection takes an
  optional ``rotation`` folded into its sampling rays, so ``equirect_to_cube(e, w, rotation=R)``
  equals ``equirect_to_cube(rotate_equirect(e, R), w)`` with a single resampling.
* Depth in a panorama is the distance along each ray; a perspective face sees planar z-depth
  ``distance · cos(angle to the face axis)``. Depth and masks are resampled with ``nearest`` so an
  invalid (0) pixel never blends into a valid one; with bilinear sampling a carried mask marks an
  output pixel valid only if its whole bilinear support was valid.
"""

from repro.geometry.cube import (
    CUBE_FACES,
    cube_rotations,
    cube_to_equirect,
    equirect_depth_to_cube,
    equirect_to_cube,
)
from repro.geometry.disparity import depth_to_disparity, disparity_to_depth, normalize_01
from repro.geometry.perspective import (
    equirect_depth_to_perspective,
    equirect_to_perspective,
    perspective_rays,
    perspective_to_equirect,
)
from repro.geometry.rotation import random_rotation, rotation_matrix
from repro.geometry.sphere import (
    directions_to_lonlat,
    equirect_directions,
    rotate_equirect,
    sample_equirect,
)
from repro.geometry.tangent import (
    equirect_depth_to_tangent,
    equirect_to_tangent,
    icosahedron,
    tangent_rotations,
    tangent_to_equirect,
)

__all__ = [
    "CUBE_FACES",
    "cube_rotations",
    "cube_to_equirect",
    "depth_to_disparity",
    "disparity_to_depth",
    "directions_to_lonlat",
    "equirect_depth_to_cube",
    "equirect_depth_to_perspective",
    "equirect_depth_to_tangent",
    "equirect_directions",
    "equirect_to_cube",
    "equirect_to_perspective",
    "equirect_to_tangent",
    "icosahedron",
    "normalize_01",
    "perspective_rays",
    "perspective_to_equirect",
    "random_rotation",
    "rotate_equirect",
    "rotation_matrix",
    "sample_equirect",
    "tangent_rotations",
    "tangent_to_equirect",
]
