"""The oracle teacher: a STAND-IN for Depth Anything on synthetic data, with a known error.

It returns the *true* disparity of each face (from the synthetic world's exact depth) under a
random per-face affine distortion ``s·d + t`` plus Gaussian noise, then min–max normalises per
face like the real teacher. The affine part is exactly what the real teacher's output is defined
up to (relative disparity), so the per-face normalisation and the affine-invariant loss must
remove it; the noise is the known error that remains. With ``scale_range=(1, 1)``,
``shift_range=(0, 0)``, ``noise_std=0`` and ``edge_bias=0`` it is the exact normalised disparity.

``edge_bias`` adds a *systematic* error anchored in the face's own image frame: disparity is
multiplied by ``1 + edge_bias · ρ²``, ρ² = (u² + v²)/2 with u, v ∈ [-1, 1] the pixel's position on
the face (0 at the centre, 1 in the corners). A perspective network's error depends on where in
its field of view a point appears (less context near the border); no per-face affine alignment
removes such an error, and it is the kind that leaves cube seams in a student trained without
rotation (paper Fig. 5): the faces then always meet at the same panorama pixels, so the student
can learn the face-anchored error there. Random rotation moves the borders every step and the
error averages out. A purely affine per-face distortion cannot do this: the per-face
affine-invariant loss removes it exactly.

A single ``edge_bias`` is the same on both sides of every shared face edge (ρ² is symmetric about
it), so it *bends* the student's error at a border rather than making it jump. A list gives each
face its own strength, cycled over the faces of each panorama (face ``i`` of a batch of
``B × n`` faces uses ``edge_bias[i % len]``; the cube's faces come in py360convert's F R B L U D
order). With ``[b₁, b₂, b₁, b₂, b₃, b₃]`` (opposite faces share a value, adjacent ones never do)
the factor ``1 + bₖ·ρ²`` differs on the two sides of every cube edge by at least
``|bₖ − bₗ|/2``: the error *jumps* there, which a seam metric of first differences sees
(the science suite's Fig. 5 set-up).

Every result produced with it must say so: :attr:`is_stand_in` is true and :meth:`describe`
names it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from repro.geometry.disparity import depth_to_disparity, normalize_01


class OracleTeacher(nn.Module):
    """True face disparity under a random per-face affine distortion plus noise (not Depth Anything)."""

    is_stand_in = True
    name = "oracle"

    def __init__(
        self,
        scale_range: tuple[float, float] = (0.5, 2.0),
        shift_range: tuple[float, float] = (0.0, 0.1),
        noise_std: float = 0.01,
        seed: int = 0,
        input_size: int | None = None,
        edge_bias: float | list[float] | tuple[float, ...] = 0.0,
    ) -> None:
        """``noise_std`` is a fraction of each face's true disparity range; ``input_size`` (the real
        teacher's resolution) is accepted so one teacher config serves both, and has no effect."""
        super().__init__()
        lo, hi = map(float, scale_range)
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        if shift_range[0] > shift_range[1]:
            raise ValueError(f"shift_range must be (low, high), got {shift_range}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        biases = [float(b) for b in edge_bias] if isinstance(edge_bias, list | tuple) else [float(edge_bias)]
        if not biases or min(biases) <= -1:
            raise ValueError(f"edge_bias must be > -1 (disparity must stay positive), got {edge_bias}")
        self.scale_range = (lo, hi)
        self.shift_range = (float(shift_range[0]), float(shift_range[1]))
        self.noise_std = float(noise_std)
        self.edge_bias: float | list[float] = biases[0] if not isinstance(edge_bias, list | tuple) else biases
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, n: int, bounds: tuple[float, float]) -> torch.Tensor:
        lo, hi = bounds
        return lo + (hi - lo) * torch.rand(n, generator=self.generator)

    @torch.no_grad()
    def raw_disparity(self, depth: torch.Tensor) -> torch.Tensor:
        """Planar depth maps (N,1,h,w), 0 = unknown -> distorted disparity (N,1,h,w), unnormalised, >= 0."""
        n = depth.shape[0]
        disp = depth_to_disparity(depth.float())
        valid = depth > 0
        shape = (n,) + (1,) * (depth.dim() - 1)
        scale = self._uniform(n, self.scale_range).view(shape).to(disp.device)
        shift = self._uniform(n, self.shift_range).view(shape).to(disp.device)
        if any(self._biases):
            bias = torch.tensor(self._biases, dtype=disp.dtype, device=disp.device)
            per_face = bias[torch.arange(n, device=disp.device) % len(self._biases)].view(shape)
            disp = disp * (1 + per_face * face_radius_sq(*depth.shape[-2:], device=disp.device))
        out = scale * disp + shift
        if self.noise_std > 0:
            flat = disp.flatten(1)
            big = torch.finfo(disp.dtype).max
            vflat = valid.flatten(1)
            span = torch.where(vflat, flat, -big).amax(1) - torch.where(vflat, flat, big).amin(1)
            span = torch.where(vflat.any(1), span, torch.zeros_like(span)).view(shape)
            noise = torch.randn(depth.shape, generator=self.generator).to(disp.device)
            out = out + self.noise_std * scale * span * noise
        return torch.where(valid, out.clamp_min(0), torch.zeros_like(out))

    @property
    def _biases(self) -> list[float]:
        return self.edge_bias if isinstance(self.edge_bias, list) else [self.edge_bias]

    def predict_faces(self, faces: torch.Tensor | None, depth: torch.Tensor | None = None) -> torch.Tensor:
        """Faces are ignored; ``depth`` (N,1,h,w) planar depth of the same faces is required."""
        if depth is None:
            raise ValueError(
                "the oracle teacher needs the true planar depth of each face (predict_faces(faces, depth=...)); "
                "only synthetic data has it — use a Depth Anything teacher on real data"
            )
        return normalize_01(self.raw_disparity(depth), depth > 0)

    def provenance(self) -> dict[str, Any]:
        """What results record: a stand-in, with its distortion (no weights, no revision, no precision)."""
        return {
            "id": self.name,
            "revision": None,
            "weights": None,
            "precision": None,
            "stand_in": True,
            "scale_range": list(self.scale_range),
            "shift_range": list(self.shift_range),
            "noise_std": self.noise_std,
            "edge_bias": self.edge_bias,
        }

    def describe(self) -> str:
        return (
            f"ORACLE teacher (stand-in, not Depth Anything): true disparity × U{self.scale_range} "
            f"+ U{self.shift_range}, noise {self.noise_std:g} of each face's range"
            + (f", edge bias ×(1 + b·ρ²), b = {self._bias_text()}" if any(self._biases) else "")
        )

    def _bias_text(self) -> str:
        if isinstance(self.edge_bias, list):
            return "/".join(f"{b:g}" for b in self.edge_bias) + " per face"
        return f"{self.edge_bias:g}"


def face_radius_sq(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(u² + v²)/2 at each pixel centre of a face, u, v ∈ [-1, 1]: 0 at the centre, → 1 in the corners."""
    v = (torch.arange(height, device=device) + 0.5) * (2 / height) - 1
    u = (torch.arange(width, device=device) + 0.5) * (2 / width) - 1
    return (u[None, :] ** 2 + v[:, None] ** 2) / 2
