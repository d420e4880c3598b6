"""Masks: thresholds, union and drop rule, tiny random Grounding DINO / SAM, resumable generation, audit."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from repro.masks import (
    Detections,
    GroundedSAM,
    OriginalGroundedSAM,
    TransformersGroundedSAM,
    audit_masks,
    ensure_masks,
    generate_masks,
    list_images,
    merge_manifest,
    read_manifest,
    read_mask,
)
from repro.masks.backends import caption, prompt_labels
from repro.masks.random_init import random_detector, random_grounded_sam, random_processors, random_segmenter

# ----------------------------------------------------------------------------- fixtures


def write_images(root: Path, n: int = 5, size: tuple[int, int] = (24, 48)) -> list[str]:
    """Procedural panoramas: a blue band of 'sky' on top, textured ground below; nested folders, png+jpg."""
    rng = np.random.default_rng(0)
    rels = []
    for i in range(n):
        h, w = size
        img = (rng.random((h, w, 3)) * 120 + 60).astype(np.uint8)
        img[: h // 4] = (90, 150, 235)
        rel = f"scene_{i // 2}/pano_{i}.{'jpg' if i % 2 else 'png'}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / rel)
        rels.append(rel)
    # a 16-bit depth map next to the RGB: not a photo, never masked
    Image.fromarray((rng.random(size) * 4000).astype(np.uint16)).save(root / "scene_0/depth_0.png")
    return sorted(rels)


class BoxFill(GroundedSAM):
    """A fake detector returning fixed boxes (pixels) and a 'segmenter' that fills each box."""

    def __init__(self, boxes: list[tuple[int, int, int, int]], fail_after: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.boxes, self.fail_after, self.calls = boxes, fail_after, 0

    def detect(self, images):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt  # the run is killed here
        box = torch.tensor(self.boxes, dtype=torch.float32).reshape(-1, 4)
        return [Detections(box, torch.ones(len(box)), ["sky"] * len(box)) for _ in images]

    def segment(self, images, detections):
        return [fill_boxes(im.shape[:2], det.boxes) for im, det in zip(images, detections)]


def fill_boxes(shape, boxes: torch.Tensor) -> np.ndarray:
    out = np.zeros((len(boxes),) + tuple(shape), dtype=bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes.round().int().tolist()):
        out[k, y0:y1, x0:x1] = True
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- tiny transformers models


class FakeDino(torch.nn.Module):
    """Grounding DINO stand-in with known outputs: per query a box (cx, cy, w, h in [0, 1]) and token probabilities."""

    def __init__(self, queries: list[tuple[tuple[float, float, float, float], dict[int, float]]], n_tokens: int):
        super().__init__()
        probs = torch.full((len(queries), n_tokens), 1e-4)
        for q, (_, tokens) in enumerate(queries):
            for pos, p in tokens.items():
                probs[q, pos] = p
        self.register_buffer("logits", torch.logit(probs))
        self.register_buffer("boxes", torch.tensor([b for b, _ in queries]))

    def forward(self, input_ids=None, pixel_values=None, **_):
        n = pixel_values.shape[0]
        return types.SimpleNamespace(
            logits=self.logits.expand(n, -1, -1), pred_boxes=self.boxes.expand(n, -1, -1), input_ids=input_ids
        )


class BoxFillSAM(TransformersGroundedSAM):
    def segment(self, images, detections):
        return [fill_boxes(im.shape[:2], det.boxes) for im, det in zip(images, detections)]


def fake_detector_backend(**kwargs) -> BoxFillSAM:
    dino_proc, sam_proc = random_processors("tiny")
    # caption "sky. watermark." -> [CLS] sky . watermark . [SEP]: "sky" at 1, "watermark" at 3
    queries = [
        ((0.25, 0.25, 0.5, 0.5), {1: 0.35}),  # sky, just above the box threshold: kept
        ((0.75, 0.75, 0.5, 0.5), {1: 0.29}),  # sky, just below: ignored
        ((0.75, 0.25, 0.5, 0.5), {3: 0.60, 1: 0.20}),  # watermark; "sky" under the text threshold
    ]
    return BoxFillSAM(FakeDino(queries, n_tokens=6), dino_proc, random_segmenter(), sam_proc, device="cpu", **kwargs)


# ----------------------------------------------------------------------------- tests: detection logic


def test_caption_and_labels():
    assert caption(["sky", "Watermark"]) == "sky. watermark."
    assert prompt_labels("sky watermark", ["sky", "watermark"]) == ["sky", "watermark"]
    assert prompt_labels("", ["sky"]) == []


def test_box_and_text_thresholds():
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    backend = fake_detector_backend()
    det = backend.detect([image])[0]
    assert len(det.boxes) == 2  # 0.35 and 0.60 pass the box threshold 0.3, 0.29 does not
    assert torch.allclose(det.boxes[0], torch.tensor([0.0, 0.0, 40.0, 20.0]))  # top-left quarter, pixels
    assert sorted(det.labels) == ["sky", "watermark"]
    result = backend([image])[0]
    assert result.valid_fraction == pytest.approx(0.5)  # two quarters excluded
    assert result.labels == ["sky", "watermark"]

    strict = fake_detector_backend(box_threshold=0.5)
    assert strict([image])[0].valid_fraction == pytest.approx(0.75)  # only the watermark box
    loose_text = fake_detector_backend(text_threshold=0.1)
    det = loose_text.detect([image])[0]
    assert det.labels.count("sky") == 2  # the watermark box now also reads "sky"
    assert len(det.boxes) == 2  # the text threshold never removes boxes (Grounded-SAM semantics)


def test_union_and_drop_rule(tmp_path):
    images = tmp_path / "img"
    rels = write_images(images, n=2, size=(20, 40))
    # 16 of 20 rows excluded by two overlapping boxes -> valid 0.2: kept (the rule is < 20 %)
    summary = generate_masks(images, tmp_path / "m", BoxFill([(0, 0, 40, 10), (0, 6, 40, 16)]), progress=False)
    assert summary.written == 2 and summary.dropped == 0
    rec = read_manifest(tmp_path / "m")[rels[0]]
    assert rec.valid_fraction == pytest.approx(0.2) and not rec.dropped
    summary = generate_masks(images, tmp_path / "m2", BoxFill([(0, 0, 40, 17)]), progress=False)
    assert summary.dropped == 2
    assert all(r.dropped for r in read_manifest(tmp_path / "m2").values())
    # the rule is re-derived on merge: a looser threshold un-drops without regenerating
    assert not any(r.dropped for r in merge_manifest(tmp_path / "m2", min_valid_fraction=0.1).values())


def test_tiny_random_models_end_to_end():
    torch.manual_seed(0)
    backend = random_grounded_sam("tiny", box_threshold=0.0, device="cpu")
    images = [np.random.default_rng(i).integers(0, 255, (24, 48, 3), dtype=np.uint8) for i in range(2)]
    dets = backend.detect(images)
    assert all(len(d.boxes) == 8 for d in dets)  # threshold 0: every query is a box
    results = backend(images)
    assert [r.valid.shape for r in results] == [(24, 48), (24, 48)]
    assert all(r.valid.dtype == bool for r in results)
    none = random_grounded_sam("tiny", box_threshold=1.0, device="cpu")
    assert none(images)[0].valid.all()  # nothing detected: everything valid


# ----------------------------------------------------------------------------- tests: generation


def test_layout_manifest_and_bad_images(tmp_path, caplog):
    images = tmp_path / "img"
    rels = write_images(images)
    (images / "scene_9").mkdir()
    (images / "scene_9" / "broken.jpg").write_bytes(b"not an image at all")
    assert "scene_0/depth_0.png" not in list_images(images)
    with caplog.at_level(logging.WARNING, logger="repro.masks"):
        summary = generate_masks(images, tmp_path / "masks", BoxFill([(0, 0, 48, 6)]), batch_size=2, progress=False)
    assert summary.written == len(rels) and [f for f, _ in summary.failed] == ["scene_9/broken.jpg"]
    assert "broken.jpg" in caplog.text
    lines = [json.loads(x) for x in (tmp_path / "masks" / "manifest.jsonl").read_text().splitlines()]
    assert [x["image"] for x in lines] == rels
    for line in lines:
        assert set(line) >= {"image", "mask", "valid_fraction", "dropped"}
        assert line["mask"] == str(Path(line["image"]).with_suffix(".png").as_posix())
        png = Image.open(tmp_path / "masks" / line["mask"])
        assert png.mode == "L" and png.size == (48, 24)
        values = np.asarray(png)
        assert set(np.unique(values)) == {0, 255}
        assert (values[:6] == 0).all() and (values[6:] == 255).all()
        assert line["valid_fraction"] == pytest.approx(0.75)
    assert not (tmp_path / "masks" / "scene_9").exists()
    assert not (tmp_path / "masks" / ".parts").exists()


def test_resume_after_interrupt_gives_identical_files(tmp_path):
    images = tmp_path / "img"
    write_images(images, n=6)
    boxes = [(0, 0, 48, 6), (30, 10, 40, 20)]
    generate_masks(images, tmp_path / "a", BoxFill(boxes), progress=False)
    with pytest.raises(KeyboardInterrupt):
        generate_masks(images, tmp_path / "b", BoxFill(boxes, fail_after=3), progress=False)
    assert 0 < len(list((tmp_path / "b").rglob("pano_*.png"))) < 6
    again = generate_masks(images, tmp_path / "b", BoxFill(boxes), progress=False)
    assert again.skipped == 3 and again.written == 3
    assert tree(tmp_path / "b") == tree(tmp_path / "a")


def test_shards_cover_everything_once(tmp_path):
    images = tmp_path / "img"
    write_images(images, n=5)
    full = generate_masks(images, tmp_path / "full", BoxFill([(0, 0, 10, 10)]), progress=False)
    s0 = generate_masks(images, tmp_path / "sh", BoxFill([(0, 0, 10, 10)]), shard=(0, 2), progress=False)
    s1 = generate_masks(images, tmp_path / "sh", BoxFill([(0, 0, 10, 10)]), shard=(1, 2), progress=False)
    assert (s0.written, s1.written) == (3, 2) and full.written == 5
    assert tree(tmp_path / "sh") == tree(tmp_path / "full")


def test_finished_run_loads_no_model_and_stale_temps_go(tmp_path):
    images = tmp_path / "img"
    write_images(images, n=2)
    generate_masks(images, tmp_path / "m", BoxFill([]), progress=False)
    stale = tmp_path / "m" / "scene_0" / ".pano_0.png.x1y2shard-0-of-1.tmp"
    stale.write_bytes(b"half")

    def boom():
        raise AssertionError("the backend must not be built when every mask exists")

    summary = generate_masks(images, tmp_path / "m", make_backend=boom, progress=False)
    assert summary.written == 0 and summary.skipped == 2
    assert not stale.exists()
    assert read_mask(tmp_path / "m" / "scene_0" / "pano_0.png").all()


def test_manifest_errors_name_file_and_line(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(
        '{"image": "a.png", "mask": "a.png", "valid_fraction": 1, "dropped": false}\n{oops\n'
    )
    with pytest.raises(ValueError, match=r"manifest.jsonl:2"):
        read_manifest(tmp_path)


def test_ensure_masks_follows_the_spec(tmp_path):
    from repro.run_settings import DataRef, MaskSpec

    ref = DataRef(dataset="structured3d", split="all")
    write_images(ref.root_dir(tmp_path), n=2)
    assert ensure_masks(ref, MaskSpec(backend="none"), data_root=tmp_path) is None
    with pytest.raises(FileNotFoundError, match="ground-truth masks"):
        ensure_masks(ref, MaskSpec(backend="ground_truth"), data_root=tmp_path)
    # masks already there (here: written by a fake) -> the transformers backend is never loaded
    generate_masks(ref.root_dir(tmp_path), ref.mask_dir(tmp_path), BoxFill([]), progress=False)
    summary = ensure_masks(ref, MaskSpec(backend="transformers"), data_root=tmp_path)
    assert summary.skipped == 2 and summary.written == 0


def test_cli_offline_error_and_audit(tmp_path, capsys, monkeypatch):
    from repro.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    images = tmp_path / "img"
    write_images(images, n=3)
    code = main(["masks", "generate", str(images), "--out", str(tmp_path / "m"), "--workers", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "repro models fetch" in err
    generate_masks(images, tmp_path / "m", BoxFill([(0, 0, 48, 20)]), progress=False)
    assert main(["masks", "generate", str(images), "--out", str(tmp_path / "m"), "--workers", "0"]) == 0
    assert "0 masks written" in capsys.readouterr().out
    assert main(["masks", "audit", str(tmp_path / "m"), "--images", str(images), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "dropped" in out and "audit.png" in out
    sheet = Image.open(tmp_path / "m" / "audit.png")
    assert sheet.size[0] >= 2 * 320  # two 320-px tiles (the legend may be wider)


def test_audit_sheet_colours_sky_and_watermark_apart_and_captions_sit_below_the_image(tmp_path):
    from repro.data.mask_manifest import read_mask, write_mask
    from repro.masks.audit import COLOURS, contact_sheet, excluded_by_label

    h, w = 32, 64
    sky = np.zeros((h, w), bool)
    sky[:8] = True
    mark = np.zeros((h, w), bool)
    mark[20:24, 10:30] = True
    images = tmp_path / "img"
    images.mkdir()
    Image.new("RGB", (w, h), (128, 128, 128)).save(images / "a.png")
    record = write_mask(
        tmp_path / "m", "a.png", ~(sky | mark), labels=["sky", "watermark"], excluded_by={"sky": sky, "watermark": mark}
    )
    assert (read_mask(tmp_path / "m" / record.mask) == ~(sky | mark)).all()  # codes still read as excluded
    sheet = np.asarray(contact_sheet([record], tmp_path / "m", images, width=320)).astype(int)  # 5x scale
    r, g, b = sheet[20, 160]  # sky: yellow tint over grey, right up to the top row (no caption bar there)
    assert r > g > b + 80 and (sheet[0, 3] == sheet[20, 160]).all()
    r, g, b = sheet[110, 100]  # watermark: magenta tint
    assert r > g + 80 and b > g + 80
    assert (sheet[60, 160] == 128).all()  # valid: untouched
    assert (sheet[160:, :320] != 128).any()  # caption strip below the 160-row picture
    legend = sheet[-20:].reshape(-1, 3)
    for colour, _ in COLOURS.values():
        assert (legend == colour).all(axis=1).any(), colour
    # masks of other tools record no prompt: one found label colours all, otherwise "unknown"
    codes = np.where(mark, 0, 255).astype(np.uint8)
    assert excluded_by_label(codes, ["watermark"])["watermark"].sum() == mark.sum()
    assert excluded_by_label(codes, ["sky", "watermark"])["unknown"].sum() == mark.sum()


def test_audit_statistics(tmp_path):
    images = tmp_path / "img"
    rels = write_images(images, n=4)
    generate_masks(images, tmp_path / "m", BoxFill([(0, 0, 48, 20)]), progress=False)  # 20/24 rows excluded
    report = audit_masks(tmp_path / "m", images, images=rels + ["extra/missing.png"])
    assert report.images == 4 and report.dropped == 4
    assert report.valid_fraction_mean == pytest.approx(4 / 24)
    assert report.histogram["80–100 %"] == 4 and report.labels == {"sky": 4}
    assert report.missing_images == ["extra/missing.png"]


# ----------------------------------------------------------------------------- the original packages


def test_grounded_sam_backend_with_mocked_groundingdino(tmp_path, monkeypatch):
    """groundingdino-py is not installable here: its API (util.inference.predict) is mocked; SAM is a
    tiny randomly initialised segment-anything model, so the SamPredictor path runs for real."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    seen = {}

    def predict(model, image, caption, box_threshold, text_threshold, device):
        seen.update(image=image, caption=caption, box_threshold=box_threshold, text_threshold=text_threshold)
        return torch.tensor([[0.25, 0.5, 0.5, 1.0]]), torch.tensor([0.9]), ["sky"]

    inference = types.ModuleType("groundingdino.util.inference")
    inference.predict = predict
    for name, module in {
        "groundingdino": types.ModuleType("groundingdino"),
        "groundingdino.util": types.ModuleType("groundingdino.util"),
        "groundingdino.util.inference": inference,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)

    torch.manual_seed(0)
    sam = Sam(
        image_encoder=ImageEncoderViT(img_size=64, patch_size=16, embed_dim=16, depth=1, num_heads=1, out_chans=16),
        prompt_encoder=PromptEncoder(
            embed_dim=16, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=4
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=16, transformer=TwoWayTransformer(depth=1, embedding_dim=16, mlp_dim=16, num_heads=1)
        ),
    )
    backend = OriginalGroundedSAM(torch.nn.Identity(), sam, device="cpu")
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    det = backend.detect([image])[0]
    assert torch.allclose(det.boxes, torch.tensor([[0.0, 0.0, 40.0, 40.0]]))  # cxcywh (normalised) -> xyxy pixels
    assert seen["caption"] == "sky. watermark." and (seen["box_threshold"], seen["text_threshold"]) == (0.3, 0.25)
    assert tuple(seen["image"].shape) == (3, 666, 1332)  # shorter side 800 unless the longer would pass 1333
    assert tuple(backend._detector_input(np.zeros((512, 600, 3), np.uint8)).shape) == (3, 800, 937)
    result = backend([image])[0]
    assert result.valid.shape == (40, 80) and result.labels == ["sky"]


@pytest.mark.slow
def test_real_size_random_models_match_the_checkpoints():
    """The 'real' random builds have the default checkpoints' sizes (for benchmarks without weights)."""
    sam = random_segmenter("real")
    assert 630e6 < sum(p.numel() for p in sam.parameters()) < 650e6  # SAM ViT-H: 641M
    dino = random_detector("real")
    assert 165e6 < sum(p.numel() for p in dino.parameters()) < 180e6  # grounding-dino-tiny: 172M
