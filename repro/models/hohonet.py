"""HoHoNet (Sun et al., CVPR 2021): 360 dense depth from a compressed horizontal feature.

Architecture facts from sunset1995/HoHoNet (``lib/model``), configuration
``config/mp3d_depth/HOHO_depth_dct_efficienthc_TransEn1.yaml`` (what Depth Anywhere trains):

* ResNet-50 encoder (``encoder.encoder``), features after layer1–4;
* efficient height compression (``decoder``): per scale conv-BN-ReLU, circular ×s width
  upsampling to 1/4 width, conv-BN-ReLU, then a depthwise (h, 1) conv collapsing the height;
  the four results are concatenated and fused to 1024 channels — one feature per column;
* one pre-norm transformer encoder layer over the columns with fixed sinusoidal positions
  (``horizon_refine``; 8 heads, FFN 2048, dropout 0.1);
* ``emb_shared_latent``: circular ×4 width upsampling and a 1024→256 1-D conv;
* the depth head (``modalities.0``) predicts 64 DCT coefficients per column; the depth column is
  ``bias + Σ_k c_k cos(π k (h + ½) / H)``. No output activation.

Every convolution with width padding pads circularly (``wrap_lr_pad`` in the published code),
which wraps it as ``Sequential(pad, conv)``: hence keys like ``encoder.encoder.conv1.1.weight``.

Because the compression kernels span the feature heights and the positional table spans the
feature width, the layer shapes depend on the input size: 512×1024 is the published model;
other sizes (e.g. 64×128 in tests) build the same network scaled accordingly.

Inputs (``input_norm``): the published HoHoNet takes [0, 1] RGB and normalises it with its
``x_mean``/``x_std`` buffers. ``"imagenet"`` (default) feeds the ImageNet-normalised input
straight to the encoder — exactly the published computation. ``"double"`` applies the buffers
once more, which is what Depth Anywhere's released code does (its loader already normalises), so
use it with Depth Anywhere's HoHoNet checkpoints.

Output: the raw DCT reconstruction; depth in metres with ``metric=True`` (HoHoNet's L1 training),
disparity in the affine-invariant setting.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from repro.models.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PUBLISHED_BASE_CHANNELS,
    Student,
    resnet_channels,
    resnet_features,
    resnet_trunk,
    wrap_conv_width_padding,
)


def upsample_width_wrapped(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Linear upsampling of the width only, treating the width as circular."""
    padded = torch.cat((x[..., -1:], x, x[..., :1]), dim=-1)
    if x.dim() == 3:
        out = F.interpolate(padded, scale_factor=scale, mode="linear", align_corners=False)
    else:
        out = F.interpolate(padded, scale_factor=(1, scale), mode="bilinear", align_corners=False)
    return out[..., scale:-scale]


class UpsampleW(nn.Module):
    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample_width_wrapped(x, self.scale)


class Backbone(nn.Module):
    """Holds the ResNet as ``encoder`` so keys read ``encoder.encoder.*`` as published."""

    def __init__(self, layers: int, pretrained: bool, base_channels: int = PUBLISHED_BASE_CHANNELS) -> None:
        super().__init__()
        self.encoder = resnet_trunk(layers, pretrained, base_channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return resnet_features(self.encoder, x)[1:]


def _compress_height(in_ch: int, out_ch: int, scale: int, height: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        UpsampleW(scale),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, (height, 1), groups=out_ch, bias=False),
    )


