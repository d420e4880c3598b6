"""Every named choice of the package, declared once.

Settings (``repro.run_settings``), the libraries that act on a choice (metrics, distillation, loss,
teacher, masks) and the command line all take their allowed values from here, so a value accepted
in one place cannot be refused (or silently mean something else) in another. ``tests/test_choices.py``
checks that the registries that implement the choices (students, datasets) name exactly these.
"""

from __future__ import annotations

from typing import Literal, get_args

# --- data ---------------------------------------------------------------------------------------
DatasetName = Literal["matterport3d", "stanford2d3d", "structured3d", "spatialaudiogen", "folder"]
Split = Literal["train", "val", "test", "all"]

# --- students and training ----------------------------------------------------------------------
StudentName = Literal["unifuse", "bifusepp", "hohonet", "egformer", "equi"]
LossName = Literal["affine_inv", "berhu"]
#: per_map: the affine-invariant L1 averaged per image / face, then over maps (paper eq. 4);
#: pixels: all valid pixels of the batch pooled, as the released loss does
LossReduction = Literal["per_map", "pixels"]
Optimizer = Literal["adam", "adamw"]
#: auto: bf16 autocast on CUDA, fp32 on CPU
Precision = Literal["auto", "fp32", "bf16"]

#: ``same_as_distilled`` (default): a baseline trains the labeled half of the distilled run's batch
#: for as many epochs, so a baseline → distilled difference measures the pseudo labels alone (the
#: released configs give no other baseline schedule); ``official``: the student's own published
#: schedule (``repro.run_settings.OFFICIAL_BASELINE``), the paper's §A.1 "official settings" read literally.
BaselineRecipe = Literal["same_as_distilled", "official"]

# --- distillation -------------------------------------------------------------------------------
Projection = Literal["cube", "tangent", "equirect_stitched"]
MaskMode = Literal["paper", "released_code"]
#: per_image: each unlabeled panorama its own rotation (the paper's description); per_batch: one
#: rotation shared by the whole unlabeled batch, as the released train.py draws it
RotationSampling = Literal["per_image", "per_batch"]
#: Sampling geometry (repro.geometry.released; docs/paper_vs_code.md): py360convert's face grid and
#: pixel-centre panorama coordinates, or the released Equirec2Cube (f = w/2, align_corners=True)
Sampling = Literal["py360convert", "released_code"]
#: folded: the rotation is folded into the face rays (one resampling); separate: the released
#: EquirecRotate pass first, then the projection (two resamplings)
RotationPass = Literal["folded", "separate"]
#: y_up: Euler angles in our frame; y_down: the released frame and float32 draw ((a,b,c) there is
#: (−a,b,−c) here)
RotationFrame = Literal["y_up", "y_down"]

# --- evaluation ---------------------------------------------------------------------------------
#: median: the paper's eq. 8; lsq_disparity_median: the released evaluator's scale+shift in
#: disparity, then median; none: metric depth as predicted
Protocol = Literal["median", "lsq_disparity_median", "none"]
#: RMSE of ln depth; log10 depth; or the released evaluator's log10(x + 1)
RmseLog = Literal["ln", "log10", "released"]
#: Whose numbers a verdict judges (repro.evaluation.evaluators): the cell's own eval settings, the
#: paper's eq. 8, or the released evaluator
Evaluator = Literal["cell", "paper", "released"]

# --- teacher ------------------------------------------------------------------------------------
#: Teacher disparity back to face size: bilinear — plain bilinear, no antialiasing, as Depth
#: Anything's own inference resizes its output; nearest — the released train.py (518 -> 256);
#: bilinear_antialias — bilinear with torch's antialias filter (docs/teacher.md)
TeacherResize = Literal["bilinear", "nearest", "bilinear_antialias"]
#: The teacher's arithmetic: fp32 (the released code, Depth Anything's inference); bf16 — bf16
#: autocast over fp32 weights; bf16_weights — the frozen weights themselves held in bf16 (no fp32
#: copy: half the memory) and run under the same autocast (docs/teacher.md has the price of each)
TeacherPrecision = Literal["fp32", "bf16", "bf16_weights"]
#: The ViT's attention kernel: sdpa (torch's scaled_dot_product_attention, what transformers picks
#: for DINOv2) or eager (the explicit softmax(QKᵀ)V of the original code); the same arithmetic
TeacherAttention = Literal["sdpa", "eager"]
#: Where pseudo labels come from: online — the teacher runs on every step's rotated faces (paper,
#: released code); cached — targets precomputed for K rotations per panorama (``repro teacher
#: cache``), one drawn per visit (docs/teacher.md, "Pseudo-label cache")
PseudoLabels = Literal["online", "cached"]
#: DINOv2 position-embedding resize: original (Depth Anything's DINOv2) or transformers (Hugging Face's)
PosEmbed = Literal["original", "transformers"]
#: Short names of the released Hugging Face checkpoints (``repro models fetch`` accepts both).
DEPTH_ANYTHING_IDS: dict[str, str] = {
    "depth-anything-v1-small": "LiheYoung/depth-anything-small-hf",
    "depth-anything-v1-base": "LiheYoung/depth-anything-base-hf",
    "depth-anything-v1-large": "LiheYoung/depth-anything-large-hf",
    "depth-anything-v2-small": "depth-anything/Depth-Anything-V2-Small-hf",
    "depth-anything-v2-base": "depth-anything/Depth-Anything-V2-Base-hf",
    "depth-anything-v2-large": "depth-anything/Depth-Anything-V2-Large-hf",
}
DEFAULT_TEACHER = DEPTH_ANYTHING_IDS["depth-anything-v1-large"]  # the paper's teacher (V1 ViT-L)
ORACLE_TEACHER = "oracle"  # the synthetic world's stand-in teacher (repro.teacher.oracle)

# --- masks --------------------------------------------------------------------------------------
MaskBackend = Literal["transformers", "grounded-sam", "ground_truth", "none"]
DEFAULT_DETECTOR_ID = "IDEA-Research/grounding-dino-tiny"  # Swin-T, Grounded-SAM's default detector
DEFAULT_SEGMENTER_ID = "facebook/sam-vit-huge"  # ViT-H, Grounded-SAM's default SAM


def values(choice: object) -> tuple[str, ...]:
    """The allowed values of one of the ``Literal`` choices above."""
    return tuple(get_args(choice))


def check(choice: object, value: str, what: str) -> str:
    """``value`` if it is one of ``choice``'s values, else a ``ValueError`` naming ``what`` and the options."""
    allowed = values(choice)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")
    return value
