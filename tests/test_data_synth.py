"""The synthetic world: exact depth, masks, styles, determinism, layouts and the suite hook."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.data import DATASETS, build_dataset
from repro.data.mask_manifest import read_manifest
from repro.data.synth import (
    LAYOUTS,
    Scene,
    add_watermark,
    ensure_synthetic,
    panorama_generator,
    render,
    render_panorama,
    sample_scene,
    write_dataset,
)
from repro.geometry import equirect_directions
from repro.run_settings import DataRef, MaskSpec
from repro.suite.schema import SynthSpec


def _scene(boxes=(), cylinders=(), opening=None) -> Scene:
    s = 6 + len(boxes) + len(cylinders)
    return Scene(
        room=torch.tensor([-2.0, -1.5, -3.0, 4.0, 1.2, 2.5]),
        boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 6),
        cylinders=torch.tensor(cylinders, dtype=torch.float32).reshape(-1, 5),
        colors=torch.full((s, 2, 3), 0.5),
        patterns=torch.zeros(s, dtype=torch.long),
        scales=torch.ones(s),
        lights=torch.tensor([[0.5, 1.0, 0.5, 3.0, 3.0, 3.0]]),
        ambient=0.3,
        opening=None if opening is None else torch.tensor(opening),
    )


def test_empty_room_depth_matches_plane_intersections() -> None:
    """Distance to the room's walls, computed independently: nearest plane whose hit lies on the box."""
    scene = _scene()
    _, distance, sky = render(scene, 16, 32)
    d = equirect_directions(16, 32, dtype=torch.float64).reshape(-1, 3).numpy()
    lo, hi = scene.room[:3].double().numpy(), scene.room[3:].double().numpy()
    best = np.full(len(d), np.inf)
    for axis in range(3):
        for plane in (lo[axis], hi[axis]):
            with np.errstate(divide="ignore", invalid="ignore"):
                t = plane / d[:, axis]
            p = d * t[:, None]
            on_box = np.all((p >= lo - 1e-9) & (p <= hi + 1e-9), axis=1) & (t > 0)
            best = np.where(on_box, np.minimum(best, t), best)
    np.testing.assert_allclose(distance.reshape(-1).numpy(), best, rtol=1e-5)
    assert not sky.any()


def test_furniture_depth_matches_ray_marching() -> None:
    """Room + box + cylinder against brute-force marching along each ray (2 mm steps)."""
    box = [-0.5, -1.5, 1.0, 0.8, 0.2, 1.8]
    cyl = [-1.2, -1.0, 0.4, -1.5, 0.5]  # cx, cz, r, y0, y1
    scene = _scene(boxes=[box], cylinders=[cyl])
    _, distance, _ = render(scene, 12, 24)
    d = equirect_directions(12, 24, dtype=torch.float64).reshape(-1, 3).numpy()
    step = 0.002
    t = np.arange(step, 8.0, step)
    p = d[:, None, :] * t[None, :, None]  # (N, T, 3)
    lo, hi = scene.room[:3].numpy(), scene.room[3:].numpy()
    outside = np.any((p < lo) | (p > hi), axis=-1)
    in_box = np.all((p >= box[:3]) & (p <= box[3:]), axis=-1)
    in_cyl = (
        ((p[..., 0] - cyl[0]) ** 2 + (p[..., 2] - cyl[1]) ** 2 <= cyl[2] ** 2)
        & (p[..., 1] >= cyl[3])
        & (p[..., 1] <= cyl[4])
    )
    first = np.argmax(outside | in_box | in_cyl, axis=1)
    marched = t[first]
    got = distance.reshape(-1).numpy()
    np.testing.assert_allclose(got, marched, atol=step * 1.01 + 1e-4)
    assert (np.abs(got - marched) < 0.01).mean() == 1.0
    assert (marched < 3.0).sum() > 10  # the furniture is really in view


