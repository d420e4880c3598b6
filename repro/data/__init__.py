"""360° datasets in their real layouts, and a procedural synthetic world written in the same layouts.

Every reader yields the sample dict of the project contract: ``rgb`` (3, H, W) in [0, 1]
(augmented), ``rgb_noaug`` (same geometry, no colour jitter; for the teacher), ``depth`` (1, H, W)
metres with 0 = invalid, ``valid`` (1, H, W) bool, ``path``. ImageNet normalisation is the separate
step :func:`repro.data.transforms.imagenet_normalize`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repro.data.base import DataError, PanoramaDataset
from repro.data.folder import ImageFolder, SpatialAudioGen
from repro.data.matterport import Matterport3D
from repro.data.stanford import Stanford2D3D
from repro.data.structured3d import Structured3D
from repro.data.transforms import AugmentConfig, imagenet_normalize

DATASETS: dict[str, type[PanoramaDataset]] = {
    cls.name: cls for cls in (Matterport3D, Stanford2D3D, Structured3D, SpatialAudioGen, ImageFolder)
}


def dataset_class(name: str) -> type[PanoramaDataset]:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset '{name}' (choose from {', '.join(DATASETS)})") from None


def build_dataset(
    ref: Any,
    data_root: str | Path,
    size: tuple[int, int] = (512, 1024),
    augment: bool | AugmentConfig = False,
    masks: Any = None,
    **options: Any,
) -> PanoramaDataset:
    """The reader of a :class:`repro.run_settings.DataRef` under ``data_root``.

    ``masks``: None (labeled role: ``valid`` from depth), a :class:`repro.run_settings.MaskSpec`
    (unlabeled role: masks under ``ref.mask_dir(data_root)``, none for backend ``none``), or a
    mask folder path. ``options`` go to the reader (``seed``, ``max_depth``, ``split_file``...).
    """
    mask_root: Path | None
    if masks is None or getattr(masks, "backend", None) == "none":
        mask_root = None
    elif hasattr(masks, "backend"):
        mask_root = ref.mask_dir(Path(data_root))
    else:
        mask_root = Path(masks)
    cls = dataset_class(ref.dataset)
    return cls(ref.root_dir(Path(data_root)), ref.split, size, augment, mask_root=mask_root, **options)


__all__ = [
    "DATASETS",
    "AugmentConfig",
    "DataError",
    "ImageFolder",
    "Matterport3D",
    "PanoramaDataset",
    "SpatialAudioGen",
    "Stanford2D3D",
    "Structured3D",
    "build_dataset",
    "dataset_class",
    "imagenet_normalize",
]
