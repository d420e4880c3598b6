"""Student registry: one name per published network, built lazily by ``build_student``."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any

import torch

from repro.models.common import Student


@dataclass(frozen=True)
class StudentInfo:
    name: str
    target: str  # "module:Class"
    summary: str
    source: str  # the published code the architecture follows
    default_size: tuple[int, int] = (512, 1024)

    def load_class(self) -> type[Student]:
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)

    def options(self) -> dict[str, Any]:
        """Constructor options and their defaults."""
        params = inspect.signature(self.load_class().__init__).parameters
        return {k: p.default for k, p in params.items() if k != "self"}


STUDENTS: dict[str, StudentInfo] = {
    info.name: info
    for info in (
        StudentInfo(
            "unifuse",
            "repro.models.unifuse:UniFuse",
            "UniFuse: ResNet-18 equirect + cube encoders, CEE fusion",
            "alibaba/UniFuse-Unidirectional-Fusion",
        ),
        StudentInfo(
            "bifusepp",
            "repro.models.bifusepp:BiFusePP",
            "BiFuse++: ResNet-34 bi-projection fusion, PixelShuffle decoder",
            "fuenwang/BiFusev2",
        ),
        StudentInfo(
            "hohonet",
            "repro.models.hohonet:HoHoNet",
            "HoHoNet: ResNet-50, height compression, transformer, DCT head",
            "sunset1995/HoHoNet",
        ),
        StudentInfo(
            "egformer",
            "repro.models.egformer:EGFormer",
            "EGformer: equirectangular geometry-biased transformer",
            "yuniw18/EGformer",
        ),
        StudentInfo(
            "equi",
            "repro.models.equi:Equi",
            "Equirect-only baseline of UniFuse (no cube branch)",
            "alibaba/UniFuse-Unidirectional-Fusion",
        ),
    )
}


def list_students() -> list[StudentInfo]:
    return list(STUDENTS.values())


def student_info(name: str) -> StudentInfo:
    try:
        return STUDENTS[name]
    except KeyError:
        raise ValueError(f"unknown student {name!r}; choose one of {', '.join(STUDENTS)}") from None


def build_student(name: str, **options: Any) -> Student:
    """Build a student by name; ``options`` are its constructor arguments (see ``options()``).

    Every student takes ``height``, ``width``, ``pretrained`` (ImageNet backbone weights, default
    False) and ``metric`` (original metric output instead of disparity).
    """
    info = student_info(name)
    known = info.options()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(known)}")
    return info.load_class()(**options)


def parameter_counts(name: str, **options: Any) -> tuple[int, int]:
    """(all, trainable) parameters, counted on the meta device without allocating weights."""
    with torch.device("meta"):
        model = build_student(name, **options)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
