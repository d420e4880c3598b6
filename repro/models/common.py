"""Building blocks shared by the student networks.

Everything here exists because at least two published networks use it: torchvision ResNet trunks
(UniFuse, BiFuse++, HoHoNet), the input conventions the published code was trained with, cube
faces in a network's own order, and the base class that gives every student the same contract:
``forward(x)`` takes the ImageNet-normalised equirect RGB (B,3,H,W) and returns (B,1,H,W).
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import nn

from repro.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

OutputKind = Literal["disparity", "depth"]


class PretrainedWeightsUnavailable(UserError, RuntimeError):
    """ImageNet weights were requested but are neither cached nor downloadable (offline machine)."""


class InputSizeError(UserError, ValueError):
    """An input size the network cannot take (a user's --input-size or input_size: key)."""


class Student(nn.Module):
    """Base of all students: records what the output means and the input size it was built for.

    ``output_kind`` is ``"disparity"`` in the affine-invariant setting (the paper's default) and
    ``"depth"`` when built with ``metric=True`` (the original networks' metric output, Table 5).
    """

    name: str = "student"
    #: input heights must be multiples of this (the network's total stride, or more)
    height_multiple: int = 32
    #: regexes of checkpoint keys that hold derived data the model recomputes (see checkpoints.py)
    derived_state_patterns: tuple[str, ...] = ()

    def __init__(self, height: int, width: int, metric: bool) -> None:
        super().__init__()
        if width != 2 * height:
            raise InputSizeError(f"{self.name}: equirect input must be H×2H, got {height}×{width}")
        if height <= 0 or height % self.height_multiple:
            raise InputSizeError(
                f"{self.name}: input height must be a positive multiple of {self.height_multiple}, got {height}"
            )
        self.input_size = (height, width)
        self.output_kind: OutputKind = "depth" if metric else "disparity"

    def check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != self.input_size:
            h, w = self.input_size
            raise ValueError(f"{self.name} was built for (B,3,{h},{w}) input, got {tuple(x.shape)}")


# --------------------------------------------------------------------------------------------
# ResNet trunks
# --------------------------------------------------------------------------------------------

RESNET_CHANNELS = {18: (64, 64, 128, 256, 512), 34: (64, 64, 128, 256, 512)}
for _depth in (50, 101, 152):
    RESNET_CHANNELS[_depth] = (64, 256, 512, 1024, 2048)


#: the stem width of every published ResNet (and of torchvision's ImageNet weights)
PUBLISHED_BASE_CHANNELS = 64


def resnet_channels(depth: int, base_channels: int = PUBLISHED_BASE_CHANNELS) -> tuple[int, ...]:
    """Channels of the stem and layer1-4 outputs of a torchvision ResNet of this depth.

    ``base_channels`` narrows (or widens) every stage in proportion to the published 64; see
    :func:`resnet_trunk`.
    """
    if depth not in RESNET_CHANNELS:
        raise ValueError(f"ResNet depth (layers) must be one of {sorted(RESNET_CHANNELS)}, got {depth}")
    if isinstance(base_channels, bool) or not isinstance(base_channels, int) or base_channels < 1:
        raise ValueError(f"base_channels must be a positive integer, got {base_channels!r}")
    return tuple(c * base_channels // PUBLISHED_BASE_CHANNELS for c in RESNET_CHANNELS[depth])


def _imagenet_weights(depth: int) -> torchvision.models.WeightsEnum:
    # All four published recipes start from torchvision's original ImageNet weights (IMAGENET1K_V1):
    # UniFuse and HoHoNet via ``pretrained=True``/the v1 URLs, BiFuse++ via ``DEFAULT`` (= V1 for ResNet-34).
    enum = torchvision.models.get_model_weights(f"resnet{depth}")
    return enum.IMAGENET1K_V1


def imagenet_state_dict(depth: int) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet ResNet weights from the torch hub cache, downloading only if possible."""
    weights = _imagenet_weights(depth)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        if cached.exists():
            problem = f"the cached file {cached} could not be read ({exc}); delete it to download again"
        else:
            problem = f"they are not cached at {cached} and could not be downloaded ({exc})"
        raise PretrainedWeightsUnavailable(
            f"ImageNet weights for resnet{depth}: {problem}. Put torchvision's {weights.url} there, "
            "or build the student with pretrained=False."
        ) from exc


def resnet_trunk(depth: int, pretrained: bool = False, base_channels: int = PUBLISHED_BASE_CHANNELS) -> nn.Module:
    """A torchvision ResNet without its classifier (``fc``/``avgpool``), as every student uses it.

    ``base_channels`` below the published 64 builds a narrow trunk with the same modules and key
    names (stage widths ``base·(1, 2, 4, 8)``): the smoke suite's genuinely small students. Only
    the published width has ImageNet weights.
    """
    resnet_channels(depth, base_channels)
    net = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    if base_channels != PUBLISHED_BASE_CHANNELS:
        if pretrained:
            raise ValueError(
                f"pretrained ImageNet weights exist only for base_channels={PUBLISHED_BASE_CHANNELS}, "
                f"got {base_channels}: set pretrained: false"
            )
        _narrow_resnet(net, base_channels)
    if pretrained:
        net.load_state_dict(imagenet_state_dict(depth))
    del net.fc, net.avgpool
    return net


def _narrow_resnet(net: torchvision.models.ResNet, base_channels: int) -> None:
    """Rebuild the stem and the four stages at ``base_channels``, with torchvision's own init."""
    net.inplanes = base_channels
    net.conv1 = nn.Conv2d(3, base_channels, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(base_channels)
    for i in range(4):
        stage = getattr(net, f"layer{i + 1}")
        block = type(stage[0])
        planes = base_channels * 2**i
        setattr(net, f"layer{i + 1}", net._make_layer(block, planes, len(stage), stride=1 if i == 0 else 2))
    for module in net.modules():  # torchvision.models.ResNet.__init__'s initialisation
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def resnet_stem(trunk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """conv1-bn1-relu: the 1/2-resolution feature the UniFuse/BiFuse decoders skip-connect to."""
    return trunk.relu(trunk.bn1(trunk.conv1(x)))


def resnet_features(trunk: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Features at 1/2 (stem), 1/4, 1/8, 1/16 and 1/32 of the input."""
    feats = [resnet_stem(trunk, x)]
    x = trunk.maxpool(feats[0])
    for layer in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4):
        x = layer(x)
        feats.append(x)
    return feats


# --------------------------------------------------------------------------------------------
# Panorama-aware padding (HoHoNet wraps every convolution; EGformer's LeFF pads the same way)
# --------------------------------------------------------------------------------------------


class WrapPadW(nn.Module):
    """Pad the last dimension circularly: the panorama's left and right borders are neighbours."""

    def __init__(self, padding: int) -> None:
        super().__init__()
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        return torch.cat((x[..., -p:], x, x[..., :p]), dim=-1)

    def extra_repr(self) -> str:
        return f"padding={self.padding}"


def wrap_conv_width_padding(module: nn.Module) -> nn.Module:
    """Replace every conv's zero padding along the width by :class:`WrapPadW`, in place.

    Each such conv becomes ``Sequential(WrapPadW, conv)``, which is why HoHoNet checkpoint keys
    carry an extra ``.1.`` (``encoder.encoder.conv1.1.weight``).
    """
    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv1d, nn.Conv2d)) and child.padding[-1] != 0:
            pad_w = int(child.padding[-1])
            child.padding = (*child.padding[:-1], 0)
            setattr(module, name, nn.Sequential(WrapPadW(pad_w), child))
        else:
            wrap_conv_width_padding(child)
    return module
