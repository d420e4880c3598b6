"""Parity checks: the released Depth Anywhere code's own functions beside ours, on a CPU.

Each check feeds both sides identical inputs and returns :class:`Row` s (max difference against a
tolerance). The released side is imported from ``RELEASED_SRC`` through :mod:`released_env`;
the ``repro`` side is configured exactly as ``--variant released_code`` configures it
(``suites/_defaults/paper.yaml``), so the table checks the shipped variant, not a private setting.

Stand-ins (the same module on both sides, so they cancel out): a seeded convolution for the
teacher (Depth Anything weights cannot be assumed offline; ``train.py`` passes the teacher in as
an argument, so the released training step runs unchanged around it) and a small seeded CNN for
the student of the training step. The students row compares the real student networks.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from repro.config import load_config
from repro.data.transforms import imagenet_normalize
from repro.run_settings import DistillSpec, LossWeights

ROOT = Path(__file__).resolve().parents[2]
VARIANT_FILE = ROOT / "suites" / "_defaults" / "paper.yaml"


@dataclass
class Row:
    check: str
    compared: str
    value: float
    tolerance: float
    unit: str = "max |Δ|"

    @property
    def ok(self) -> bool:
        return bool(self.value <= self.tolerance)  # NaN fails


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = float(b.double().abs().max())
    return max_abs(a, b) / scale if scale > 0 else max_abs(a, b)


def variant_settings() -> dict[str, Any]:
    """The ``train:`` overlay of ``--variant released_code`` as shipped, plus the paper defaults."""
    raw = load_config(VARIANT_FILE)
    base = dict(raw["defaults"]["train"])
    variant = raw["variants"]["released_code"]["train"]
    distill = {**base["distill"], **variant.get("distill", {})}
    return {**base, **variant, "distill": distill}


# -- stand-ins ------------------------------------------------------------------------------------


class StandInTeacher(nn.Module):
    """A seeded, smooth, positive 'relative disparity' network: (N,3,h,w) -> (N,h,w).

    Called as the released code calls Depth Anything (``DA(x)``) and as Hugging Face's
    ``DepthAnythingForDepthEstimation`` is called by ``repro`` (``model(pixel_values=x).predicted_depth``).
    It is not a ViT, so the teacher's position-embedding mode changes nothing; it carries an unused
    ``backbone.embeddings.position_embeddings`` slot because the teacher's constructor sets that mode.
    """

    def __init__(self, seed: int = 7) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 1, 5, padding=2)
        self.backbone = nn.Module()
        self.backbone.embeddings = nn.Module()
        self.backbone.embeddings.position_embeddings = nn.Parameter(torch.zeros(1, 1, 1), requires_grad=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.2)
            self.conv.bias.fill_(0.1)

    def forward(self, x: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None) -> Any:
        inp = x if x is not None else pixel_values
        out = nn.functional.softplus(self.conv(inp))[:, 0]
        return out if x is not None else SimpleNamespace(predicted_depth=out)


class StandInStudent(nn.Module):
    """A seeded two-layer CNN giving (B,1,H,W) disparity; ``as_released`` returns the released dict."""

    def __init__(self, seed: int = 11, as_released: bool = False) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))
        self.as_released = as_released

    def forward(self, x: torch.Tensor) -> Any:
        out = self.body(x) + 1.0
        if out.requires_grad:  # keep d(loss)/d(prediction) for the comparison
            out.register_hook(lambda g: setattr(self, "output_grad", g.detach().clone()))
        return {"pred_depth": out} if self.as_released else out


# -- inputs -----------------------------------------------------------------------------------------


def panoramas(batch: int, height: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Smooth synthetic RGB in [0, 1], depth in metres and a sky-like mask (top rows invalid)."""
    g = torch.Generator().manual_seed(seed)
    w = 2 * height
    low = torch.rand(batch, 4, height // 16, w // 16, generator=g)
    up = nn.functional.interpolate(low, (height, w), mode="bicubic", align_corners=False).clamp(0, 1)
    rgb = up[:, :3].contiguous()
    depth = 0.5 + 9.0 * up[:, 3:]
    depth[..., : height // 16, :] = 0  # invalid ground truth rows
    mask = torch.ones(batch, 1, height, w, dtype=torch.bool)
    rows = torch.arange(height)[:, None]
    mask[:, :, : height // 5] = (rows[: height // 5] > torch.rand(batch, 1, 1, w, generator=g) * height / 5)
    return {"rgb": rgb, "depth": depth, "mask": mask}


# -- checks -----------------------------------------------------------------------------------------


def check_geometry(height: int = 512, seed: int = 3) -> list[Row]:
    """Rotation draw, EquirecRotate, Equirec2Cube and the sky-mask path against repro.geometry.released."""
    import train as released_train

    from repro.geometry.released import (
        RELEASED_TO_OURS,
        ReleasedProjection,
        draw_rotations,
        flip_frame,
        rotate_equirect_released,
    )

    data = panoramas(2, height, seed)
    rgb, mask = data["rgb"], data["mask"]
    prob = released_train.ProcessDABatch(height, 2 * height, CUDA=False)
    torch.manual_seed(seed)
    rel_rot, rot_vec = prob.randRotate(rgb)  # the released draw from the global generator
    import pytorch3d.transforms.rotation_conversions as p3dr  # real or the harness shim

    rel_matrix = p3dr.euler_angles_to_matrix((rot_vec / 180 * math.pi).reshape(1, 3), convention="XYZ")
    ours_r = draw_rotations(1, 45.0, torch.Generator().manual_seed(seed), frame="y_down")
    from benchmarks.parity.released_env import scipy_euler

    reference = scipy_euler(rot_vec / 180 * math.pi)
    rows = [
        Row("rotation", "pytorch3d euler_angles_to_matrix vs scipy (float64)", max_abs(rel_matrix, reference), 1e-6),
        Row("rotation", "Euler draw -> matrix, y-down frame (released vs ours)", max_abs(flip_frame(ours_r), rel_matrix), 0.0),
    ]

    ours_rot = rotate_equirect_released(rgb, ours_r)
    rows.append(Row("rotation", "EquirecRotate, bilinear (RGB)", max_abs(ours_rot, rel_rot), 1e-5))
    disp = 0.2 + rgb[:, :1]
    rows.append(Row("rotation", "EquirecRotate, nearest (disparity)",
                    max_abs(rotate_equirect_released(disp, ours_r, "nearest"), prob.rotate(disp, rot_vec, mode="nearest")),
                    0.0))
    identity = prob.rotate(rgb, torch.zeros(3))
    rows.append(Row("rotation", "identity rotation moves pixels (info: released vs ours)",
                    max_abs(rotate_equirect_released(rgb, torch.eye(3)[None]), identity), 1e-5))

    proj = ReleasedProjection(height // 2)
    order = list(RELEASED_TO_OURS)

    def rel_faces(x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        out = prob.BiFuse_E2C(x, mode)
        return out.reshape(x.shape[0], 6, *out.shape[1:])[:, order]

    for mode, tol in (("bilinear", 1e-5), ("nearest", 0.0)):
        rows.append(Row("projection", f"Equirec2Cube, {mode}", max_abs(proj.project(rel_rot, mode=mode), rel_faces(rel_rot, mode)), tol))
    rel_sky = rel_faces(prob.rotate(mask.float(), rot_vec)).floor() == 1
    ours_sky = proj.project(rotate_equirect_released(rgb, ours_r), mask=rotate_equirect_released(mask.float(), ours_r))[1]
    rows.append(Row("projection", "sky mask, rotated + projected (pixels differing)",
                    float((ours_sky != rel_sky).sum()), 0.0, "count"))
    return rows


def _our_objective(face_size: int, teacher_net: nn.Module) -> Any:
    """``repro``'s joint objective and teacher exactly as ``--variant released_code`` configures them."""
    from repro.teacher.depth_anything import DepthAnythingTeacher
    from repro.train.objective import JointObjective

    cfg = variant_settings()
    distill = DistillSpec(**{**cfg["distill"], "face_size": face_size})
    teacher_cfg = cfg.get("teacher", {})
    teacher = DepthAnythingTeacher(
        teacher_net, input_size=int(teacher_cfg.get("input_size", 518)),
        output_resize=teacher_cfg.get("output_resize", "bilinear"), precision="fp32",
    )
    settings = SimpleNamespace(
        loss=cfg.get("loss", "affine_inv"), loss_reduction=cfg.get("loss_reduction", "per_map"),
        loss_weights=LossWeights(**cfg.get("loss_weights", {})), distill=distill,
    )
    return JointObjective(settings, teacher), teacher


def check_training_step(height: int = 512, batch: int = 2, seed: int = 5, with_mask: bool = True) -> list[Row]:
    """One released ``train.py: process_both`` step beside ``repro``'s objective (same inputs, draw, teacher).

    ``with_mask``: the unlabeled images have a mask file (SpatialAudioGen-style paths), else not
    (Structured3D: the released loader reads none).
    """
    import train as released_train
    from utils.metric import ScaleAndShiftInvariantLoss

    from repro.distill import student_faces
    from repro.geometry.released import RELEASED_TO_OURS
    from repro.train.objective import labeled_target

    lab, unl = panoramas(batch, height, seed), panoramas(batch, height, seed + 1)
    lab_valid = (lab["depth"] > 0) & (lab["depth"] <= 10)
    teacher_net = StandInTeacher()
    rel_model = StandInStudent(as_released=True)
    our_model = copy.deepcopy(rel_model)
    our_model.as_released = False

    # released side: its own process_both, teacher passed in as the argument it takes
    rel_model.get_loss = ScaleAndShiftInvariantLoss()
    opt = torch.optim.SGD(rel_model.parameters(), lr=0.0)  # step() leaves the weights: compare gradients
    inputs = {
        "rgb": lab["rgb"], "normalized_rgb": imagenet_normalize(lab["rgb"]),
        "gt_depth": labeled_target(lab["depth"], lab_valid, "affine_inv"), "val_mask": lab_valid,
    }
    unlabel = {"rgb": unl["rgb"], "normalized_rgb": imagenet_normalize(unl["rgb"]),
               "normalized_rgb_noaug": imagenet_normalize(unl["rgb"])}
    if with_mask:
        unlabel["val_mask"] = unl["mask"]
    args = SimpleNamespace(device=torch.device("cpu"), need_cube=False, cur_step=0)
    prob = released_train.ProcessDABatch(height, 2 * height, CUDA=False)
    torch.manual_seed(seed)  # randRotate draws torch.rand(3) from the global generator first
    logged: dict[str, Any] = defaultdict(float)
    outputs = released_train.process_both(args, inputs, unlabel, 1, prob, teacher_net, rel_model, opt, logged)
    rel_loss = float(logged["total_loss"])

    def ours_order(x: torch.Tensor) -> torch.Tensor:  # (B·6, 1, w, w) in B D F L R U -> (B, 6, 1, w, w) F R B L U D
        return x.reshape(batch, 6, *x.shape[1:])[:, list(RELEASED_TO_OURS)]

    rel_targets, rel_mask, rel_faces = (ours_order(x) for x in (inputs["pseudo_depth"], inputs["pseudo_mask"],
                                                                outputs["pred_depth_cube"]))
    rel_grads = [p.grad.clone() for p in rel_model.parameters()]

    # ours: the joint objective of `repro train`, configured by the released_code variant
    objective, _ = _our_objective(height // 2, teacher_net)
    labeled = {"rgb": lab["rgb"], "depth": lab["depth"], "valid": lab_valid}
    unlabeled = {
        "rgb": unl["rgb"], "rgb_noaug": unl["rgb"], "depth": unl["depth"], "valid": unl["mask"],
        "has_mask": torch.full((batch,), with_mask), "key": torch.full((batch,), seed),
    }
    total, _ = objective(our_model, labeled, unlabeled)
    total.backward()
    targets = objective.pseudo_targets(unlabeled)
    with torch.no_grad():
        pred = our_model(imagenet_normalize(torch.cat((lab["rgb"], unl["rgb"]))))
        faces = student_faces(pred[batch:], targets)

    # the released loss zeroes targets and student faces outside the mask in place (utils/metric.py)
    ours_m = targets.mask
    ours_t, ours_f = targets.disparity * ours_m, faces * ours_m
    case = "with mask file" if with_mask else "no mask file"
    ours_g = torch.cat([p.grad.flatten() for p in our_model.parameters()]).double()
    rel_g = torch.cat([g.flatten() for g in rel_grads]).double()
    param_grad = float((ours_g - rel_g).norm() / rel_g.norm())
    return [
        Row(f"pseudo labels ({case})", "cube-face targets (normalised disparity)", max_abs(ours_t, rel_targets), 1e-4),
        Row(f"pseudo labels ({case})", "masks (pixels differing)", float((ours_m != rel_mask).sum()), 0.0, "count"),
        Row(f"pseudo labels ({case})", "student faces (disparity), relative", max_rel(ours_f, rel_faces), 1e-4, "max |Δ|/max"),
        Row(f"training step ({case})", "total loss, relative", abs(float(total) - rel_loss) / abs(rel_loss), 1e-5, "|Δ|/|ref|"),
        Row(f"training step ({case})", "gradient w.r.t. the student's prediction", max_rel(our_model.output_grad,
                                                                                     rel_model.output_grad), 1e-4, "max |Δ|/max"),
        Row(f"training step ({case})", "gradient w.r.t. the student's weights", param_grad, 1e-4, "‖Δ‖/‖ref‖"),
    ]


def check_loss(height: int = 128, batch: int = 2, seed: int = 9, empty: bool = False) -> list[Row]:
    """``utils/metric.py: affine_invariant_loss_V2_CUBE`` beside ``repro.losses`` (pixels reduction), same tensors."""
    from utils.metric import affine_invariant_loss_V2_CUBE

    from repro.losses import affine_invariant_l1

    g = torch.Generator().manual_seed(seed)
    w, face = 2 * height, height // 2
    pred = torch.rand(batch, 1, height, w, generator=g) + 0.1
    gt = torch.rand(batch, 1, height, w, generator=g)
    valid = torch.rand(batch, 1, height, w, generator=g) > 0.1
    cube_pred = torch.rand(batch * 6, 1, face, face, generator=g) + 0.1
    cube_gt = torch.rand(batch * 6, 1, face, face, generator=g)
    cube_mask = torch.rand(batch * 6, 1, face, face, generator=g) > (1.1 if empty else 0.1)
    if not empty:
        cube_mask &= cube_gt > 0.02

    def grads(fn: Any) -> tuple[float, torch.Tensor, torch.Tensor]:
        p, c = pred.clone().requires_grad_(), cube_pred.clone().requires_grad_()
        loss = fn(p, c)
        loss.backward()
        return float(loss), p.grad, c.grad

    def released(p: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        outputs = {"pred_depth": p * 1.0, "pred_depth_cube": c * 1.0}  # the loss writes in place
        inputs = {"gt_depth": gt.clone(), "val_mask": valid, "pseudo_depth": cube_gt.clone(), "pseudo_mask": cube_mask}
        return affine_invariant_loss_V2_CUBE(outputs, inputs)["loss"]

    def ours(p: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return 0.5 * affine_invariant_l1(p, gt, valid, "pixels") + 0.5 * affine_invariant_l1(c, cube_gt, cube_mask, "pixels")

    rel, ours_ = grads(released), grads(ours)
    if empty:  # documented difference: the released loss is NaN when every cube mask is empty, ours 0
        return [Row("loss", "all cube masks empty: released NaN, ours finite (info)",
                    0.0 if math.isnan(rel[0]) and math.isfinite(ours_[0]) else 1.0, 0.0, "flag")]
    return [
        Row("loss", "affine-invariant L1 (gt + cube), relative", abs(ours_[0] - rel[0]) / abs(rel[0]), 1e-5, "|Δ|/|ref|"),
        Row("loss", "gradient w.r.t. equirect prediction", max_rel(ours_[1], rel[1]), 1e-4, "max |Δ|/max"),
        Row("loss", "gradient w.r.t. cube prediction", max_rel(ours_[2], rel[2]), 1e-4, "max |Δ|/max"),
    ]


_EVAL_KEYS = {
    "abs_rel": "err/abs_rel", "sq_rel": "err/sq_rel", "mae": "err/mae", "rmse": "err/rms",
    "rmse_log": "err/log_rms", "log10": "err/log10", "delta1": "acc/a1", "delta2": "acc/a2", "delta3": "acc/a3",
}


def check_evaluator(height: int = 512, seed: int = 13) -> list[Row]:
    """``Affine_Inv_Evaluator`` (crop 68, median_align) beside ``repro.evaluation.metrics`` with the variant's eval options."""
    from utils.metric import Affine_Inv_Evaluator

    from repro.evaluation.metrics import compute_metrics, scaled_crop_rows

    raw = load_config(VARIANT_FILE)
    ev = {**raw["defaults"]["eval"], **raw["variants"]["released_code"]["eval"]}
    data = panoramas(1, height, seed)
    gt = data["depth"]
    g = torch.Generator().manual_seed(seed)
    pred = (0.3 / gt.clamp_min(0.5)) + 0.05 * torch.rand(gt.shape, generator=g)  # disparity up to scale/shift
    mask = (gt > 0) & (gt <= 10)
    crop = scaled_crop_rows(68, height)  # 68 rows at the released H = 512
    evaluator = Affine_Inv_Evaluator(median_align=True, crop=crop)
    evaluator.compute_affine_inv_eval_metrics(gt_depth=gt, pred_depth=pred, mask=mask)
    ours = compute_metrics(
        pred, gt, ev["protocol"], crop_rows=crop, rmse_log=ev["rmse_log"],
        clamp=tuple(ev["clamp"]), min_depth=ev["min_depth"], max_depth=ev["max_depth"],
    )
    worst = max(abs(ours[k] - float(evaluator.metrics[v].avg)) / max(abs(float(evaluator.metrics[v].avg)), 1e-12)
                for k, v in _EVAL_KEYS.items())
    return [Row("evaluator", "9 metrics, lsq disparity + median, crop 68, clamp (worst relative)", worst, 1e-5, "max |Δ|/|ref|")]


def check_unifuse(height: int = 128, seed: int = 17) -> list[Row]:
    """The released UniFuse network beside ``repro``'s, released weights copied in, identical inputs.

    The released network takes its cube faces from the loader (a horizontal F R B L U D strip); it is
    fed the faces ``repro``'s UniFuse computes from the same normalised panorama, so the row checks
    the network. BiFuse++, HoHoNet and EGformer: :func:`check_student`.
    """
    import tempfile

    from baseline_models.UniFuse.networks import UniFuse as ReleasedUniFuse

    from repro.geometry import equirect_to_cube
    from repro.models import build_student
    from repro.models.checkpoints import load_checkpoint

    torch.manual_seed(seed)
    released = ReleasedUniFuse(num_layers=18, equi_h=height, equi_w=2 * height).eval()
    ours = build_student("unifuse", height=height, width=2 * height, pretrained=False).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "released_unifuse.pth"
        torch.save(released.state_dict(), path)
        report = load_checkpoint(ours, path)
    x = imagenet_normalize(panoramas(1, height, seed)["rgb"])
    strip = torch.cat(list(equirect_to_cube(x, height // 2)[0]), -1)[None]  # (1, 3, w, 6w)
    with torch.no_grad():
        ref = released(x, strip)["pred_depth"]
        out = ours(x)
    return [
        Row("students", "UniFuse: released weights load completely (missing/unexpected keys)",
            float(len(report.missing) + len(report.unexpected) + len(report.mismatched)), 0.0, "count"),
        Row("students", "UniFuse forward, relative", max_rel(out, ref), 1e-5, "max |Δ|/max"),
    ]


def _released_student(name: str) -> nn.Module:
    """The released network as the released ``inference.py``/``utils/model.py`` build it."""
    if name == "bifusepp":
        from baseline_models.BiFuseV2 import BiFuse

        return BiFuse.SupervisedCombinedModel("outputs", {"layers": 34, "CE_equi_h": [8, 16, 32, 64, 128, 256, 512]})
    if name == "hohonet":
        from lib.model.hohonet import HoHoNet as ReleasedHoHoNet

        return ReleasedHoHoNet(
            emb_dim=256,
            backbone_config={"module": "Resnet", "kwargs": {"backbone": "resnet50"}},
            decode_config={"module": "EfficientHeightReduction"},
            refine_config={"module": "TransEn", "kwargs": {"position_encode": 256, "num_layers": 1}},
            modalities_config={"DepthEstimator": {"basis": "dct", "n_components": 64, "loss": "l1"}},
        )
    if name == "egformer":
        from baseline_models.EGformer.models.egformer import EGDepthModel

        return EGDepthModel(hybrid=False)
    raise ValueError(name)


#: the options ``--variant released_code`` gives each student (suites/table3_zero_shot.yaml)
_VARIANT_OPTIONS: dict[str, dict[str, Any]] = {"bifusepp": {}, "hohonet": {"input_norm": "double"}, "egformer": {}}


def check_student(name: str, seed: int = 19) -> list[Row]:
    """A released BiFuse++/HoHoNet/EGformer beside ``repro``'s, its weights loaded through
    :func:`repro.models.released.load_released` (the path the authors' checkpoints take).

    All three are built at the released 512×1024 (EGformer's sampling tables and BiFuse++'s
    cube-equirect transforms are fixed to it). The released side is called as its training step
    calls it (``model(x)['pred_depth']``), in eval mode; both sides get the ImageNet-normalised panorama.
    """
    import tempfile

    from repro.models.released import load_released

    torch.manual_seed(seed)
    released = _released_student(name).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"released_{name}.pth"
        torch.save(released.state_dict(), path)
        ours, _, report = load_released(path, name, _VARIANT_OPTIONS[name])
    x = imagenet_normalize(panoramas(1, 512, seed)["rgb"])
    with torch.no_grad():
        ref = released(x)["pred_depth"]
        out = ours(x)
    label = {"bifusepp": "BiFuse++", "hohonet": "HoHoNet", "egformer": "EGformer"}[name]
    return [
        Row("students", f"{label}: released weights load completely (missing/unexpected keys)",
            float(len(report.missing) + len(report.unexpected) + len(report.mismatched)), 0.0, "count"),
        Row("students", f"{label} forward, relative", max_rel(out, ref.reshape(out.shape)), 1e-5, "max |Δ|/max"),
    ]
