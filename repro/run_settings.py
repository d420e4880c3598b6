"""Typed settings of one training run and one evaluation, as YAML validates into them.

One schema for ``repro train CONFIG``, ``repro eval`` and every suite cell, so a cell's resolved
config *is* the training config: what the suite ran can be re-run by hand from ``resolved.yaml``.
Defaults are the paper's (cube projection, ±45° rotation, paper masks, median alignment); every
place where the released code differs is a named option here (``mask_mode``,
``rotation_sampling``, ``loss_reduction``, ``output_resize``, ``pos_embed``, ``protocol``, ``crop_rows``, ``clamp``,
``rmse_log``; the list is docs/paper_vs_code.md), recorded with each result.

Schedule fields left empty take the student's published recipe (:data:`RECIPES`);
they are filled in when the settings are loaded, so the stored config shows the numbers really used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from repro.choices import (
    DEFAULT_TEACHER,
    ORACLE_TEACHER,
    BaselineRecipe,
    DatasetName,
    LossName,
    LossReduction,
    MaskBackend,
    MaskMode,
    Optimizer,
    PosEmbed,
    Precision,
    Projection,
    Protocol,
    PseudoLabels,
    RmseLog,
    RotationFrame,
    RotationPass,
    RotationSampling,
    Sampling,
    Split,
    StudentName,
    TeacherAttention,
    TeacherPrecision,
    TeacherResize,
)
from repro.config import FieldError, check_range, from_data, load_config

#: Paper-table abbreviations (M, SF, ST, SP), used in row labels and reports.
DATASET_ABBREV: dict[str, str] = {
    "matterport3d": "M",
    "stanford2d3d": "SF",
    "structured3d": "ST",
    "spatialaudiogen": "SP",
    "folder": "F",
}


@dataclass(frozen=True)
class Recipe:
    """A student's published training recipe (issue 7): the labeled half of each batch."""

    batch_size: int
    optimizer: Optimizer
    lr: float
    epochs: int
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    scheduler: Literal["constant", "poly"] = "constant"
    poly_power: float = 0.9
    #: (yaw roll, left-right flip, colour jitter) as the released Depth Anywhere configs set them
    augment: tuple[bool, bool, bool] = (True, True, True)


#: Each student's official optimizer settings (the paper, §A.1: "we follow the backbone model's
#: official settings for batch size, learning rate, optimizer"), with the labeled:unlabeled batch
#: split and epoch counts of the released Depth Anywhere configs (``configs/*_st3d.cfg``): the
#: published batch is halved into labeled + unlabeled. Sources (checked against the repos):
#:
#: * UniFuse — alibaba/UniFuse-Unidirectional-Fusion ``UniFuse/trainer.py`` (``optim.Adam``, no
#:   scheduler), README (batch 6, lr 1e-4); Depth Anywhere ``unifuse_st3d.cfg``: 3+3, 200 epochs
#:   (UniFuse's README trains 100). ``equi`` (UniFuse's baseline) shares it.
#: * BiFuse++ — fuenwang/BiFusev2 ``Experiments/supervised_ours_mp3d/config.yaml``: batch 8, Adam
#:   3e-4, ``scheduler_args: NULL``, 200 epochs; ``bifusev2_st3d.cfg``: 4+4.
#: * HoHoNet — sunset1995/HoHoNet ``config/mp3d_depth/HOHO_depth_dct_efficienthc_TransEn1.yaml``:
#:   batch 4, Adam 1e-4 (``train.py`` does not pass ``optim_betas``: torch's default betas), weight
#:   decay 0, 60 epochs, ``LambdaLR`` ``(1 − epoch/60)^0.9`` stepped once per epoch;
#:   ``hohonet_st3d.cfg``: 2+2. (The released Depth Anywhere ``train.py`` builds no scheduler.)
#: * EGformer — yuniw18/EGformer ``train_scripts/script_EGformer``: batch 4, lr 5e-5; ``main.py``
#:   betas (0.5, 0.999); ``trainer.py`` ``optim.AdamW`` without ``weight_decay`` (torch default
#:   0.01), its ``ExponentialLR`` step commented out; ``egformer_st3d.cfg``: 2+2, 200 epochs. (The
#:   released Depth Anywhere ``utils/get_optim.py`` uses beta1 0.9 and weight decay 0 for all.)
RECIPES: dict[str, Recipe] = {
    "unifuse": Recipe(batch_size=3, optimizer="adam", lr=1e-4, epochs=200),
    "bifusepp": Recipe(batch_size=4, optimizer="adam", lr=3e-4, epochs=200, augment=(False, False, False)),
    "hohonet": Recipe(
        batch_size=2, optimizer="adam", lr=1e-4, epochs=60, scheduler="poly", poly_power=0.9, augment=(True, True, False)
    ),
    "egformer": Recipe(
        batch_size=2, optimizer="adamw", lr=5e-5, epochs=200, betas=(0.5, 0.999), weight_decay=0.01,
        augment=(False, False, False),
    ),
    "equi": Recipe(batch_size=3, optimizer="adam", lr=1e-4, epochs=200),
}


