"""Student networks: UniFuse, BiFuse++, HoHoNet, EGformer and the equirect-only baseline.

Each is our own implementation of the published architecture with the published ``state_dict``
key names and shapes (see ``tests/fixtures/manifests``). ``forward(x)`` takes the
ImageNet-normalised equirect RGB (B,3,H,W) and returns (B,1,H,W): disparity in the paper's
affine-invariant setting, the original metric output with ``metric=True``.
"""

from repro.models.checkpoints import (
    CheckpointError,
    LoadReport,
    build_student_from_meta,
    load_checkpoint,
    load_student,
    load_weights,
    save_checkpoint,
)
from repro.models.common import PretrainedWeightsUnavailable, Student
from repro.models.registry import StudentInfo, build_student, list_students, parameter_counts

__all__ = [
    "CheckpointError",
    "LoadReport",
    "PretrainedWeightsUnavailable",
    "Student",
    "StudentInfo",
    "build_student",
    "build_student_from_meta",
    "list_students",
    "load_checkpoint",
    "load_student",
    "load_weights",
    "parameter_counts",
    "save_checkpoint",
]