def test_furniture_casts_shadows() -> None:
    """Light at z = 2.45 above a low box (z 1.6-2.0): the floor at z ~ 1.5 in front of it is in its
    shadow, the floor at z ~ 1.0 is not. Same scene without the box as the reference."""
    box = [-0.3, -1.5, 1.6, 0.3, -1.0, 2.0]
    with_box, without = _scene(boxes=[box]), _scene()
    for scene in (with_box, without):
        scene.lights = torch.tensor([[0.0, 1.0, 2.45, 3.0, 3.0, 3.0]])
    rgb_box, depth_box, _ = render(with_box, 64, 128)
    rgb_ref, _, _ = render(without, 64, 128)
    shade, lit = (slice(47, 49), slice(63, 65)), (slice(51, 53), slice(63, 65))  # floor z ~ 1.5 / z ~ 1.0
    assert depth_box[0][shade].max() < 2.2  # floor seen directly (not the box, not the far wall)
    assert float(rgb_box[:, shade[0], shade[1]].mean()) < 0.8 * float(rgb_ref[:, shade[0], shade[1]].mean())
    assert torch.allclose(rgb_box[:, lit[0], lit[1]], rgb_ref[:, lit[0], lit[1]])


def test_sky_opening_has_no_depth_and_a_true_mask() -> None:
    scene = _scene(opening=[-10.0, 10.0, -10.0, 10.0])  # courtyard: no ceiling
    rgb, distance, sky = render(scene, 16, 32)
    d = equirect_directions(16, 32)
    room = scene.room
    t_ceiling = room[4] / d[..., 1].clamp_min(1e-9)
    p = d * t_ceiling[..., None]
    through = (d[..., 1] > 0) & (p[..., 0].abs() <= 10) & (p[..., 0] >= room[0]) & (p[..., 0] <= room[3])
    through &= (p[..., 2] >= room[2]) & (p[..., 2] <= room[5])
    assert torch.equal(sky[0], through)
    assert (distance[0][through] == 0).all() and (distance[0][~through] > 0).all()
    assert float(rgb[2][through].mean()) > float(rgb[0][through].mean())  # blue sky


def test_render_panorama_is_deterministic_and_seed_dependent() -> None:
    a = render_panorama(7, "a", 16, sky=True, watermark=True)
    b = render_panorama(7, "a", 16, sky=True, watermark=True)
    c = render_panorama(8, "a", 16, sky=True, watermark=True)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.distance, b.distance) and torch.equal(a.sky, b.sky)
    assert not torch.equal(a.rgb, c.rgb)
    assert a.rgb.shape == (3, 16, 32) and a.distance.shape == a.sky.shape == a.watermark.shape == (1, 16, 32)
    assert a.watermark.any() and torch.equal(a.valid, ~(a.sky | a.watermark))
    assert json.loads(json.dumps(a.scene.to_dict()))["style"] == "a"


def test_watermark_changes_only_its_mask() -> None:
    rgb = torch.rand(3, 32, 64, generator=torch.Generator().manual_seed(0))
    out, mask = add_watermark(rgb, torch.Generator().manual_seed(1))
    changed = (out != rgb).any(0, keepdim=True)
    assert changed.any() and not (changed & ~mask).any()
    assert 0.002 < mask.float().mean() < 0.05


def test_styles_differ_in_room_statistics_and_lighting() -> None:
    stats = {}
    for style in ("a", "b", "c"):
        scenes = [sample_scene(style, panorama_generator(0, i)) for i in range(40)]
        area = np.mean([float((s.room[3] - s.room[0]) * (s.room[5] - s.room[2])) for s in scenes])
        stats[style] = (
            area,
            np.mean([s.ambient for s in scenes]),
            np.mean([len(s.boxes) for s in scenes]),
            np.mean([len(s.cylinders) for s in scenes]),
            np.std([float(s.room[4] - s.room[1]) for s in scenes]),  # spread of ceiling heights
        )
    assert stats["b"][0] > stats["a"][0] * 1.2  # larger rooms and halls
    assert stats["b"][1] > stats["a"][1]  # brighter ambient
    assert stats["b"][2] > stats["a"][2]  # more furniture
    # c, the third domain: fewer boxes than either, more columns, a wider range of ceiling heights
    assert stats["c"][2] < min(stats["a"][2], stats["b"][2])
    assert stats["c"][3] > max(stats["a"][3], stats["b"][3])
    assert stats["c"][4] > 1.5 * max(stats["a"][4], stats["b"][4])
    with pytest.raises(ValueError, match="unknown synthetic style"):
        sample_scene("d", panorama_generator(0))


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_write_dataset_is_deterministic(tmp_path: Path) -> None:
    for run, workers in (("one", 1), ("two", 2)):  # same files whether or not worker processes render
        write_dataset(
            "stanford2d3d", tmp_path / run / "sf", count=1, height=8, seed=5, style="b", workers=workers, progress=False
        )
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