#: The students' own baseline schedules (labeled images per step, epochs), from the same sources as
#: :data:`RECIPES` but without Depth Anywhere's halving of the batch: UniFuse's README (batch 6,
#: 100 epochs; ``equi`` shares it), BiFusev2's ``config.yaml`` (batch 8, 200 epochs), HoHoNet's
#: ``HOHO_depth_dct_efficienthc_TransEn1.yaml`` (batch 4, 60 epochs). EGformer's script sets batch
#: 4 but no epoch count we could verify: its official recipe needs ``schedule.epochs`` set.
OFFICIAL_BASELINE: dict[str, tuple[int, int | None]] = {
    "unifuse": (6, 100),
    "equi": (6, 100),
    "bifusepp": (8, 200),
    "hohonet": (4, 60),
    "egformer": (4, None),
}


def check_input_size(size: tuple[int, int], field: str = "input_size") -> None:
    """A positive equirectangular (W = 2H) size; each student checks its own stride when it is built."""
    height, width = size
    check_range(field, height, gt=0)
    if width != 2 * height:
        raise FieldError(field, f"must be equirectangular (W = 2H), got {list(size)}")


@dataclass
class DataRef:
    """One dataset split, located under the data root."""

    dataset: DatasetName
    split: Split = "train"
    root: str | None = None  # folder under the data root; default: the dataset name
    masks: str | None = None  # sky/watermark mask folder under the data root; default: masks/<root>

    def root_dir(self, data_root: Path) -> Path:
        return Path(data_root) / (self.root or self.dataset)

    def mask_dir(self, data_root: Path) -> Path:
        return Path(data_root) / (self.masks or f"masks/{self.root or self.dataset}")

    @property
    def label(self) -> str:
        """The paper's notation: ``M-all``, ``SF`` (test split implied), ``ST``..."""
        abbrev = DATASET_ABBREV[self.dataset]
        return f"{abbrev}-all" if self.split == "all" else abbrev


@dataclass
class StudentSpec:
    name: StudentName
    pretrained: bool = True  # ImageNet backbone weights (the published recipes start from them)
    options: dict[str, Any] = field(default_factory=dict)  # passed to build_student(name, **options)


