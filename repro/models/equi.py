"""The equirect-only baseline of UniFuse (``UniFuse/networks/equi.py``, ``--net Equi``).

UniFuse without the cube branch: one ResNet encoder on the panorama and the same decoder, skip
connections taken straight from the encoder. Same output head and conventions as
:mod:`repro.models.unifuse` (``max_depth · sigmoid``; disparity unless ``metric=True``).
"""

from __future__ import annotations

import torch

from repro.models.common import PUBLISHED_BASE_CHANNELS, resnet_features, resnet_trunk
from repro.models.unifuse import MonoDecoderNet


class Equi(MonoDecoderNet):
    name = "equi"

    def __init__(
        self,
        layers: int = 18,
        height: int = 512,
        width: int = 1024,
        pretrained: bool = False,
        max_depth: float = 10.0,
        metric: bool = False,
        base_channels: int = PUBLISHED_BASE_CHANNELS,
    ) -> None:
        super().__init__(layers, height, width, max_depth, metric, base_channels)
        self.equi_encoder = resnet_trunk(layers, pretrained, base_channels)
        self.build_decoder()

    def skips(self, x: torch.Tensor) -> list[torch.Tensor]:
        return resnet_features(self.equi_encoder, x)