def test_write_dataset_from_a_threaded_process_uses_spawned_workers(tmp_path: Path) -> None:
    """Forking while another thread holds a lock (logging, tqdm, a launcher's threads) can deadlock
    the children, so a threaded process renders in spawned workers, and the files are the same."""
    import threading

    from repro.data.synth.layouts import _start_context

    stop, out = threading.Event(), {}
    other = threading.Thread(target=stop.wait, args=(300,), daemon=True)
    other.start()

    def write() -> None:
        out["method"] = _start_context().get_start_method()
        write_dataset("stanford2d3d", tmp_path / "thread" / "sf", count=1, height=8, seed=5, style="b",
                      workers=2, progress=False)
        out["done"] = True

    worker = threading.Thread(target=write, daemon=True)
    worker.start()
    worker.join(300)
    stop.set()
    assert out == {"method": "spawn", "done": True}
    write_dataset("stanford2d3d", tmp_path / "plain" / "sf", count=1, height=8, seed=5, style="b", workers=1,
                  progress=False)
    assert _digest(tmp_path / "thread") == _digest(tmp_path / "plain")


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_reader_runs_on_its_synthetic_layout(tmp_path: Path, name: str) -> None:
    root, masks = tmp_path / name, tmp_path / "masks" / name
    write_dataset(name, root, mask_root=masks, count=2, height=8, options={"sky_fraction": 1.0}, progress=False)
    cls = DATASETS[name]
    splits = ("train", "val", "test") if cls.labeled else ("train",)
    for split in splits:
        ds = cls(root, split, size=(8, 16))
        assert len(ds) == 2
        sample = ds[0]
        assert sample["rgb"].shape == (3, 8, 16) and sample["depth"].shape == sample["valid"].shape == (1, 8, 16)
        assert sample["depth"].max() > 0.3  # exact depth stored (labeled layouts and the .depth sidecar)
    assert len(cls(root, "all", size=(8, 16))) == 2 * len(splits)
    manifest = read_manifest(masks)
    assert len(manifest) == 2 * len(splits)
    unlabeled = cls(root, "train", size=(8, 16), mask_root=masks)
    for i, entry in enumerate(unlabeled.entries):  # every panorama opens to the sky: sky pixels have no depth
        s = unlabeled[i]
        assert not s["valid"].all()
        assert (s["depth"][~s["valid"]] == 0).float().mean() > 0.5
        assert manifest[entry.rgb].valid_fraction == pytest.approx(float(s["valid"].float().mean()))


def test_ensure_synthetic_writes_layout_and_ground_truth_masks(tmp_path: Path) -> None:
    spec = SynthSpec(count=2, height=8, seed=1, styles={"structured3d": "a"}, options={"watermark_fraction": 1.0})
    ref = DataRef("structured3d", "all")
    ensure_synthetic(ref, spec, data_root=tmp_path)
    assert (tmp_path / "structured3d/scene_00000/2D_rendering").is_dir()
    assert (tmp_path / "masks/structured3d/manifest.jsonl").is_file()
    ds = build_dataset(ref, tmp_path, size=(8, 16), masks=MaskSpec(backend="ground_truth"))
    assert len(ds) == 6 and not ds[0]["valid"].all()  # the watermark is masked out
    stamp = (tmp_path / "structured3d/.synth.json").stat().st_mtime_ns
    ensure_synthetic(DataRef("structured3d", "train"), spec, data_root=tmp_path)  # already there: no-op
    assert (tmp_path / "structured3d/.synth.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="delete"):
        ensure_synthetic(ref, SynthSpec(count=3, height=8), data_root=tmp_path)
    with pytest.raises(ValueError, match="unknown synthetic option"):
        ensure_synthetic(DataRef("matterport3d"), SynthSpec(options={"fog": 1}), data_root=tmp_path)