@dataclass
class TeacherSpec:
    id: str = DEFAULT_TEACHER  # Hugging Face id, a local directory, or "oracle"
    revision: str | None = None  # Hub commit; default: the pin in repro/revisions.py (recorded when resolved)
    input_size: int = 518  # faces are resized to this (a multiple of 14) before the teacher
    options: dict[str, Any] = field(default_factory=dict)  # e.g. the oracle's distortion and noise

    #: Teacher disparity back to face size (Depth Anything only; the oracle works at face size):
    #: see repro.choices.TeacherResize and docs/teacher.md for the default's reason
    output_resize: TeacherResize = "bilinear"
    precision: TeacherPrecision = "fp32"  # price of bf16 / bf16_weights in docs/teacher.md
    pos_embed: PosEmbed = "original"  # see repro.choices.PosEmbed
    attention: TeacherAttention = "sdpa"  # see repro.choices.TeacherAttention
    chunk_size: int = 12  # faces per teacher call (the released code: at most 9 panoramas' worth)
    channels_last: bool = False  # the DPT head's convolutions in channels-last memory format
    compile: bool = False  # torch.compile the teacher network

    @property
    def is_oracle(self) -> bool:
        return self.id == ORACLE_TEACHER

    def __post_init__(self) -> None:
        check_range("input_size", self.input_size, gt=0)
        check_range("chunk_size", self.chunk_size, ge=1)
        if not self.is_oracle and self.input_size % 14:
            raise FieldError("input_size", f"must be a multiple of 14 (Depth Anything's patch), got {self.input_size}")

    def build_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`repro.teacher.build_teacher` of this spec."""
        opts: dict[str, Any] = {"input_size": self.input_size, **self.options}
        if not self.is_oracle:
            opts.update(output_resize=self.output_resize, precision=self.precision, pos_embed=self.pos_embed)
            opts.update(attention=self.attention, chunk_size=self.chunk_size)
            opts.update(channels_last=self.channels_last, compile=self.compile)
            opts["revision"] = self.revision
        return opts

    def pinned(self) -> TeacherSpec:
        """A copy with the Hub revision written out (the pin unless one was set), for the stored config."""
        from repro.revisions import PINNED

        if self.is_oracle or self.revision is not None:
            return self
        return dataclasses.replace(self, revision=PINNED.get(self.id))


@dataclass
class MaskSpec:
    """Offline sky/watermark masks of the unlabeled data (Grounded-SAM, paper §A.1)."""

    backend: MaskBackend = "transformers"
    prompts: list[str] = field(default_factory=lambda: ["sky", "watermark"])
    box_threshold: float = 0.3
    text_threshold: float = 0.25
    min_valid_fraction: float = 0.2  # images with less valid area are dropped (0: none, as released)
    #: unlabeled datasets whose mask files are read (None: all). The released loader reads masks
    #: only for SpatialAudioGen-style paths, never for Structured3D: [spatialaudiogen]
    masked_datasets: list[DatasetName] | None = None

    def __post_init__(self) -> None:
        for name in ("box_threshold", "text_threshold", "min_valid_fraction"):
            check_range(name, getattr(self, name), ge=0, le=1)
        if self.min_valid_fraction >= 1:
            raise FieldError("min_valid_fraction", "must be below 1: at 1 every image with one masked pixel is dropped")

    def applies_to(self, dataset: str) -> bool:
        return self.backend != "none" and (self.masked_datasets is None or dataset in self.masked_datasets)


@dataclass
class DistillSpec:
    """The pseudo-label path: how teacher and student meet (paper §3.1–3.2)."""

    projection: Projection = "cube"
    rotation_max_deg: float = 45.0  # each Euler angle uniform in ±max_deg; 0 = no rotation
    face_size: int = 256
    mask_mode: MaskMode = "paper"  # released_code: the sky mask is dropped as in the released loss
    rotation_sampling: RotationSampling = "per_image"  # see repro.choices.RotationSampling
    sampling: Sampling = "py360convert"  # see repro.choices.Sampling
    rotation_pass: RotationPass = "folded"  # see repro.choices.RotationPass
    rotation_frame: RotationFrame = "y_up"  # see repro.choices.RotationFrame

    def __post_init__(self) -> None:
        check_range("rotation_max_deg", self.rotation_max_deg, ge=0, le=180)
        check_range("face_size", self.face_size, gt=0)


@dataclass
class PseudoCacheSpec:
    """The pseudo-label cache (``pseudo_labels: cached``): K teacher targets per unlabeled panorama.

    Built by ``repro teacher cache CONFIG`` (sharded, resumable) or, for whatever is missing, at the
    start of training; see :mod:`repro.train.pseudo_cache` and docs/teacher.md.
    """

    rotations: int = 8  # K: rotations precomputed per panorama; training draws one per visit
    seed: int = 0  # seeds the K rotations of each panorama (with the panorama's path)
    root: str = "pseudo_cache"  # folder under the data root; one subfolder per teacher/geometry setting

    def __post_init__(self) -> None:
        check_range("rotations", self.rotations, ge=1)


@dataclass
class LossWeights:
    """Weights of the two loss terms: positive (a negative weight is gradient ascent on that term).

    To train without pseudo labels, leave ``pseudo:`` empty rather than weighting the term 0.
    """

    gt: float = 0.5
    pseudo: float = 0.5

    def __post_init__(self) -> None:
        check_range("gt", self.gt, gt=0)
        check_range("pseudo", self.pseudo, gt=0)


@dataclass
class Schedule:
    """Empty fields take the student's published recipe (:data:`RECIPES`)."""

    epochs: int | None = None  # one epoch = one pass over the labeled data
    steps: int | None = None  # if set, stop after this many optimizer steps (smoke / tiny runs)
    batch_size: int | None = None  # labeled images per step; the pseudo half follows the ratio
    lr: float | None = None
    optimizer: Optimizer | None = None
    #: Adam(W) betas, weight decay and LR schedule; empty: the student's recipe. The released
    #: Depth Anywhere (utils/get_optim.py, train.py) uses (0.9, 0.999), 0 and none (constant)
    betas: tuple[float, float] | None = None
    weight_decay: float | None = None
    scheduler: Literal["constant", "poly"] | None = None
    checkpoint_every_steps: int | None = None
    num_workers: int = 4
    max_bad_steps: int = 20  # consecutive NaN/inf steps (skipped) before training stops with an error

    def __post_init__(self) -> None:
        for name in ("epochs", "steps", "batch_size", "checkpoint_every_steps", "max_bad_steps", "lr"):
            check_range(name, getattr(self, name), gt=0)
        check_range("weight_decay", self.weight_decay, ge=0, lt=1)
        check_range("num_workers", self.num_workers, ge=0, le=256)
        for i, beta in enumerate(self.betas or ()):
            check_range(f"betas[{i}]", beta, ge=0, lt=1)


