"""Dataset readers: layouts, depth encodings, split lists, bad input, augmentation alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from repro.data import (
    DataError,
    ImageFolder,
    Matterport3D,
    SpatialAudioGen,
    Stanford2D3D,
    Structured3D,
    build_dataset,
)
from repro.data.base import SPLITS_DIR
from repro.data.mask_manifest import read_manifest, write_manifest, write_mask
from repro.data.transforms import IMAGENET_MEAN, IMAGENET_STD, imagenet_normalize
from repro.run_settings import DataRef, MaskSpec

H, W = 8, 16


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _position_rgb() -> np.ndarray:
    """RGB that encodes each pixel's (row, col): R = col, G = row (exact in a PNG)."""
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    return np.stack([cols * 10, rows * 20, np.full_like(rows, 7)], -1).astype(np.uint8)


def _position_depth(scale: float) -> np.ndarray:
    """Depth (metres) = 1 + 0.1 col + 0.01 row, encoded with ``scale``."""
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    return np.rint((1 + 0.1 * cols + 0.01 * rows) * scale).astype(np.uint16)


def _stanford(root: Path, n: int = 2, split: str = "train") -> list[str]:
    lines = []
    for i in range(n):
        name = f"camera_{i:032x}_office_{i}_frame_equirectangular_domain"
        rgb, depth = f"area_1/rgb_/{name}_rgb.png", f"area_1/depth/{name}_depth.png"
        _png(root / rgb, _position_rgb())
        _png(root / depth, _position_depth(512))
        lines.append(f"{rgb} {depth}")
    (root / f"stanford2d3d_{split}.txt").write_text("\n".join(lines) + "\n")
    return lines


# -- layouts and encodings ------------------------------------------------------------------------


def test_matterport_depth_is_uint16_over_4000(tmp_path: Path) -> None:
    raw = np.full((H, W), 4000, np.uint16)
    raw[0, :4] = 0  # no return
    raw[1, :4] = 48000  # 12 m: beyond the 10 m evaluation cap
    _png(tmp_path / "s/pano_skybox_color/a.jpg", np.full((H, W, 3), 128, np.uint8))
    _png(tmp_path / "s/pano_depth/a.png", raw)
    (tmp_path / "matterport3d_test.txt").write_text("s/pano_skybox_color/a.jpg s/pano_depth/a.png")
    sample = Matterport3D(tmp_path, "test", size=(H, W))[0]
    depth, valid = sample["depth"][0], sample["valid"][0]
    assert depth[4, 4] == pytest.approx(1.0) and depth[1, 0] == pytest.approx(12.0) and depth[0, 0] == 0
    assert not valid[0, 0] and not valid[1, 0] and valid[4, 4]
    assert sample["rgb"].shape == (3, H, W) and 0.45 < float(sample["rgb"].mean()) < 0.55


def test_stanford_depth_over_512_with_65535_invalid(tmp_path: Path) -> None:
    raw = np.full((H, W), 1024, np.uint16)
    raw[2, 3] = 65535
    _png(tmp_path / "area_5a/rgb_/x_rgb.png", _position_rgb())
    _png(tmp_path / "area_5a/depth/x_depth.png", raw)
    (tmp_path / "stanford2d3d_test.txt").write_text("area_5a/rgb_/x_rgb.png area_5a/depth/x_depth.png\n")
    sample = Stanford2D3D(tmp_path, "test", size=(H, W))[0]
    assert sample["depth"][0, 0, 0] == pytest.approx(2.0)
    assert sample["depth"][0, 2, 3] == 0 and not sample["valid"][0, 2, 3]
    assert int(sample["valid"].sum()) == H * W - 1


def test_structured3d_scene_ranges_and_millimetres(tmp_path: Path) -> None:
    for scene, room in ((5, "1"), (3001, "7"), (3250, "2"), (3250, "9"), (3600, "0")):
        full = tmp_path / f"scene_{scene:05d}/2D_rendering/{room}/panorama/full"
        _png(full / "rgb_rawlight.png", _position_rgb())
        _png(full / "depth.png", np.full((H, W), 2500, np.uint16))
    counts = {s: len(Structured3D(tmp_path, s, size=(H, W))) for s in ("train", "val", "test", "all")}
    assert counts == {"train": 1, "val": 1, "test": 2, "all": 4}  # scene 3600 is in no split
    assert Structured3D(tmp_path, "test", size=(H, W))[1]["depth"].max() == pytest.approx(2.5)
    with pytest.raises(DataError, match="scenes 3000-3249"):
        Structured3D(tmp_path / "scene_00005", "val")


