"""Offline sky/watermark masks (Grounded-SAM) for the unlabeled panoramas, and their manifest."""

from repro.data.mask_manifest import (
    MANIFEST,
    MaskRecord,
    mask_relpath,
    merge_manifest,
    read_manifest,
    read_mask,
    write_mask,
)
from repro.masks.audit import AuditReport, audit_masks
from repro.masks.backends import (
    DEFAULT_DETECTOR_ID,
    DEFAULT_PROMPTS,
    DEFAULT_SEGMENTER_ID,
    Detections,
    GroundedSAM,
    MaskResult,
    OriginalGroundedSAM,
    TransformersGroundedSAM,
    build_backend,
)
from repro.masks.generate import GenerateSummary, ensure_masks, generate_masks, list_images, pending_images

__all__ = [
    "DEFAULT_DETECTOR_ID",
    "DEFAULT_PROMPTS",
    "DEFAULT_SEGMENTER_ID",
    "MANIFEST",
    "AuditReport",
    "Detections",
    "GenerateSummary",
    "GroundedSAM",
    "MaskRecord",
    "MaskResult",
    "OriginalGroundedSAM",
    "TransformersGroundedSAM",
    "audit_masks",
    "build_backend",
    "ensure_masks",
    "generate_masks",
    "list_images",
    "mask_relpath",
    "merge_manifest",
    "pending_images",
    "read_manifest",
    "read_mask",
    "write_mask",
]