@dataclass
class TrainSettings:
    """Everything ``repro train`` needs for one run (issue 7)."""

    student: StudentSpec
    labeled: list[DataRef]
    pseudo: list[DataRef] = field(default_factory=list)  # unlabeled, pseudo-labeled by the teacher
    teacher: TeacherSpec = field(default_factory=TeacherSpec)
    masks: MaskSpec = field(default_factory=MaskSpec)
    distill: DistillSpec = field(default_factory=DistillSpec)
    loss: LossName = "affine_inv"
    loss_weights: LossWeights = field(default_factory=LossWeights)
    loss_reduction: LossReduction = "per_map"  # see repro.choices.LossReduction
    ratio: str = "1:1"  # labeled : pseudo-labeled images per step (paper Table 7: 1:1, 1:2, 1:4)
    schedule: Schedule = field(default_factory=Schedule)
    input_size: tuple[int, int] = (512, 1024)
    init_from: str | None = None  # a checkpoint path, or "cell:NAME" for another cell of the suite
    seed: int = 0
    precision: Precision = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    #: the schedule of a baseline (no pseudo data); ignored when pseudo data are used (see BaselineRecipe)
    baseline_recipe: BaselineRecipe = "same_as_distilled"
    augment: bool | None = None  # None: the student's recipe (released configs: BiFuse++/EGFormer none,
    #                              HoHoNet no colour jitter); True: yaw roll + flip + jitter; False: none
    #: online: the teacher on every step's rotated faces (paper); cached: one of K precomputed rotations
    pseudo_labels: PseudoLabels = "online"
    pseudo_cache: PseudoCacheSpec = field(default_factory=PseudoCacheSpec)

    def __post_init__(self) -> None:
        if not self.labeled:
            raise ValueError("labeled: at least one labeled dataset is needed")
        self.pseudo_per_labeled  # noqa: B018 - validates the ratio
        if self.pseudo and self.loss != "affine_inv":
            raise ValueError(f"pseudo labels are relative depth: loss '{self.loss}' needs pseudo: []")
        check_input_size(self.input_size)
        check_range("seed", self.seed, ge=0, lt=2**32)
        if self.pseudo_labels == "cached" and self.distill.rotation_sampling != "per_image":
            raise ValueError("pseudo_labels: cached draws each panorama's own rotation; rotation_sampling must be per_image")
        # Resolved once, here: empty schedule fields take the student's recipe and the teacher its
        # pinned Hub revision, so every consumer (trainer, cost model, cache keys, resolved.yaml)
        # sees what is really used.
        self.teacher = self.teacher.pinned()
        recipe = RECIPES[self.student.name]
        batch, epochs = recipe.batch_size, recipe.epochs
        if self.uses_official_recipe:
            batch, official_epochs = OFFICIAL_BASELINE[self.student.name]
            if official_epochs is None and self.schedule.epochs is None and self.schedule.steps is None:
                raise ValueError(f"{self.student.name} has no documented official epoch count: set schedule.epochs")
            epochs = official_epochs or epochs
        s = self.schedule
        self.schedule = dataclasses.replace(
            s,
            epochs=s.epochs if s.epochs is not None else (None if s.steps is not None else epochs),
            batch_size=s.batch_size or batch,
            lr=s.lr or recipe.lr,
            optimizer=s.optimizer or recipe.optimizer,
        )

    @property
    def pseudo_per_labeled(self) -> int:
        head, sep, tail = self.ratio.partition(":")
        if sep != ":" or head.strip() != "1" or not tail.strip().isdigit() or int(tail) < 1:
            raise FieldError("ratio", f"must look like '1:N' with N >= 1, got {self.ratio!r}")
        return int(tail)

    @property
    def init_cell(self) -> str | None:
        """The suite cell whose checkpoint this run starts from, if any."""
        if self.init_from and self.init_from.startswith("cell:"):
            return self.init_from[len("cell:") :]
        return None

    @property
    def uses_official_recipe(self) -> bool:
        """A baseline (no pseudo data) trained on its student's own published schedule."""
        return not self.pseudo and self.baseline_recipe == "official"

    @property
    def augment_flags(self) -> tuple[bool, bool, bool]:
        """(yaw roll, flip, colour jitter) this run uses."""
        if self.augment is None:
            return RECIPES[self.student.name].augment
        return (self.augment,) * 3