def test_folder_lists_photos_and_skips_depth_maps_and_dot_folders(tmp_path: Path) -> None:
    _png(tmp_path / "v1/0001.jpg", np.zeros((H, W, 3), np.uint8))
    _png(tmp_path / "v1/0002.png", np.zeros((H, W, 3), np.uint8))
    _png(tmp_path / "v1/depth.png", np.ones((H, W), np.uint16))  # 16-bit: not a photo
    _png(tmp_path / ".depth/v1/0001.png", np.full((H, W), 3000, np.uint16))
    ds = SpatialAudioGen(tmp_path, "train", size=(H, W))
    assert [Path(e.rgb).name for e in ds.entries] == ["0001.jpg", "0002.png"]
    first, second = ds[0], ds[1]
    assert first["depth"].max() == pytest.approx(3.0) and second["depth"].max() == 0  # sidecar depth only
    assert first["valid"].all()  # unlabeled, no mask: nothing excluded
    with pytest.raises(DataError, match="needs a list file"):
        ImageFolder(tmp_path, "test")


def test_resize_bicubic_rgb_nearest_depth(tmp_path: Path) -> None:
    _stanford(tmp_path, 1)
    sample = Stanford2D3D(tmp_path, "train", size=(4, 8))[0]
    original = set(np.round(_position_depth(512).astype(np.float32) / 512, 5).ravel().tolist())
    resized = set(np.round(sample["depth"].numpy(), 5).ravel().tolist())
    assert resized <= original  # nearest: no depth value is a blend of two
    assert sample["rgb"].shape == (3, 4, 8) and 0 <= float(sample["rgb"].min()) and float(sample["rgb"].max()) <= 1


# -- official split lists -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "counts"), [("matterport3d", (7829, 957, 2014)), ("stanford2d3d", (1000, 40, 373))])
def test_official_split_counts(tmp_path: Path, name: str, counts: tuple[int, int, int]) -> None:
    cls = {"matterport3d": Matterport3D, "stanford2d3d": Stanford2D3D}[name]
    sizes = tuple(len(cls(tmp_path, s)) for s in ("train", "val", "test"))
    assert sizes == counts
    assert len(cls(tmp_path, "all")) == sum(counts)  # disjoint splits
    assert all(p.parent == SPLITS_DIR for p in cls(tmp_path, "all").sources)


def test_stanford_test_split_is_area_5() -> None:
    areas = {line.split("/")[0] for line in (SPLITS_DIR / "stanford2d3d_test.txt").read_text().splitlines()}
    assert areas == {"area_5a", "area_5b"}


# -- bad input -----------------------------------------------------------------------------------------


def test_missing_file_names_file_and_list_line(tmp_path: Path) -> None:
    lines = _stanford(tmp_path, 2)
    (tmp_path / lines[1].split()[1]).unlink()
    ds = Stanford2D3D(tmp_path, "train", size=(H, W))
    with pytest.raises(DataError, match=r"missing depth file .*_depth\.png \(listed at .*stanford2d3d_train\.txt:2\)"):
        ds[1]


def test_truncated_image_is_an_error_not_a_black_sample(tmp_path: Path) -> None:
    lines = _stanford(tmp_path, 1)
    rgb = tmp_path / lines[0].split()[0]
    rgb.write_bytes(rgb.read_bytes()[:60])
    with pytest.raises(DataError, match=r"unreadable image file .*_rgb\.png \(listed at .*:1\)"):
        Stanford2D3D(tmp_path, "train")[0]


def test_wrong_depth_dtype(tmp_path: Path) -> None:
    lines = _stanford(tmp_path, 1)
    _png(tmp_path / lines[0].split()[1], np.full((H, W), 9, np.uint8))  # 8-bit depth
    with pytest.raises(DataError, match=r"pixel mode 'L'.*16-bit"):
        Stanford2D3D(tmp_path, "train")[0]


def test_empty_split_file(tmp_path: Path) -> None:
    (tmp_path / "matterport3d_val.txt").write_text("\n\n")
    with pytest.raises(DataError, match=r"matterport3d_val\.txt lists no images"):
        Matterport3D(tmp_path, "val")


@pytest.mark.parametrize("line", ["../outside.jpg ../outside.png", "/etc/passwd a.png"])
def test_split_line_outside_root(tmp_path: Path, line: str) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root/matterport3d_train.txt").write_text(f"a.jpg a.png\n{line}\n")
    with pytest.raises(DataError, match=r"matterport3d_train\.txt:2: path .* points outside"):
        Matterport3D(tmp_path / "root", "train")


def test_malformed_line_and_unknown_split(tmp_path: Path) -> None:
    (tmp_path / "matterport3d_train.txt").write_text("a.jpg\n")
    with pytest.raises(DataError, match=r"matterport3d_train\.txt:1: expected 2 paths"):
        Matterport3D(tmp_path, "train")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        Matterport3D(tmp_path, "dev")
    with pytest.raises(DataError, match="does not exist"):
        Matterport3D(tmp_path / "nope", "train")


# -- augmentation -------------------------------------------------------------------------------------


