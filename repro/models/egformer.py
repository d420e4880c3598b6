"""EGformer (Yun et al., ICCV 2023): equirectangular geometry-biased transformer.

Architecture facts from yuniw18/EGformer (``models/egformer.py``, ``EGDepthModel(hybrid=False)``;
its PanoFormer blocks in ``models/Panoformer``), the model Depth Anywhere trains:

* stride-2 conv patch embedding (32 channels) and a U-shaped encoder/decoder of nine stages of
  two blocks each (``stage1``–``stage4``, ``bottleneck``, ``dec_stage5``–``dec_stage8``), with
  stride-2 conv ``Merge_Block`` downsampling and nearest-×2 + conv upsampling, skip connections
  merged by ``tuneN`` conv blocks;
* the two outermost stages on each side (1/2 and 1/4 resolution) pair a PanoFormer layer
  (two blocks of spherical deformable attention over 3×3 tangent-plane sampling points, and a
  depth-wise conv FFN) with one vertical EG block; the inner stages pair a horizontal and a
  vertical EG block;
* EG blocks attend within one image row (horizontal) or column (vertical), add the
  equirectangular relative position bias (ERPE, weight 0.1) to the unscaled dot products, turn
  them into distance-aware scores ``1 - cos(π/2 · normalize(attn))`` (DAS) and weight each window
  by its mean absolute attention relative to the largest in the batch, clamped at 0.5, mixing the
  block input back in with the complementary weight (EaAR);
* output head: conv, bilinear ×2, conv-ReLU, 1×1 conv, then a sigmoid in the published model.

Reproduced details that matter for released weights: the EaAR maximum is taken over every
window of the whole batch; EaAR's residual weights the block input split into consecutive
row-major chunks (for vertical attention these are not the columns the weights were computed on);
the PanoFormer sampling grid normalises pixel positions by ``size - 1`` but samples with
``align_corners=False``; drop-path rates follow the published 0.1 schedule.

The published code builds its sampling points and ERPE tables on the GPU in ``__init__`` (module
globals for 512×1024 only). Here they are non-persistent buffers computed for the configured
size on the CPU and moved with the model, so checkpoint keys are unchanged and any input size
H×2H with H a multiple of 32 works; 512×1024 is the published model.

Inputs (``input_norm``): ``"imagenet"`` (default) feeds the ImageNet-normalised image, as Depth
Anywhere trains EGformer; ``"unit"`` undoes the normalisation to feed [0, 1] RGB, as the published
EGformer was trained (use it with the original EGformer checkpoints).

Output (``output_activation``): Depth Anywhere removed the final sigmoid (``"identity"``) and
treats the map as disparity; ``"sigmoid"`` restores the published head, whose output is depth/8
(EGformer trains on depth divided by 8 with a scale-and-shift-invariant loss). ``metric=True``
selects the sigmoid head unless ``output_activation`` is given.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from repro.models.common import IMAGENET_MEAN, IMAGENET_STD, Student

EMBED_DIM = 32
DROP_PATH_RATE = 0.1
#: per stage (stage1-4, dec_stage5-8, bottleneck): EG-block heads, PanoFormer heads (outer stages)
EG_HEADS = (1, 2, 4, 8, 8, 4, 2, 1, 16)
PANO_HEADS = {0: 1, 1: 2, 6: 4, 7: 2}


# --------------------------------------------------------------------------------------------
# Lookup tables (derived from the resolution; published as GPU tensors built in __init__)
# --------------------------------------------------------------------------------------------


def sampling_points(height: int, width: int) -> torch.Tensor:
    """(1, H, W, 9, 2) PanoFormer sampling points: a 3×3 tangent-plane kernel around every pixel,
    projected to the sphere, as (row, column) positions in pixels."""
    lin = torch.arange(-1, 2, dtype=torch.float64)
    ker_x = torch.tan(lin * (2 * math.pi / width))[None, :].expand(3, 3)
    ker_y = (torch.tan(lin * (math.pi / height)) / torch.cos(lin * (2 * math.pi / width)))[:, None].expand(3, 3)
    rho = torch.sqrt(ker_x**2 + ker_y**2).clone()
    rho[1, 1] = 1e-8
    nu = torch.atan(rho)
    lat0 = ((torch.arange(height, dtype=torch.float64) / height) - 0.5) * math.pi
    lon0 = ((torch.arange(width, dtype=torch.float64) / width) - 0.5) * (2 * math.pi)
    lat0 = lat0[:, None, None]
    lat = torch.asin(torch.cos(nu) * torch.sin(lat0) + ker_y * torch.sin(nu) * torch.cos(lat0) / rho)
    lon = torch.atan(
        ker_x * torch.sin(nu) / (rho * torch.cos(lat0) * torch.cos(nu) - ker_y * torch.sin(lat0) * torch.sin(nu))
    )
    lat = (lat / math.pi + 0.5) * height  # (H, 3, 3)
    lon = torch.remainder(((lon[:, None] + lon0[None, :, None, None]) / (2 * math.pi) + 0.5) * width, width)
    points = torch.stack((lat[:, None].expand_as(lon), lon), -1)  # (H, W, 3, 3, 2)
    return points.reshape(1, height, width, 9, 2).float()


def _signed_chord(angles: torch.Tensor) -> torch.Tensor:
    """Chord length between two points on a unit circle, signed like the angle (0 counts negative)."""
    sign = torch.where(angles > 0, 1.0, -1.0).to(angles.dtype)
    return sign * torch.sqrt(2 * (1 - torch.cos(angles)))


def vertical_rpe(height: int) -> torch.Tensor:
    """(H, H) ERPE for attention within a column: signed chord between latitudes."""
    lin = torch.linspace(0, height, height, dtype=torch.float64) * (math.pi / height)
    return _signed_chord(lin[None, :] - lin[:, None]).float()


def horizontal_rpe(height: int, width: int) -> torch.Tensor:
    """(H, W, W) ERPE for attention within row k: signed chord between longitudes, scaled by
    sin(kπ/H) (the published table indexes rows from the top without a half-pixel offset)."""
    lin = torch.linspace(0, width, width, dtype=torch.float64) * (2 * math.pi / width)
    base = _signed_chord(lin[None, :] - lin[:, None])
    rows = torch.sin(torch.arange(height, dtype=torch.float64) * (math.pi / height))
    return (rows[:, None, None] * base[None]).float()


# --------------------------------------------------------------------------------------------
# Token <-> image helpers
# --------------------------------------------------------------------------------------------


def tokens_to_image(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    b, _, c = x.shape
    return x.transpose(1, 2).reshape(b, c, *size)


def image_to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)


class ToTokens(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return image_to_tokens(x)


# --------------------------------------------------------------------------------------------
# PanoFormer layer (outer stages)
# --------------------------------------------------------------------------------------------


class PanoSelfAttention(nn.Module):
    """Deformable attention over 9 learned offsets from the spherical sampling points."""

    def __init__(self, dim: int, heads: int, points: int = 9) -> None:
        super().__init__()
        self.heads, self.points = heads, points
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.offset_proj = nn.Linear(dim, 2 * heads * points)
        self.A_proj = nn.Linear(dim, heads * points)
        self.wm_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C); ref: (1, H, W, 9, 2) sampling points in pixels (row, column)."""
        b, h, w, c = x.shape
        m, k, dk = self.heads, self.points, c // self.heads
        query = self.q_proj(x)
        offset = self.offset_proj(query).view(b, h, w, m, k, 2).permute(0, 3, 1, 2, 4, 5)
        weights = self.A_proj(query).view(b, h, w, m, k).softmax(-1).permute(0, 3, 1, 2, 4)
        value = self.k_proj(x).view(b, h, w, m, dk).permute(0, 3, 4, 1, 2).reshape(b * m, dk, h, w)
        pts = (ref[:, None] + offset).reshape(b * m, h, w * k, 2)
        scale = pts.new_tensor([2.0 / max(h - 1, 1), 2.0 / max(w - 1, 1)])
        grid = (pts * scale - 1).flip(-1)  # (x = column, y = row)
        sampled = F.grid_sample(value, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampled = sampled.view(b, m, dk, h, w, k)
        out = torch.einsum("bmdhwk,bmhwk->bhwmd", sampled, weights).reshape(b, h, w, c)
        return self.wm_proj(out)


class LeFF(nn.Module):
    """Token FFN with a depth-wise 3×3 conv, padded circularly across the panorama seam."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.linear1 = nn.Sequential(nn.Linear(dim, hidden), nn.GELU())
        self.dwconv = nn.Sequential(nn.Conv2d(hidden, hidden, 3, groups=hidden), nn.GELU())
        self.linear2 = nn.Sequential(nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        img = tokens_to_image(self.linear1(x), size)
        img = F.pad(F.pad(img, (1, 1, 0, 0), mode="circular"), (0, 0, 1, 1))
        return self.linear2(image_to_tokens(self.dwconv(img)))


class PanoformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, size: tuple[int, int], drop_path: float) -> None:
        super().__init__()
        self.size = size
        self.norm1 = nn.LayerNorm(dim)
        self.dattn = PanoSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = LeFF(dim, 4 * dim)
        self.drop_path = StochasticDepth(drop_path, "row")

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        attn = self.dattn(self.norm1(x).view(b, *self.size, c), ref).view(b, -1, c)
        x = x + self.drop_path(attn)
        return x + self.drop_path(self.mlp(self.norm2(x), self.size))


class PanoformerLayer(nn.Module):
    """Two PanoFormer blocks sharing one table of sampling points (key ``blocks.N``)."""

    def __init__(self, dim: int, heads: int, size: tuple[int, int], drop_paths: list[float]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(PanoformerBlock(dim, heads, size, p) for p in drop_paths)
        self.register_buffer("ref_points", sampling_points(*size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, self.ref_points.to(x.dtype))
        return x


# --------------------------------------------------------------------------------------------
# EG block (stripe attention with ERPE, DAS and EaAR)
# --------------------------------------------------------------------------------------------


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class EGBlock(nn.Module):
    """Attention within rows (``horizontal``) or columns (vertical) of the token grid."""

    def __init__(self, dim: int, heads: int, size: tuple[int, int], horizontal: bool, drop_path: float) -> None:
        super().__init__()
        self.heads, self.size, self.horizontal = heads, size, horizontal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.norm1 = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = Mlp(dim, 4 * dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop_path = StochasticDepth(drop_path, "row")
        rpe = horizontal_rpe(*size)[:, None] if horizontal else vertical_rpe(size[0])
        self.register_buffer("rpe", rpe, persistent=False)

    def _windows(self, t: torch.Tensor) -> torch.Tensor:
        """(B, H*W, C) -> (windows, heads, length, C/heads): rows or columns."""
        b, _, c = t.shape
        h, w = self.size
        t = t.view(b, h, w, c)
        if not self.horizontal:
            t = t.transpose(1, 2)
        t = t.reshape(-1, t.shape[2], self.heads, c // self.heads)
        return t.transpose(1, 2)

    def _from_windows(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        n, _, length, _ = t.shape
        t = t.transpose(1, 2).reshape(batch, n // batch, length, -1)
        if not self.horizontal:
            t = t.transpose(1, 2)
        return t.reshape(batch, -1, t.shape[-1])

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        q, k, v = (self._windows(t) for t in self.qkv(self.norm1(x)).chunk(3, dim=-1))
        attn = q @ k.transpose(-2, -1)  # no 1/sqrt(d) scaling, as published
        if self.horizontal:  # the bias depends on the row: windows are (batch, row)
            attn = (attn.unflatten(0, (b, -1)) + 0.1 * self.rpe.to(attn.dtype)).flatten(0, 1)
        else:
            attn = attn + 0.1 * self.rpe.to(attn.dtype)
        importance = attn.abs().mean(dim=(1, 2, 3), keepdim=True)
        attn = 1 - torch.cos(F.normalize(attn, dim=-1) * (math.pi / 2))  # DAS
        importance = (importance / importance.max()).clamp(min=0.5)  # EaAR, max over the whole batch
        out = self._from_windows((attn * importance) @ v, b)
        n, length = attn.shape[0], attn.shape[-1]
        residual = x.reshape(n, length, c) * (1 - importance.view(n, 1, 1))  # row-major chunks, as published
        return out + residual.view(b, -1, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.proj(self.attention(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


# --------------------------------------------------------------------------------------------
# Resampling and skip-merging blocks
# --------------------------------------------------------------------------------------------


class MergeBlock(nn.Module):
    """Tokens -> (nearest ×2 up, or stride-2 down) conv -> GELU -> LayerNorm -> tokens."""

    def __init__(self, dim: int, dim_out: int, size: tuple[int, int], upsample: bool) -> None:
        super().__init__()
        self.size, self.upsample = size, upsample
        self.conv = nn.Conv2d(dim, dim_out, 3, 1 if upsample else 2, 1)
        self.norm = nn.LayerNorm(dim_out)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img = tokens_to_image(x, self.size)
        if self.upsample:
            img = F.interpolate(img, scale_factor=2.0)
        return self.norm(image_to_tokens(self.gelu(self.conv(img))))


class TuneBlock(nn.Module):
    """Image -> conv -> GELU -> LayerNorm (over channels) -> image."""

    def __init__(self, dim: int, dim_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim_out, 3, 1, 1)
        self.norm = nn.LayerNorm(dim_out)
        self.gelu = nn.GELU()

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.norm(self.gelu(self.conv(img)).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


class EGFormer(Student):
    name = "egformer"
    height_multiple = 64  # five stride-2 stages and a bottleneck of at least 2×4 tokens

    def __init__(
        self,
        height: int = 512,
        width: int = 1024,
        input_norm: Literal["imagenet", "unit"] = "imagenet",
        output_activation: Literal["identity", "sigmoid"] | None = None,
        metric: bool = False,
        pretrained: bool = False,
        base_channels: int = EMBED_DIM,
    ) -> None:
        super().__init__(height, width, metric)
        if isinstance(base_channels, bool) or not isinstance(base_channels, int) or base_channels < 1:
            raise ValueError(f"egformer: base_channels must be a positive integer, got {base_channels!r}")
        del pretrained  # no ImageNet backbone: the published EGformer is trained from scratch
        if input_norm not in ("imagenet", "unit"):
            raise ValueError(f"egformer: input_norm must be 'imagenet' or 'unit', got {input_norm!r}")
        self.input_norm = input_norm
        activation = output_activation or ("sigmoid" if metric else "identity")
        if activation not in ("identity", "sigmoid"):
            raise ValueError(f"egformer: output_activation must be 'identity' or 'sigmoid', got {activation!r}")

        def size(level: int) -> tuple[int, int]:  # token grid at 1/2**level of the input
            return height // 2**level, width // 2**level

        dpr = torch.linspace(0, DROP_PATH_RATE, 18, device="cpu").tolist()
        pano_dpr = torch.linspace(0, DROP_PATH_RATE, 8, device="cpu").tolist()
        pano_dpr = {0: pano_dpr[0:2], 1: pano_dpr[2:4], 6: pano_dpr[::-1][4:6], 7: pano_dpr[::-1][6:8]}

        def stage(index: int, level: int, dim: int) -> nn.ModuleList:
            """Stage ``index`` (0-3 encoder, 4-7 decoder, 8 bottleneck) at 1/2**level resolution."""
            first: nn.Module
            if index in PANO_HEADS:
                first = PanoformerLayer(dim, PANO_HEADS[index], size(level), pano_dpr[index])
            else:
                first = EGBlock(dim, EG_HEADS[index], size(level), True, dpr[2 * index])
            return nn.ModuleList([first, EGBlock(dim, EG_HEADS[index], size(level), False, dpr[2 * index + 1])])

        d = base_channels  # the first stage's width; every later stage is a multiple of it
        self.patch_embed = nn.Sequential(nn.Conv2d(3, d, 3, 2, 1), ToTokens(), nn.LayerNorm(d))
        self.stage1 = stage(0, 1, d)
        self.downsample1 = MergeBlock(d, 2 * d, size(1), upsample=False)
        self.stage2 = stage(1, 2, 2 * d)
        self.downsample2 = MergeBlock(2 * d, 4 * d, size(2), upsample=False)
        self.stage3 = stage(2, 3, 4 * d)
        self.downsample3 = MergeBlock(4 * d, 8 * d, size(3), upsample=False)
        self.stage4 = stage(3, 4, 8 * d)
        self.downsample4 = MergeBlock(8 * d, 16 * d, size(4), upsample=False)
        self.bottleneck = stage(8, 5, 16 * d)
        self.upsample5 = MergeBlock(16 * d, 8 * d, size(5), upsample=True)
        self.dec_stage5 = stage(4, 4, 8 * d)
        self.upsample6 = MergeBlock(8 * d, 4 * d, size(4), upsample=True)
        self.tune5 = TuneBlock(16 * d, 8 * d)
        self.dec_stage6 = stage(5, 3, 4 * d)
        self.upsample7 = MergeBlock(4 * d, 2 * d, size(3), upsample=True)
        self.tune6 = TuneBlock(8 * d, 4 * d)
        self.dec_stage7 = stage(6, 2, 2 * d)
        self.upsample8 = MergeBlock(2 * d, d, size(2), upsample=True)
        self.tune7 = TuneBlock(4 * d, 2 * d)
        self.dec_stage8 = stage(7, 1, d)
        self.tune8 = TuneBlock(2 * d, d)
        self.tune_final = TuneBlock(d, d)
        self.norm = nn.LayerNorm(d)  # built but unused by the published forward; kept for checkpoints
        self.output_conv = nn.Sequential(
            nn.Conv2d(d, d, 3, 1, 1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(d, 32, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(32, 1, 1),
            nn.Sigmoid() if activation == "sigmoid" else nn.Identity(),
        )
        self.apply(_init_weights)

    @staticmethod
    def _run(blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        for block in blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.input_norm == "unit":
            x = x * x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1) + x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        h, w = self.input_size
        x = self.patch_embed(x)
        skips = []
        encoder = (self.stage1, self.stage2, self.stage3, self.stage4)
        down = (self.downsample1, self.downsample2, self.downsample3, self.downsample4)
        for blocks, merge in zip(encoder, down):
            x = self._run(blocks, x)
            skips.append(x)
            x = merge(x)
        x = self._run(self.bottleneck, x)
        decoder = (
            (self.upsample5, self.dec_stage5, self.tune5),
            (self.upsample6, self.dec_stage6, self.tune6),
            (self.upsample7, self.dec_stage7, self.tune7),
            (self.upsample8, self.dec_stage8, self.tune8),
        )
        for level, (up, blocks, tune) in zip((4, 3, 2, 1), decoder):
            x = self._run(blocks, up(x))
            size = (h // 2**level, w // 2**level)
            x = image_to_tokens(tune(torch.cat((tokens_to_image(skips[level - 1], size), tokens_to_image(x, size)), 1)))
        img = self.tune_final(tokens_to_image(x, (h // 2, w // 2)))
        return self.output_conv(img)


def _init_weights(m: nn.Module) -> None:
    """The published initialisation, applied last (it overrides PanoFormer's own offset init)."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