class EfficientHeightReduction(nn.Module):
    def __init__(self, channels: tuple[int, ...], heights: tuple[int, ...], out_ch: int = 1024) -> None:
        super().__init__()
        self.ghc_lst = nn.ModuleList(
            _compress_height(c, c // 4, 2**i, h) for i, (c, h) in enumerate(zip(channels, heights))
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(sum(channels) // 4, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([f(x) for f, x in zip(self.ghc_lst, feats)], dim=1)
        return self.fuse(x).squeeze(2)  # (B, C, W/4)


def sinusoid_table(length: int, channels: int) -> torch.Tensor:
    """(1, C, L) fixed positional encoding: sin on even channels, cos on odd ones."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(10000.0) / channels))
    table = torch.zeros(length, channels)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.T[None].contiguous()


class TransEn(nn.Module):
    """Pre-norm transformer encoder over the horizontal feature (keys ``pos``, ``transen.layers.N``)."""

    def __init__(self, channels: int, length: int, num_layers: int = 1, heads: int = 8, ffn: int = 2048) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(channels, heads, ffn, dropout=0.1, activation="relu", norm_first=True)
        self.transen = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.register_buffer("pos", sinusoid_table(length, channels))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        seq = (feat + self.pos).permute(2, 0, 1)  # (L, B, C)
        return self.transen(seq).permute(1, 2, 0)


def dct_basis(n_components: int, height: int) -> torch.Tensor:
    """(K, H) cosine basis: row k is cos(π k (h + ½) / H)."""
    rows = (torch.arange(height, dtype=torch.float32)[None] + 0.5) / height * math.pi
    return torch.cos(torch.arange(n_components, dtype=torch.float32)[:, None] * rows)


class DepthEstimator(nn.Module):
    def __init__(self, emb_dim: int, n_components: int, height: int) -> None:
        super().__init__()
        self.register_buffer("basis", dct_basis(n_components, height))
        self.estimator = nn.Sequential(
            nn.Conv1d(emb_dim, emb_dim, 1),
            nn.BatchNorm1d(emb_dim),
            nn.ReLU(inplace=True),
            nn.Conv1d(emb_dim, n_components, 1, bias=False),
        )
        self.bias = nn.Parameter(torch.full([1], 2.5))
        nn.init.normal_(self.estimator[-1].weight, std=0.1 / math.sqrt(emb_dim / 2))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        coeffs = self.estimator(feat)  # (B, K, W)
        return self.bias + torch.einsum("bkw,kh->bhw", coeffs, self.basis).unsqueeze(1)


class HoHoNet(Student):
    name = "hohonet"

    def __init__(
        self,
        layers: int = 50,
        height: int = 512,
        width: int = 1024,
        pretrained: bool = False,
        emb_dim: int = 256,
        n_components: int = 64,
        num_layers: int = 1,
        input_norm: Literal["imagenet", "double"] = "imagenet",
        metric: bool = False,
        base_channels: int = PUBLISHED_BASE_CHANNELS,
    ) -> None:
        super().__init__(height, width, metric)
        if input_norm not in ("imagenet", "double"):
            raise ValueError(f"hohonet: input_norm must be 'imagenet' or 'double', got {input_norm!r}")
        self.input_norm = input_norm
        self.register_buffer("x_mean", torch.tensor(IMAGENET_MEAN)[None, :, None, None])
        self.register_buffer("x_std", torch.tensor(IMAGENET_STD)[None, :, None, None])
        self.encoder = Backbone(layers, pretrained, base_channels)  # narrows the ResNet only
        channels = resnet_channels(layers, base_channels)[1:]
        self.decoder = EfficientHeightReduction(channels, tuple(height // 4 // 2**i for i in range(4)))
        self.horizon_refine = TransEn(1024, width // 4, num_layers)
        self.emb_shared_latent = nn.Sequential(
            UpsampleW(4),
            nn.Conv1d(1024, emb_dim, 3, padding=1, bias=False),
            nn.BatchNorm1d(emb_dim),
            nn.ReLU(inplace=True),
        )
        self.modalities = nn.ModuleList([DepthEstimator(emb_dim, n_components, height)])
        wrap_conv_width_padding(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.input_norm == "double":
            x = (x - self.x_mean) / self.x_std
        feat = self.horizon_refine(self.decoder(self.encoder(x)))
        return self.modalities[0](self.emb_shared_latent(feat))
