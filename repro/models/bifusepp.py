"""BiFuse++ (Wang et al., TPAMI 2022): bi-projection fusion, supervised model.

Architecture facts from fuenwang/BiFusev2 (``BiFusev2/BiFuse.py``: ``SupervisedCombinedModel``
wrapping ``ResUNet`` as ``dnet``), with ``layers=34`` as published and as Depth Anywhere trains it:

* two ResNet encoders, on the panorama and on its six cube faces (face width H/2);
* after each of layer1–4 a fusion module (``dnet.f1`` … ``dnet.f4``) projects the cube features to
  the panorama, mixes both with 1×1 conv-BN-ReLU blocks and hands each branch its update (the
  cube branch's projected back to faces) plus a fused map for the decoder;
* a PixelShuffle decoder over the fused maps (``dnet.deconv4`` … ``dnet.deconv1``), ending in a
  1×1 conv and ×2 bilinear upsampling. No output activation.

Projections. The published ``CETransform`` stores its lookup tables (E2C grids, C2E masks and
pixel maps for every resolution in ``CE_equi_h``) as buffers, and because the same module is
registered under ``dnet.ce`` and each ``dnet.fN.CE``, released checkpoints carry every table five
times (630 keys, ~33 M values). They are pure functions of the resolution, so this model
recomputes them (cached per size and device, not in its ``state_dict``) and
:func:`repro.models.checkpoints.load_checkpoint` drops those keys from a released checkpoint and
reports them as *derived* (:attr:`BiFusePP.derived_state_patterns`).

The tables are reproduced exactly, with ``repro.geometry`` doing the sampling:

* face order B, D, F, L, R, U (BiFuse's ``Equirec2Cube`` rotations), every face upright and
  identical in orientation to ``repro.geometry``'s faces of the same name;
* pinhole ``K = [[w/2, 0, (w-1)/2], [0, w/2, (w-1)/2]]``: pixel edges, not centres, on the face
  border (a field of view of ``2·atan((w-1)/w)`` on ``repro.geometry``'s pixel-centre grid);
* BiFuse's panorama pixel grid puts the first and last columns at longitude ±180° and the first
  and last rows at the poles (``align_corners=True``), i.e. it spans ``(W-1)/W`` of
  ``repro.geometry``'s grid; E2C rays are scaled accordingly and C2E samples at those directions;
* C2E takes each panorama pixel from the face its ray meets first, bilinear within that face with
  coordinates clamped to it.

Inputs: the published model normalises [0, 1] RGB with ImageNet statistics inside
``SupervisedCombinedModel``; Depth Anywhere removed that and feeds the normalised image. Both
amount to the ImageNet-normalised tensor this model receives.

Output: the raw map; metric depth in metres when ``metric=True`` (BerHu-trained, as published),
disparity in the affine-invariant setting (Depth Anywhere).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from repro.geometry import CUBE_FACES, cube_rotations
from repro.geometry.perspective import perspective_rays
from repro.geometry.sphere import directions_to_lonlat, sample_equirect
from repro.models.common import PUBLISHED_BASE_CHANNELS, Student, resnet_channels, resnet_stem, resnet_trunk

#: Face order of BiFuse's ``Equirec2Cube``/``Cube2Equirec`` (back, down, front, left, right, top).
BIFUSE_FACE_ORDER = ("B", "D", "F", "L", "R", "U")

#: Keys of the published ``CETransform`` tables under every prefix they are saved with.
PROJECTION_KEY_PATTERN = r"dnet\.(ce|f[1-4]\.CE)\.(e2c\.\(\d+,\d+\)\.grid_\d|c2e\.\(\d+\)\.(mask|XY)_\d)"


def _lonlat_to_dirs(lon: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    return torch.stack((torch.cos(lat) * torch.sin(lon), torch.sin(lat), torch.cos(lat) * torch.cos(lon)), -1)


class BiFuseProjection:
    """BiFuse++'s equirect↔cube transforms at any resolution, tables cached per size and device."""

    def __init__(self) -> None:
        self._rotations = cube_rotations(dtype=torch.float64)[[CUBE_FACES.index(f) for f in BIFUSE_FACE_ORDER]]
        self._cache: dict[tuple, torch.Tensor] = {}

    def _cached(self, key: tuple, make) -> torch.Tensor:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _e2c_rays(self, face_w: int, height: int, width: int, device: torch.device) -> torch.Tensor:
        fov = math.degrees(2 * math.atan((face_w - 1) / face_w))
        rays = perspective_rays(self._rotations, face_w, face_w, fov)
        lon, lat = directions_to_lonlat(rays)
        dirs = _lonlat_to_dirs(lon * (width - 1) / width, lat * (height - 1) / height)
        return dirs.float().to(device)[None]

    def e2c(self, equi: torch.Tensor) -> torch.Tensor:
        """Panoramas (B,C,h,2h) -> faces (B*6, C, h/2, h/2), batch-major, in BiFuse's face order."""
        h, w = equi.shape[-2:]
        rays = self._cached(("e2c", h, equi.device), lambda: self._e2c_rays(h // 2, h, w, equi.device))
        return sample_equirect(equi, rays).transpose(1, 2).flatten(0, 1)

    def _c2e_grid(self, face_w: int, device: torch.device) -> torch.Tensor:
        height, width = 2 * face_w, 4 * face_w
        lon = (torch.arange(width, dtype=torch.float64) / (width - 1) - 0.5) * (2 * math.pi)
        lat = (0.5 - torch.arange(height, dtype=torch.float64) / (height - 1)) * math.pi
        dirs = _lonlat_to_dirs(*torch.meshgrid(lon, lat, indexing="xy"))  # (H, W, 3)
        face = torch.einsum("hwj,nj->hwn", dirs, self._rotations[:, :, 2]).argmax(-1)
        local = torch.einsum("hwji,hwj->hwi", self._rotations[face], dirs)
        half, last = face_w / 2, face_w - 1
        col = (local[..., 0] / local[..., 2] * half + last / 2).clamp(0, last)
        row = (-local[..., 1] / local[..., 2] * half + last / 2).clamp(0, last) + face * face_w
        grid = torch.stack((col * 2 / max(last, 1) - 1, row * 2 / (6 * face_w - 1) - 1), -1)
        return grid.float().to(device)[None]

    def c2e(self, cube: torch.Tensor) -> torch.Tensor:
        """Faces (B*6, C, w, w) in BiFuse's order -> panoramas (B, C, 2w, 4w)."""
        n, c, w, _ = cube.shape
        b = n // 6
        grid = self._cached(("c2e", w, cube.device), lambda: self._c2e_grid(w, cube.device))
        tall = cube.view(b, 6, c, w, w).transpose(1, 2).reshape(b, c, 6 * w, w)
        grid = grid.to(cube.dtype).expand(b, -1, -1, -1)
        return F.grid_sample(tall, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=(kernel - 1) // 2), nn.BatchNorm2d(out_ch), nn.ReLU())


class FusionModule(nn.Module):
    """Bi-projection fusion: both branches get a residual update, the decoder a fused map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_equi_cat = _conv_bn_relu(2 * channels, channels, 1)
        self.conv_cube_cat = _conv_bn_relu(2 * channels, channels, 1)
        self.conv_cat = _conv_bn_relu(2 * channels, channels, 1)

    def forward(
        self, equi: torch.Tensor, cube: torch.Tensor, proj: BiFuseProjection
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns the equirect update, the cube update (still on the panorama grid) and the fused map."""
        cube_on_equi = proj.c2e(cube)
        both = torch.cat((equi, cube_on_equi), 1)
        return equi + self.conv_equi_cat(both), cube_on_equi + self.conv_cube_cat(both), self.conv_cat(both)


class ResUNet(nn.Module):
    """The published depth network (``dnet``)."""

    def __init__(self, layers: int, pretrained: bool, base_channels: int = PUBLISHED_BASE_CHANNELS) -> None:
        super().__init__()
        ch = resnet_channels(layers, base_channels)[4]  # the fusion and decoder widths follow the encoder's
        self.resnet_equi = resnet_trunk(layers, pretrained, base_channels)
        self.resnet_cube = resnet_trunk(layers, pretrained, base_channels)
        self.f1, self.f2, self.f3, self.f4 = (FusionModule(ch // d) for d in (8, 4, 2, 1))
        self.deconv4 = nn.Sequential(_conv_bn_relu(ch, ch // 2 * 4, 3), nn.PixelShuffle(2))
        self.deconv3 = nn.Sequential(_conv_bn_relu(ch, ch // 4 * 4, 3), nn.PixelShuffle(2))
        self.deconv2 = nn.Sequential(_conv_bn_relu(ch // 2, ch // 8 * 4, 3), nn.PixelShuffle(2))
        self.deconv1 = nn.Sequential(
            _conv_bn_relu(ch // 4, ch // 16 * 4, 3),
            nn.PixelShuffle(2),
            nn.Conv2d(ch // 16, 1, 1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        )
        self.proj = BiFuseProjection()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        equi = self.resnet_equi.maxpool(resnet_stem(self.resnet_equi, x))
        cube = self.resnet_cube.maxpool(resnet_stem(self.resnet_cube, self.proj.e2c(x)))
        fused = []
        stages = zip(
            (self.resnet_equi.layer1, self.resnet_equi.layer2, self.resnet_equi.layer3, self.resnet_equi.layer4),
            (self.resnet_cube.layer1, self.resnet_cube.layer2, self.resnet_cube.layer3, self.resnet_cube.layer4),
            (self.f1, self.f2, self.f3, self.f4),
        )
        for i, (equi_layer, cube_layer, fusion) in enumerate(stages):
            equi, cube_on_equi, fusion_map = fusion(equi_layer(equi), cube_layer(cube), self.proj)
            fused.append(fusion_map)
            if i < 3:  # the last cube update is never used; skip its projection
                cube = self.proj.e2c(cube_on_equi)
        feat = self.deconv4(fused[3])
        feat = self.deconv3(torch.cat((feat, fused[2]), 1))
        feat = self.deconv2(torch.cat((feat, fused[1]), 1))
        return self.deconv1(torch.cat((feat, fused[0]), 1))


class BiFusePP(Student):
    name = "bifusepp"
    derived_state_patterns = (PROJECTION_KEY_PATTERN,)
    height_multiple = 128  # the cube branch's deepest features must be at least 2×2 (faces H/2, stride 32)

    def __init__(
        self,
        layers: int = 34,
        height: int = 512,
        width: int = 1024,
        pretrained: bool = False,
        metric: bool = False,
        base_channels: int = PUBLISHED_BASE_CHANNELS,
    ) -> None:
        super().__init__(height, width, metric)
        self.dnet = ResUNet(layers, pretrained, base_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.dnet(x)
