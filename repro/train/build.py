"""From settings to objects: datasets (``repro.data``), student (``repro.models``), teacher (``repro.teacher``).

The only place the trainer touches the other packages' constructors, so the loop itself can be
driven by any model and datasets that honour the contracts (the tests use tiny ones).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from repro.errors import UserError
from repro.models import build_student_from_meta
from repro.run_settings import DataRef, TrainSettings
from repro.teacher import build_teacher_from_spec
from repro.train.loop import Components, EpochConcat


def student_meta(settings: TrainSettings) -> dict[str, Any]:
    """Everything :func:`repro.models.build_student_from_meta` needs, stored in every checkpoint."""
    h, w = settings.input_size
    return {
        "name": settings.student.name,
        "options": dict(settings.student.options),
        "input_size": [int(h), int(w)],
        "metric": settings.loss != "affine_inv",
        "output_kind": "disparity" if settings.loss == "affine_inv" else "depth",
    }


def datasets_of(refs: list[DataRef], settings: TrainSettings, data_root: Path, masks: Any) -> list[Any]:
    """One dataset per ref, augmented as the settings say (``repro.data.build_dataset``)."""
    from repro.data import AugmentConfig, build_dataset

    roll, flip, jitter = settings.augment_flags
    augment = AugmentConfig(yaw_roll=roll, flip_p=0.5 if flip else 0.0, jitter_p=0.5 if jitter else 0.0)
    def ref_masks(ref: DataRef) -> Any:
        """The unlabeled role's masks for this dataset (``masks.masked_datasets``); backend none if excluded."""
        return masks if masks is None or masks.applies_to(ref.dataset) else dataclasses.replace(masks, backend="none")

    extra = {"min_valid_fraction": masks.min_valid_fraction} if masks is not None else {}
    parts = [
        build_dataset(
            ref, data_root, size=tuple(settings.input_size), augment=augment if any(settings.augment_flags) else False,
            masks=ref_masks(ref), seed=settings.seed, **extra,
        )
        for ref in refs
    ]
    return parts


def _datasets(refs: list[DataRef], settings: TrainSettings, data_root: Path, masks: Any) -> torch.utils.data.Dataset:
    parts = datasets_of(refs, settings, data_root, masks)
    if masks is None:  # labeled: refuse (nearly) all-invalid ground truth before the first step
        from repro.data.validity import check_ground_truth

        for ref, part in zip(refs, parts, strict=True):
            check_ground_truth(part, f"{ref.dataset}/{ref.split} under {part.root}")
    return parts[0] if len(parts) == 1 else EpochConcat(parts)


def build_components(settings: TrainSettings, data_root: str | Path) -> Components:
    """Datasets, student (seeded initialisation) and teacher of a run."""
    data_root = Path(data_root)
    labeled = _datasets(settings.labeled, settings, data_root, masks=None)
    unlabeled = _datasets(settings.pseudo, settings, data_root, masks=settings.masks) if settings.pseudo else None
    meta = student_meta(settings)
    torch.manual_seed(settings.seed)  # the same initial weights on every rank and every rerun
    try:
        model = build_student_from_meta(meta, pretrained=settings.student.pretrained)
    except (ValueError, TypeError) as exc:  # an impossible student option: the config's fault, said in one line
        raise UserError(f"train.student ({meta['name']}, options {meta['options']}): {exc}") from None
    cached = settings.pseudo_labels == "cached"
    teacher = build_teacher_from_spec(settings.teacher) if settings.pseudo and not cached else None
    if unlabeled is not None and cached:
        from repro.train.pseudo_cache import CachedTargets

        unlabeled = CachedTargets(unlabeled, settings, data_root)  # no teacher: its targets are on disk
    return Components(model=model, labeled=labeled, unlabeled=unlabeled, teacher=teacher, student=meta)
