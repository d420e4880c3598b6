"""Grounded-SAM: Grounding DINO boxes for text prompts, SAM masks inside them (paper §A.1).

Two backends with the same output:

* ``transformers`` (default): ``GroundingDinoForObjectDetection`` + ``SamModel`` and their
  processors from Hugging Face ``transformers``.
* ``grounded-sam``: the original ``groundingdino-py`` + ``segment-anything`` packages
  (``pip install 'repro-depth-anywhere[grounded-sam]'``) with their own checkpoints.

Threshold semantics follow Grounded-SAM's demo: a box is kept when its best token probability
exceeds ``box_threshold``; ``text_threshold`` only decides which prompt words label it. Every kept
box is segmented; the union of all masks is *excluded* (sky, watermark), the rest is valid.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.choices import DEFAULT_DETECTOR_ID, DEFAULT_SEGMENTER_ID
from repro.devices import pick_device

DEFAULT_PROMPTS = ("sky", "watermark")


@dataclass
class Detections:
    """Kept boxes of one image: ``boxes`` (K, 4) x0, y0, x1, y1 in pixels; ``labels`` the matched prompt words."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: list[str] = field(default_factory=list)


@dataclass
class MaskResult:
    """One image's outcome: ``valid`` (H, W) bool — False where a prompt was found."""

    valid: np.ndarray
    labels: list[str]

    @property
    def valid_fraction(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0


def caption(prompts: Sequence[str]) -> str:
    """Grounding DINO's multi-phrase caption: lower case, each phrase ended by a period."""
    return " ".join(f"{p.strip().lower().rstrip('.')}." for p in prompts)


def prompt_labels(phrase: str, prompts: Sequence[str]) -> list[str]:
    """The prompts named in a decoded phrase (tokens above the text threshold)."""
    words = phrase.replace(".", " ").lower().split()
    return [p for p in prompts if all(w in words for w in p.lower().split())]


class GroundedSAM(ABC):
    """Detect prompt boxes, segment them, return each image's valid mask (shared by both backends)."""

    def __init__(
        self,
        prompts: Sequence[str] = DEFAULT_PROMPTS,
        box_threshold: float = 0.3,
        text_threshold: float = 0.25,
        device: str | torch.device | None = None,
    ) -> None:
        if not prompts:
            raise ValueError("at least one text prompt is needed")
        for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.prompts = [str(p) for p in prompts]
        self.box_threshold = float(box_threshold)
        self.text_threshold = float(text_threshold)
        self.device = pick_device(device)

    @abstractmethod
    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Boxes above the thresholds for each RGB uint8 (H, W, 3) image."""

    @abstractmethod
    def segment(self, images: Sequence[np.ndarray], detections: Sequence[Detections]) -> list[np.ndarray]:
        """(K, H, W) bool masks of each image's boxes (only called for images with K > 0)."""

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[MaskResult]:
        detections = self.detect(images)
        todo = [i for i, d in enumerate(detections) if len(d.boxes)]
        masks = dict(zip(todo, self.segment([images[i] for i in todo], [detections[i] for i in todo]))) if todo else {}
        results = []
        for i, (image, det) in enumerate(zip(images, detections)):
            excluded = masks[i].any(0) if i in masks else np.zeros(image.shape[:2], dtype=bool)
            results.append(MaskResult(valid=~excluded, labels=sorted(set(det.labels))))
        return results


class TransformersGroundedSAM(GroundedSAM):
    """Grounding DINO + SAM from ``transformers``; pass loaded models (tests) or use :meth:`from_pretrained`."""

    def __init__(self, detector: Any, detector_processor: Any, sam: Any, sam_processor: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.detector = detector.to(self.device).eval()
        self.detector_processor = detector_processor
        self.sam = sam.to(self.device).eval()
        self.sam_processor = sam_processor

    @classmethod
    def from_pretrained(
        cls,
        detector_id: str = DEFAULT_DETECTOR_ID,
        segmenter_id: str = DEFAULT_SEGMENTER_ID,
        cache_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> TransformersGroundedSAM:
        from transformers import AutoProcessor, GroundingDinoForObjectDetection, SamModel, SamProcessor

        from repro.teacher.hub import load_pretrained

        return cls(
            load_pretrained(GroundingDinoForObjectDetection, detector_id, cache_dir),
            load_pretrained(AutoProcessor, detector_id, cache_dir),
            load_pretrained(SamModel, segmenter_id, cache_dir),
            load_pretrained(SamProcessor, segmenter_id, cache_dir),
            **kwargs,
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        text = [caption(self.prompts)] * len(images)
        inputs = self.detector_processor(images=list(images), text=text, return_tensors="pt").to(self.device)
        outputs = self.detector(**inputs)
        found = self.detector_processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[im.shape[:2] for im in images],
        )
        return [
            Detections(
                boxes=r["boxes"].float().cpu(),
                scores=r["scores"].float().cpu(),
                labels=[lab for phrase in r["text_labels"] for lab in prompt_labels(phrase, self.prompts)],
            )
            for r in found
        ]

    def segment(self, images: Sequence[np.ndarray], detections: Sequence[Detections]) -> list[np.ndarray]:
        inputs = self.sam_processor(images=list(images), return_tensors="pt")
        embeddings = self.sam.get_image_embeddings(inputs["pixel_values"].to(self.device))
        out = []
        for i, det in enumerate(detections):
            orig = inputs["original_sizes"][i].tolist()
            resized = inputs["reshaped_input_sizes"][i].tolist()
            scale = torch.tensor([resized[1] / orig[1], resized[0] / orig[0]] * 2)
            boxes = (det.boxes * scale)[None].to(self.device)  # (1, K, 4) in SAM's resized frame
            pred = self.sam(image_embeddings=embeddings[i : i + 1], input_boxes=boxes, multimask_output=False)
            masks = self.sam_processor.image_processor.post_process_masks(
                pred.pred_masks.cpu(), inputs["original_sizes"][i : i + 1], inputs["reshaped_input_sizes"][i : i + 1]
            )[0]
            out.append(masks[:, 0].numpy().astype(bool))
        return out


class OriginalGroundedSAM(GroundedSAM):
    """``groundingdino-py`` + ``segment-anything`` (the Grounded-Segment-Anything code the paper used).

    Checkpoints (not on the Hugging Face hub in ``transformers`` form): the Grounding DINO config
    ``GroundingDINO_SwinT_OGC.py`` + ``groundingdino_swint_ogc.pth`` and SAM's ``sam_vit_h_4b8939.pth``.
    """

    def __init__(self, detector: Any, sam: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from segment_anything import SamPredictor

        self.detector = detector.to(self.device).eval()
        self.predictor = SamPredictor(sam.to(self.device).eval())

    @classmethod
    def from_checkpoints(
        cls,
        detector_config: str | Path,
        detector_checkpoint: str | Path,
        sam_checkpoint: str | Path,
        sam_type: str = "vit_h",
        **kwargs: Any,
    ) -> OriginalGroundedSAM:
        try:
            from groundingdino.util.inference import load_model
            from segment_anything import sam_model_registry
        except ImportError as exc:
            raise ImportError(
                "the grounded-sam mask backend needs groundingdino-py and segment-anything: "
                "pip install 'repro-depth-anywhere[grounded-sam]' (or use backend: transformers)"
            ) from exc
        for path in (detector_config, detector_checkpoint, sam_checkpoint):
            if not Path(path).is_file():
                raise FileNotFoundError(f"grounded-sam backend: {path} does not exist")
        device = pick_device(kwargs.get("device"))
        detector = load_model(str(detector_config), str(detector_checkpoint), device=str(device))
        return cls(detector, sam_model_registry[sam_type](checkpoint=str(sam_checkpoint)), **kwargs)

    @staticmethod
    def _detector_input(image: np.ndarray, size: int = 800, max_size: int = 1333) -> torch.Tensor:
        """Grounding DINO's test transform: shorter side 800, longer at most 1333 (DETR's sizing rule),
        ImageNet-normalised."""
        import torchvision.transforms.functional as TF
        from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        h, w = image.shape[:2]
        short, long = min(h, w), max(h, w)
        if long / short * size > max_size:
            size = round(max_size * short / long)
        out_hw = [size, int(size * w / h)] if h <= w else [int(size * h / w), size]
        x = TF.resize(TF.to_tensor(image), out_hw, antialias=True)
        return TF.normalize(x, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        from groundingdino.util.inference import predict

        out = []
        for image in images:
            boxes, scores, phrases = predict(
                model=self.detector,
                image=self._detector_input(image),
                caption=caption(self.prompts),
                box_threshold=self.box_threshold,
                text_threshold=self.text_threshold,
                device=str(self.device),
            )
            h, w = image.shape[:2]
            cx, cy, bw, bh = (boxes.float() * torch.tensor([w, h, w, h])).unbind(-1)
            xyxy = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1).reshape(-1, 4)
            labels = [lab for phrase in phrases for lab in prompt_labels(phrase, self.prompts)]
            out.append(Detections(boxes=xyxy, scores=scores.float().reshape(-1), labels=labels))
        return out

    def segment(self, images: Sequence[np.ndarray], detections: Sequence[Detections]) -> list[np.ndarray]:
        out = []
        for image, det in zip(images, detections):
            self.predictor.set_image(image)
            boxes = self.predictor.transform.apply_boxes_torch(det.boxes, image.shape[:2]).to(self.device)
            masks, _, _ = self.predictor.predict_torch(
                point_coords=None, point_labels=None, boxes=boxes, multimask_output=False
            )
            out.append(masks[:, 0].cpu().numpy().astype(bool))
        return out


def build_backend(
    backend: str = "transformers",
    *,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    box_threshold: float = 0.3,
    text_threshold: float = 0.25,
    device: str | torch.device | None = None,
    **opts: Any,
) -> GroundedSAM:
    """``transformers`` (opts: ``detector_id``, ``segmenter_id``, ``cache_dir``) or ``grounded-sam``
    (opts: ``detector_config``, ``detector_checkpoint``, ``sam_checkpoint``, ``sam_type``)."""
    common = {"prompts": prompts, "box_threshold": box_threshold, "text_threshold": text_threshold, "device": device}
    if backend == "transformers":
        return TransformersGroundedSAM.from_pretrained(**opts, **common)
    if backend == "grounded-sam":
        missing = [k for k in ("detector_config", "detector_checkpoint", "sam_checkpoint") if not opts.get(k)]
        if missing:
            raise ValueError(f"the grounded-sam backend needs {', '.join(missing)} (checkpoint files)")
        return OriginalGroundedSAM.from_checkpoints(**opts, **common)
    raise ValueError(f"unknown mask backend {backend!r}: use 'transformers' or 'grounded-sam'")
