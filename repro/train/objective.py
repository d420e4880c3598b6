"""One training step's loss: ground truth on the labeled half, pseudo labels on the unlabeled half.

Following the released training code (``train.py: process_both``), the labeled and unlabeled
images go through the student in *one* forward pass (BatchNorm sees the mixed batch), and the
prediction is split afterwards:

* labeled, ``loss: affine_inv`` — the GT depth becomes disparity normalised to [0, 1] per image
  (paper §3.3) and meets the prediction in the affine-invariant L1 on valid pixels;
  ``loss: berhu`` — metric depth against metric depth (UniFuse's BerHu; the student is built with
  ``metric=True``);
* unlabeled — :mod:`repro.distill`: rotate, project, teacher faces vs the student's faces, per-face
  affine-invariant L1 on mask-valid pixels;
* total = ``w_gt · L_gt + w_pseudo · L_pseudo`` (paper §A.1: "we average the loss for ground truth
  and pseudo ground truth", i.e. 0.5/0.5). A run without unlabeled data minimises ``L_gt`` alone.

Each unlabeled image's rotation is drawn from its own generator seeded by the sample's ``key``
(:mod:`repro.train.sampling`), so it does not depend on batch composition, rank or resume point.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from repro.data.transforms import imagenet_normalize, undo_geometric
from repro.geometry.disparity import depth_to_disparity, normalize_01
from repro.geometry.released import draw_rotations
from repro.losses import affine_invariant_l1, berhu


@dataclass
class SectionTimer:
    """Wall time per named section, CUDA-synchronised; a disabled timer costs nothing.

    Used by the step-time benchmark to say where a step's time goes.
    """

    enabled: bool = False
    device: torch.device | None = None
    totals: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.totals[name] += time.perf_counter() - t0

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def reset(self) -> None:
        self.totals.clear()


def rotations_for(
    keys: torch.Tensor, max_deg: float, per_batch: bool = False, frame: str = "y_up"
) -> torch.Tensor | None:
    """One rotation per sample, each from a generator seeded by the sample's key (None: rotation off).

    ``per_batch`` (the released code: one ``rand(3)`` per step) gives every sample the rotation of
    the batch's first key. ``frame="y_down"`` is the released draw (``repro.geometry.released``).
    """
    if max_deg <= 0:
        return None
    if per_batch:
        return rotations_for(keys[:1], max_deg, frame=frame).expand(len(keys), 3, 3)
    gens = [torch.Generator().manual_seed(int(k)) for k in keys.tolist()]
    return torch.cat([draw_rotations(1, max_deg, generator=g, frame=frame) for g in gens])  # type: ignore[arg-type]


def labeled_target(depth: torch.Tensor, valid: torch.Tensor, loss: str) -> torch.Tensor:
    """What the labeled prediction is compared with: normalised disparity, or metric depth."""
    if loss == "affine_inv":
        return normalize_01(depth_to_disparity(depth), valid)
    return depth


class JointObjective:
    """Computes ``(total, parts)`` for one step; ``parts`` holds the unweighted ``gt``/``pseudo`` terms."""

    def __init__(
        self,
        settings: Any,
        teacher: Any | None,
        *,
        autocast_dtype: torch.dtype | None = None,
        timer: SectionTimer | None = None,
    ) -> None:
        self.loss = settings.loss
        self.reduction = settings.loss_reduction
        self.weights = settings.loss_weights
        self.distill = settings.distill
        self.teacher = teacher
        self.autocast_dtype = autocast_dtype
        self.timer = timer or SectionTimer()

    def gt_loss(self, pred: torch.Tensor, labeled: dict[str, torch.Tensor]) -> torch.Tensor:
        valid = labeled["valid"].bool() & (labeled["depth"] > 0)
        target = labeled_target(labeled["depth"], valid, self.loss)
        if self.loss == "affine_inv":
            return affine_invariant_l1(pred, target, valid, reduction=self.reduction)
        return berhu(pred, target, valid)

    @torch.no_grad()
    def pseudo_targets(self, unlabeled: dict[str, torch.Tensor]) -> Any:
        from repro.distill import teacher_targets

        rgb = unlabeled["rgb_noaug"]
        spec = self.distill
        rotation = rotations_for(
            unlabeled["key"], spec.rotation_max_deg, spec.rotation_sampling == "per_batch", spec.rotation_frame
        )
        if rotation is not None:
            rotation = rotation.to(rgb.device, rgb.dtype)
        needs_depth = bool(getattr(self.teacher, "is_stand_in", False))  # the oracle reads true depth
        return teacher_targets(
            self.teacher,
            rgb,
            unlabeled["valid"],
            rotation,
            projection=self.distill.projection,
            face_size=self.distill.face_size,
            mask_mode=self.distill.mask_mode,
            depth=unlabeled["depth"] if needs_depth else None,
            sampling=spec.sampling,
            rotation_pass=spec.rotation_pass,
            has_mask=unlabeled.get("has_mask"),
        )

    def forward_student(self, model: nn.Module, rgb: torch.Tensor) -> torch.Tensor:
        with torch.autocast(
            rgb.device.type, dtype=self.autocast_dtype or torch.bfloat16, enabled=self.autocast_dtype is not None
        ):
            pred = model(imagenet_normalize(rgb))
        return pred.float()

    def __call__(
        self, model: nn.Module, labeled: dict[str, torch.Tensor], unlabeled: dict[str, torch.Tensor] | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        timer = self.timer
        targets = None
        cached = unlabeled is not None and "cached_disparity" in unlabeled
        if unlabeled is not None and not cached:
            with timer("teacher"):
                targets = self.pseudo_targets(unlabeled)
        elif cached:
            from repro.train.pseudo_cache import targets_from_batch

            targets = targets_from_batch(unlabeled, self.distill)  # type: ignore[arg-type]
        n_lab = labeled["rgb"].shape[0]
        rgb = labeled["rgb"] if unlabeled is None else torch.cat((labeled["rgb"], unlabeled["rgb"]))
        with timer("student_forward"):
            pred = self.forward_student(model, rgb)
        with timer("loss"):
            loss_gt = self.gt_loss(pred[:n_lab], labeled)
            if targets is None:
                return loss_gt, {"gt": loss_gt.detach()}
            from repro.distill import pseudo_label_loss

            pred_pseudo = pred[n_lab:]
            if cached:  # cached targets live in the panorama's own frame: undo the roll and flip
                pred_pseudo = undo_geometric(pred_pseudo, unlabeled["aug_roll"], unlabeled["aug_flip"])  # type: ignore[index]
            loss_pseudo = pseudo_label_loss(pred_pseudo, targets, reduction=self.reduction)
            total = self.weights.gt * loss_gt + self.weights.pseudo * loss_pseudo
        return total, {"gt": loss_gt.detach(), "pseudo": loss_pseudo.detach()}