@dataclass
class EvalSettings:
    """One evaluation (issue 7 ``repro eval``); the protocol and crop are stored with the metrics."""

    dataset: DataRef
    protocol: Protocol = "median"  # paper: median alignment; released code: lsq_disparity_median
    crop_rows: int = 0  # rows removed top and bottom, counted at H = 512 and scaled with the eval height
    #                     (the released evaluator: 68 on Stanford2D3D)
    min_depth: float = 0.0  # GT <= min_depth is invalid
    max_depth: float = 10.0  # GT > max_depth is invalid
    clamp: tuple[float, float] | None = None  # clamp predictions (the released evaluator: [0.1, 10])
    #: RMSE of ln depth, of log10 depth (UniFuse's own evaluator), or of log10(x + 1) (the released evaluator)
    rmse_log: RmseLog = "ln"
    model: Literal["student", "teacher_equirect", "predictions"] = "student"
    predictions: str | None = None  # model: predictions — folder of depth maps, one per test image
    teacher: TeacherSpec | None = None  # model: teacher_equirect — default: the paper's teacher
    input_size: tuple[int, int] | None = None  # default: the training size (512×1024)
    metrics: list[str] = field(default_factory=lambda: ["abs_rel", "delta1", "delta2", "delta3"])

    def __post_init__(self) -> None:
        if self.model == "predictions" and not self.predictions:
            raise ValueError("model 'predictions' needs predictions: FOLDER")
        if self.model == "teacher_equirect" and self.teacher is None:
            self.teacher = TeacherSpec()
        # crop_rows counts rows at H = 512 on each side: 256 or more would leave nothing to score.
        check_range("crop_rows", self.crop_rows, ge=0, lt=256)
        check_range("min_depth", self.min_depth, ge=0)
        if not self.min_depth < self.max_depth:
            raise FieldError("max_depth", f"must be greater than min_depth ({self.min_depth}), got {self.max_depth}")
        if self.clamp is not None:
            check_range("clamp", self.clamp[0], gt=0)
            if not self.clamp[0] < self.clamp[1]:
                raise FieldError("clamp", f"must be [low, high] with 0 < low < high, got {list(self.clamp)}")
        if self.input_size is not None:
            check_input_size(self.input_size)


@dataclass
class TrainConfig:
    """A standalone ``repro train CONFIG`` file: one run's settings and where it reads and writes.

    ``include:`` works as everywhere (e.g. a suite's ``_defaults``); a suite cell's ``train:`` /
    ``eval:`` sections can be pasted here unchanged.
    """

    train: TrainSettings
    eval: EvalSettings | None = None  # evaluate the final checkpoint when given
    output_dir: str = "runs/train"
    data_root: str = "data"


def load_train_config(path: str | Path) -> TrainConfig:
    """Load and validate a training config; errors name file, line and key."""
    return from_data(TrainConfig, load_config(path))