def _decode_positions(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    col = torch.round(rgb[0] * 255 / 10)
    row = torch.round(rgb[1] * 255 / 20)
    return row, col


def test_augmentation_keeps_rgb_depth_and_mask_aligned(tmp_path: Path) -> None:
    """Depth and mask are known functions of the pixel position the RGB encodes."""
    lines = _stanford(tmp_path / "sf", 6)
    masks = tmp_path / "masks"
    checker = (np.add.outer(np.arange(H), np.arange(W)) % 3) != 0  # valid where (row + col) % 3 != 0
    write_manifest(masks, [write_mask(masks, ln.split()[0], checker) for ln in lines])
    ds = Stanford2D3D(tmp_path / "sf", "train", size=(H, W), augment=True, mask_root=masks, seed=3)
    rolls_or_flips = 0
    for i in range(len(ds)):
        s = ds[i]
        row, col = _decode_positions(s["rgb_noaug"])
        assert torch.allclose(s["depth"][0], 1 + 0.1 * col + 0.01 * row, atol=1e-3)
        assert torch.equal(s["valid"][0], (row + col) % 3 != 0)
        rolls_or_flips += int(not torch.equal(col[0], torch.arange(W, dtype=col.dtype)))
    assert rolls_or_flips >= len(ds) - 1  # the augmentation really moved pixels


def test_color_jitter_only_on_rgb_and_within_reference_ranges(tmp_path: Path) -> None:
    _stanford(tmp_path, 8)
    ds = Stanford2D3D(tmp_path, "train", size=(H, W), augment=True)
    jittered = 0
    for i in range(len(ds)):
        s = ds[i]
        if not torch.equal(s["rgb"], s["rgb_noaug"]):
            jittered += 1
            ratio = s["rgb"].mean() / s["rgb_noaug"].mean()
            assert 0.5 < float(ratio) < 1.6
    assert 1 <= jittered <= 7  # p = 0.5 per sample


def test_augmentation_is_deterministic_per_seed_epoch_index(tmp_path: Path) -> None:
    _stanford(tmp_path, 4)
    a = Stanford2D3D(tmp_path, "train", size=(H, W), augment=True, seed=1)
    b = Stanford2D3D(tmp_path, "train", size=(H, W), augment=True, seed=1)
    for i in reversed(range(4)):  # order does not matter
        assert torch.equal(a[i]["rgb"], b[i]["rgb"]) and torch.equal(a[i]["depth"], b[i]["depth"])
    before = [a[i]["rgb"] for i in range(4)]
    a.set_epoch(1)
    assert any(not torch.equal(before[i], a[i]["rgb"]) for i in range(4))
    c = Stanford2D3D(tmp_path, "train", size=(H, W), augment=True, seed=2)
    assert any(not torch.equal(before[i], c[i]["rgb"]) for i in range(4))


def test_no_augmentation_returns_identical_rgb_views(tmp_path: Path) -> None:
    _stanford(tmp_path, 1)
    s = Stanford2D3D(tmp_path, "train", size=(H, W))[0]
    assert torch.equal(s["rgb"], s["rgb_noaug"])
    _, col = _decode_positions(s["rgb"])
    assert torch.equal(col[0], torch.arange(W, dtype=col.dtype))


def test_imagenet_normalize() -> None:
    x = torch.tensor(IMAGENET_MEAN).view(3, 1, 1).expand(3, 2, 2)
    assert torch.allclose(imagenet_normalize(x), torch.zeros(3, 2, 2))
    one = imagenet_normalize(torch.ones(2, 3, 1, 1))
    assert torch.allclose(one[0, :, 0, 0], (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD))


# -- unlabeled role: masks and manifest -----------------------------------------------------------------


def test_unlabeled_reader_uses_masks_and_skips_dropped(tmp_path: Path) -> None:
    root, masks = tmp_path / "folder", tmp_path / "masks/folder"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        _png(root / name, np.full((H, W, 3), 90, np.uint8))
    half = np.zeros((H, W), bool)
    half[H // 2 :] = True
    entries = [write_mask(masks, "a.jpg", half), write_mask(masks, "b.jpg", np.zeros((H, W), bool))]
    write_manifest(masks, entries)
    assert read_manifest(masks)["b.jpg"].dropped and not read_manifest(masks)["a.jpg"].dropped
    ds = build_dataset(DataRef("folder", "train"), tmp_path, size=(H, W), masks=MaskSpec(backend="ground_truth"))
    assert [e.rgb for e in ds.entries] == ["a.jpg", "c.jpg"]  # b dropped (< 20 % valid)
    assert torch.equal(ds[0]["valid"][0], torch.from_numpy(half))
    assert ds[1]["valid"].all()  # no mask: nothing excluded
    assert build_dataset(DataRef("folder", "train"), tmp_path, masks=MaskSpec(backend="none")).mask_root is None
    with pytest.raises(DataError, match="mask folder .* does not exist"):
        build_dataset(DataRef("folder", "train", masks="nowhere"), tmp_path, masks=MaskSpec())


def test_manifest_bad_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text(
        '{"image": "a.jpg", "mask": "a.png", "valid_fraction": 1, "dropped": false}\n{oops\n'
    )
    with pytest.raises(ValueError, match=r"manifest\.jsonl:2"):
        read_manifest(tmp_path)


def test_build_dataset_unknown_name(tmp_path: Path) -> None:
    class Ref:
        dataset, split = "kitti", "train"

        def root_dir(self, data_root: Path) -> Path:
            return data_root

    with pytest.raises(DataError, match="unknown dataset 'kitti'"):
        build_dataset(Ref(), tmp_path)
