"""The perspective teacher: Depth Anything (frozen, online) or the oracle stand-in.

Contract: ``build_teacher(name_or_id, **opts)`` returns an object with
``predict_faces(faces (N,3,h,w) in [0,1], depth=None) -> (N,1,h,w)`` disparity min–max
normalised to [0, 1] per face, ``raw_disparity(...)`` (unnormalised), ``is_stand_in``,
``describe()`` and ``provenance()`` (id, revision, precision..., recorded with every result). ``depth`` (planar z-depth of the faces) is used
only by the oracle.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from repro.choices import DEFAULT_TEACHER as DEFAULT_ID
from repro.choices import DEPTH_ANYTHING_IDS
from repro.choices import ORACLE_TEACHER as ORACLE
from repro.teacher.convert import convert_original_state_dict, load_original_weights
from repro.teacher.depth_anything import (
    PRECISIONS,
    RESIZE_MODES,
    DepthAnythingTeacher,
    cached_revision,
    depth_anything_config,
    teacher_input_size,
)
from repro.teacher.equirect import TeacherOnEquirect
from repro.teacher.hub import WeightsMissingError, fetch_weights, load_pretrained
from repro.teacher.oracle import OracleTeacher
from repro.teacher.pos_embed import POS_EMBED_MODES


def build_teacher(name_or_id: str = DEFAULT_ID, **opts: Any) -> nn.Module:
    """``"oracle"``, a short name (``depth-anything-v2-base``), a Hugging Face id or a local directory.

    Options go to :class:`OracleTeacher` or :meth:`DepthAnythingTeacher.from_pretrained`
    (``input_size``, ``chunk_size``, ``input_resize``, ``output_resize``, ``precision``, ``pos_embed``,
    ``revision``, ``cache_dir``, ``random_init``).
    """
    if name_or_id == ORACLE:
        return OracleTeacher(**opts)
    return DepthAnythingTeacher.from_pretrained(name_or_id, **opts)


def build_teacher_from_spec(spec: Any, **extra: Any) -> nn.Module:
    """The teacher a :class:`repro.run_settings.TeacherSpec` describes.

    ``extra`` (e.g. ``random_init``) applies to Depth Anything only; the oracle has no weights.
    """
    opts = spec.build_options()
    if not spec.is_oracle:
        opts.update(extra)
    return build_teacher(spec.id, **opts)


def build_teacher_equirect(name_or_id: str = DEFAULT_ID, **opts: Any) -> TeacherOnEquirect:
    """The teacher run on whole panoramas, with the student interface (paper Table 3)."""
    return TeacherOnEquirect(build_teacher(name_or_id, **opts))


__all__ = [
    "DEFAULT_ID",
    "DEPTH_ANYTHING_IDS",
    "ORACLE",
    "POS_EMBED_MODES",
    "PRECISIONS",
    "RESIZE_MODES",
    "DepthAnythingTeacher",
    "OracleTeacher",
    "TeacherOnEquirect",
    "WeightsMissingError",
    "build_teacher",
    "build_teacher_from_spec",
    "load_pretrained",
    "build_teacher_equirect",
    "cached_revision",
    "convert_original_state_dict",
    "depth_anything_config",
    "fetch_weights",
    "load_original_weights",
    "teacher_input_size",
]
