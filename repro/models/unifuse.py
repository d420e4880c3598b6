"""UniFuse (Jiang et al., RA-L 2021): unidirectional cube-to-equirect fusion.

Architecture facts from alibaba/UniFuse-Unidirectional-Fusion (``UniFuse/networks``), as trained
by Depth Anywhere (``num_layers=18``, 512×1024, ``fusion_type="cee"``, ``se_in_fusion=True``):

* two ResNet encoders, one on the panorama and one on its six cube faces (face width H/2);
* at each of the five encoder scales the cube features are resampled to the panorama
  (``projectors.N.sample_grid``, a frozen parameter holding a 3-D ``grid_sample`` grid: face u, v
  and face index) and fused into the equirect features by a CEE block (residual + SE);
* a monodepth2-style decoder (``equi_decoder``, modules in the published order) with nearest
  upsampling and ELU, ending in ``max_depth · sigmoid`` (``max_depth`` = 10, a frozen parameter).

Cube faces come from :func:`repro.geometry.equirect_to_cube`: UniFuse's dataset builds them with
py360convert's ``xyzcube`` (order F R B L U D, all upright) from the same pixel grid, which is
exactly ``repro.geometry``'s convention, so no re-ordering is needed. UniFuse normalises the
panorama before projecting it; sampling commutes with the per-channel normalisation, so
projecting the normalised input gives the same faces.

Output: ``max_depth · sigmoid(x)`` in both settings. Depth Anywhere kept the head and treats the
map as disparity for the affine-invariant loss; with ``metric=True`` it is metric depth in metres
(the original UniFuse, paper Table 5).

``base_channels`` (default 64, published) narrows the ResNet encoders (the decoder keeps its
published widths): the smoke suite's small student (docs/models.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from repro.geometry import cube_rotations, equirect_directions, equirect_to_cube
from repro.models.common import (
    PUBLISHED_BASE_CHANNELS,
    Student,
    resnet_channels,
    resnet_features,
    resnet_trunk,
)

DECODER_CHANNELS = (16, 32, 64, 128, 256)


class Conv3x3(nn.Module):
    """Zero-pad then 3×3 conv (key ``conv``)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d(1)
        self.conv = nn.Conv2d(in_ch, out_ch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    """:class:`Conv3x3` followed by ELU."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = Conv3x3(in_ch, out_ch)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv(x))


class SqueezeExcite(nn.Module):
    """Channel attention with bias-free linear layers (keys ``fc.0``, ``fc.2``)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.fc(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


class CEEFusion(nn.Module):
    """Cube-to-Equirectangular Enhancement: cube features refined by a residual, then fused."""

    def __init__(self, channels: int, se: bool = True) -> None:
        super().__init__()
        self.res_conv1 = nn.Conv2d(2 * channels, channels, 1, bias=False)
        self.res_bn1 = nn.BatchNorm2d(channels)
        self.res_conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.res_bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.selayer = SqueezeExcite(2 * channels) if se else None
        self.conv = nn.Conv2d(2 * channels, channels, 1, bias=False)

    def forward(self, equi: torch.Tensor, cube: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.res_bn1(self.res_conv1(torch.cat((equi, cube), 1))))
        enhanced = cube + self.res_bn2(self.res_conv2(x))
        x = torch.cat((equi, enhanced), 1)
        if self.selayer is not None:
            x = self.selayer(x)
        return self.relu(self.conv(x))


def cube_sample_grid(height: int, width: int) -> torch.Tensor:
    """(1,1,H,W,3) grid taking each panorama pixel from its cube face: (u, v, face), all in [-1, 1].

    Faces are in F R B L U D order; a pixel belongs to the face whose axis is closest to its ray.
    The face index ``f`` is stored as ``f/2.5 - 1`` so a 3-D ``grid_sample`` with
    ``align_corners=True`` over the stacked faces lands exactly on one face.
    """
    dirs = equirect_directions(height, width, dtype=torch.float64)
    rots = cube_rotations(dtype=torch.float64)
    face = torch.einsum("hwj,nj->hwn", dirs, rots[:, :, 2]).argmax(-1)
    local = torch.einsum("hwji,hwj->hwi", rots[face], dirs)
    u = (local[..., 0] / local[..., 2]).clamp(-1, 1)
    v = (-local[..., 1] / local[..., 2]).clamp(-1, 1)
    grid = torch.stack((u, v, face.double() / 2.5 - 1), -1)
    return grid.float()[None, None]


class CubeToEquirect(nn.Module):
    """Resample cube-face features (B*6, C, w, w) onto the panorama grid (B, C, H, W)."""

    def __init__(self, face_w: int, height: int, width: int) -> None:
        super().__init__()
        self.face_w = face_w
        # A frozen parameter (not a buffer) in the published model: keep it so checkpoints load
        # key-for-key and the parameter count matches.
        self.sample_grid = nn.Parameter(cube_sample_grid(height, width), requires_grad=False)

    def forward(self, cube: torch.Tensor) -> torch.Tensor:
        n, c, h, w = cube.shape
        if h != self.face_w or w != self.face_w or n % 6:
            raise ValueError(f"expected (B*6, C, {self.face_w}, {self.face_w}) cube features, got {tuple(cube.shape)}")
        b = n // 6
        stacked = cube.view(b, 6, c, h, w).transpose(1, 2)  # (B, C, 6, w, w): depth axis = face
        grid = self.sample_grid.to(cube.dtype).expand(b, -1, -1, -1, -1)
        return F.grid_sample(stacked, grid, padding_mode="border", align_corners=True).squeeze(2)


class MonoDecoderNet(Student):
    """The equirect decoder UniFuse and its Equi baseline share (``equi_decoder``, ``max_depth``).

    Subclasses supply :meth:`skips`, the five features at 1/2 … 1/32 resolution the decoder
    consumes, and :meth:`fusion_layers` (UniFuse's fusion blocks, interleaved in the published order).
    """

    def __init__(
        self, layers: int, height: int, width: int, max_depth: float, metric: bool, base_channels: int
    ) -> None:
        super().__init__(height, width, metric)
        self.num_layers = layers
        self.base_channels = base_channels
        self.enc_channels = resnet_channels(layers, base_channels)
        # The decoder keeps its published widths at every base_channels: a decoder narrowed with the
        # encoder (4 channels before the head at 16) gives an almost flat untrained output, which
        # makes the affine-invariant loss's median/scale, and so the smoke numbers, chaotic under
        # arithmetic-order noise (1 vs 2 threads moved AbsRel by 1.4e-4; 3e-7 with this decoder).
        self.dec_channels = DECODER_CHANNELS
        self.max_depth = nn.Parameter(torch.tensor(float(max_depth)), requires_grad=False)

    def build_decoder(self) -> None:
        """Create ``equi_decoder``; called by subclasses after their encoders (published order)."""
        self._decoder_index: dict[str, int] = {}
        modules: list[nn.Module] = []

        def add(name: str, module: nn.Module) -> None:
            self._decoder_index[name] = len(modules)
            modules.append(module)

        enc, dec = self.enc_channels, self.dec_channels
        for level in (5, 4, 3, 2, 1):
            fusion = self.fusion_layer(enc[level - 1])
            if fusion is not None:
                add(f"fusion_{level}", fusion)
            if level < 5:
                add(f"deconv_{level}", ConvBlock(dec[level] + enc[level - 1], dec[level]))
            add(f"upconv_{level}", ConvBlock(enc[4] if level == 5 else dec[level], dec[level - 1]))
        add("deconv_0", ConvBlock(dec[0], dec[0]))
        add("depthconv_0", Conv3x3(dec[0], 1))
        self.equi_decoder = nn.ModuleList(modules)

    def fusion_layer(self, channels: int) -> nn.Module | None:
        return None

    def block(self, name: str) -> nn.Module:
        return self.equi_decoder[self._decoder_index[name]]

    def skips(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        feats = self.skips(x)
        out = feats[4]
        for level in (5, 4, 3, 2, 1):
            if level < 5:
                out = self.block(f"deconv_{level}")(torch.cat((out, feats[level - 1]), 1))
            out = F.interpolate(self.block(f"upconv_{level}")(out), scale_factor=2, mode="nearest")
        out = self.block("depthconv_0")(self.block("deconv_0")(out))
        return self.max_depth * torch.sigmoid(out)


class UniFuse(MonoDecoderNet):
    name = "unifuse"
    height_multiple = 64  # the cube faces (H/2) must survive the encoder's stride of 32

    def __init__(
        self,
        layers: int = 18,
        height: int = 512,
        width: int = 1024,
        pretrained: bool = False,
        max_depth: float = 10.0,
        fusion: str = "cee",
        se_in_fusion: bool = True,
        metric: bool = False,
        base_channels: int = PUBLISHED_BASE_CHANNELS,
    ) -> None:
        if fusion != "cee":
            raise ValueError(f"unifuse: only the published 'cee' fusion is implemented, got {fusion!r}")
        self.se_in_fusion = se_in_fusion
        super().__init__(layers, height, width, max_depth, metric, base_channels)
        self.equi_encoder = resnet_trunk(layers, pretrained, base_channels)
        self.cube_encoder = resnet_trunk(layers, pretrained, base_channels)
        self.build_decoder()
        self.cube_size = height // 2
        self.projectors = nn.ModuleList(
            CubeToEquirect(self.cube_size // s, height // s, width // s) for s in (32, 16, 8, 4, 2)
        )

    def fusion_layer(self, channels: int) -> nn.Module:
        return CEEFusion(channels, se=self.se_in_fusion)

    def skips(self, x: torch.Tensor) -> list[torch.Tensor]:
        cube = equirect_to_cube(x, self.cube_size).flatten(0, 1)  # (B*6, 3, w, w), F R B L U D
        equi_feats = resnet_features(self.equi_encoder, x)
        cube_feats = resnet_features(self.cube_encoder, cube)
        fused = []
        for level in (1, 2, 3, 4, 5):
            c2e = self.projectors[5 - level](cube_feats[level - 1])
            fused.append(self.block(f"fusion_{level}")(equi_feats[level - 1], c2e))
        return fused
