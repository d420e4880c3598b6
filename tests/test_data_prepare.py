"""`repro data prepare`: tiny fake official downloads, written here, converted end to end and verified."""

from __future__ import annotations

import io
import json
import math
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import repro.data.base
import repro.data.verify
from repro.cli import main
from repro.data.prepare import matterport as mp
from repro.data.sources import SOURCES
from repro.data.synth import render_panorama

ROOT = Path(__file__).resolve().parents[1]


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _official_lists(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str, lines: dict[str, list[str]]) -> None:
    """Stand-in for the shipped UniFuse lists, naming only the fake download's panoramas."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, entries in lines.items():
        (folder / f"{name}_{split}.txt").write_text("\n".join(entries))
    monkeypatch.setattr(repro.data.base, "SPLITS_DIR", folder)
    monkeypatch.setattr(repro.data.verify, "SPLITS_DIR", folder)


def _prepare(*args: str) -> list[str]:
    return ["data", "prepare", *args, "--no-progress", "--workers", "1"]


# ------------------------------------------------------------------------------ Stanford2D3D


def test_stanford_pano_folders_and_archives_to_split_layout(tmp_path, monkeypatch, capsys):
    download, data = tmp_path / "download", tmp_path / "data"
    rng = np.random.default_rng(0)
    names = {"area_1": ["camera_aa_office_1_frame_equirectangular_domain"], "area_5a": ["camera_bb_hall_1_frame_equirectangular_domain"]}
    depth = (rng.uniform(1, 4, (8, 16)) * 512).astype(np.uint16)
    rgb = rng.integers(0, 255, (8, 16, 3), dtype=np.uint8)
    for kind, data_ in (("rgb", _png(rgb)), ("depth", _png(depth)), ("semantic", _png(rgb))):
        path = download / "area_1" / "pano" / kind / f"{names['area_1'][0]}_{kind}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data_)
    with tarfile.open(download / "area_5a.tar", "w") as tf:  # area 5a still archived
        for kind, data_ in (("rgb", _png(rgb)), ("depth", _png(depth)), ("normal", _png(rgb))):
            info = tarfile.TarInfo(f"area_5a/pano/{kind}/{names['area_5a'][0]}_{kind}.png")
            info.size = len(data_)
            tf.addfile(info, io.BytesIO(data_))
    line = "{a}/rgb_/{n}_rgb.png {a}/depth/{n}_depth.png"
    train = [line.format(a="area_1", n=names["area_1"][0])]
    test = [line.format(a="area_5a", n=names["area_5a"][0])]
    _official_lists(monkeypatch, tmp_path / "lists", "stanford2d3d", {"train": train, "val": train, "test": test})
    assert main(_prepare("stanford2d3d", "--from", str(download), "--out", str(data))) == 0
    out = capsys.readouterr().out
    assert "stanford2d3d: 4 converted, 0 already there, 0 problem(s)" in out and out.rstrip().endswith("OK")
    root = data / "stanford2d3d"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png")) == sorted(
        f"{a}/{d}/{names[a][0]}_{k}.png" for a in names for d, k in (("rgb_", "rgb"), ("depth", "depth"))
    )  # semantic / normal never copied
    assert np.array_equal(np.asarray(Image.open(root / "area_5a/depth" / f"{names['area_5a'][0]}_depth.png")), depth)
    assert main(_prepare("stanford2d3d", "--from", str(download), "--out", str(data))) == 0  # resumed: nothing to do
    assert "0 converted, 4 already there" in capsys.readouterr().out


def test_prepare_without_a_download_is_one_user_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(_prepare("stanford2d3d", "--from", str(tmp_path / "empty"), "--out", str(tmp_path))) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro data: error: no area_*/pano/rgb") and "Traceback" not in err
    assert main(_prepare("spatialaudiogen", "--out", str(tmp_path))) == 2
    assert "--videos DIR" in capsys.readouterr().err


# ------------------------------------------------------------------------------ Structured3D


def test_structured3d_zip_extracts_only_the_needed_files(tmp_path, capsys):
    download, data = tmp_path / "download", tmp_path / "data"
    download.mkdir()
    rng = np.random.default_rng(1)
    wanted = set()
    with zipfile.ZipFile(download / "Structured3D_panorama_00.zip", "w") as zf:
        for scene in (0, 3000, 3250):  # one scene per split
            base = f"Structured3D/scene_{scene:05d}/2D_rendering/{100 + scene}/panorama"
            depth = (rng.uniform(1, 4, (8, 16)) * 1000).astype(np.uint16)
            for rel, payload in (
                ("full/rgb_rawlight.png", _png(rng.integers(0, 255, (8, 16, 3), dtype=np.uint8))),
                ("full/rgb_warmlight.png", _png(rng.integers(0, 255, (8, 16, 3), dtype=np.uint8))),
                ("full/depth.png", _png(depth)),
                ("full/semantic.png", _png(rng.integers(0, 255, (8, 16, 3), dtype=np.uint8))),
                ("simple/rgb_rawlight.png", _png(rng.integers(0, 255, (8, 16, 3), dtype=np.uint8))),
            ):
                zf.writestr(f"{base}/{rel}", payload)
                if rel in ("full/rgb_rawlight.png", "full/depth.png"):
                    wanted.add(f"{base.removeprefix('Structured3D/')}/{rel}")
            zf.writestr(f"Structured3D/scene_{scene:05d}/annotation_3d.json", "{}")
    assert main(_prepare("structured3d", "--from", str(download), "--out", str(data))) == 0
    out = capsys.readouterr().out
    assert "structured3d: 6 converted" in out and out.rstrip().endswith("OK")
    root = data / "structured3d"
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} == wanted
    assert main(_prepare("structured3d", "--from", str(download), "--out", str(data))) == 0
    assert "0 converted, 6 already there" in capsys.readouterr().out


# ------------------------------------------------------------------------------ Matterport3D

TILTS = (-0.9, 0.0, 0.9)  # radians: the three cameras of the Matterport tripod
VIEW_H, VIEW_W, VIEW_FOV = 32, 40, 80.0


def _pose(vx: float, vy: float, centre: np.ndarray) -> np.ndarray:
    """A camera-to-world pose whose third axis gives (vx, vy) under UniFuse's formula (world = pano frame)."""
    a, tilt = vx - mp.YAW_OFFSET, -vy
    v = np.array([math.cos(tilt) * math.cos(a), -math.cos(tilt) * math.sin(a), math.sin(tilt)])
    c0 = np.cross([0.0, 0.0, 1.0], v)
    c0 /= np.linalg.norm(c0)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([c0, np.cross(v, c0), v], 1)
    pose[:3, 3] = centre
    return pose


def _fake_matterport(scan_dir: Path, scene: str, pano_id: str, height: int) -> torch.Tensor:
    """Skybox faces (zipped, official names and orientation) and 18 depth views + .conf of one panorama."""
    from repro.geometry import (
        CUBE_FACES,
        equirect_depth_to_perspective,
        equirect_to_cube,
    )

    pano = render_panorama(seed=3, style="a", height=height)
    faces = equirect_to_cube(pano.rgb[None], height // 2)[0].permute(0, 2, 3, 1).numpy()
    ours = dict(zip(CUBE_FACES, (faces * 255).round().astype(np.uint8), strict=True))
    (scan_dir / scene).mkdir(parents=True)
    with zipfile.ZipFile(scan_dir / scene / f"{mp.SKYBOX}.zip", "w") as zf:
        for face, (k, turns) in mp.SKYBOX_FACES.items():
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(np.rot90(ours[face], -turns))).save(buf, format="JPEG", quality=98)
            zf.writestr(f"{scene}/{mp.SKYBOX}/{pano_id}_skybox{k}_sami.jpg", buf.getvalue())
    focal = (VIEW_W - 1) / (2 * math.tan(math.radians(VIEW_FOV) / 2))
    lines = ["dataset matterport", "n_images 18", f"depth_directory {mp.DEPTH}", "color_directory x", ""]
    depth_dir = scan_dir / scene / mp.DEPTH
    depth_dir.mkdir()
    for b, tilt in enumerate(TILTS):
        lines.append(f"intrinsics_matrix {focal} 0 {VIEW_W / 2} 0 {focal} {VIEW_H / 2} 0 0 1")
        for k in range(6):
            vx = k * math.pi / 3
            right, down, forward = mp.camera_axes(vx, tilt)
            rot = torch.from_numpy(np.stack([right, -down, forward], 1)).float()[None]
            z = equirect_depth_to_perspective(pano.distance[None], rot, (VIEW_H, VIEW_W), VIEW_FOV)[0, 0, 0]
            name = f"{pano_id}_d{b}_{k}.png"
            (depth_dir / name).write_bytes(_png(np.rint(z.numpy() * mp.DEPTH_SCALE).astype(np.uint16)))
            yaw = 2 * math.pi * k / 6
            centre = np.array([0.01 * math.cos(yaw), 0.01 * math.sin(yaw), (b - 1) * 0.2])
            pose = _pose(vx, tilt, centre)
            lines.append(f"scan {name} {pano_id}_i{b}_{k}.jpg " + " ".join(f"{v:.9f}" for v in pose.ravel()))
    (scan_dir / scene / mp.CAMERAS).mkdir()
    (scan_dir / scene / mp.CAMERAS / f"{scene}.conf").write_text("\n".join(lines) + "\n")
    return pano


def test_matterport_skybox_and_depth_views_to_equirect(tmp_path, monkeypatch, capsys):
    scans, data, h = tmp_path / "v1" / "scans", tmp_path / "data", 48
    pano = _fake_matterport(scans, "17DRP5sb8fy", "0a1b2c", h)
    line = "17DRP5sb8fy/pano_skybox_color/0a1b2c.jpg 17DRP5sb8fy/pano_depth/0a1b2c.png"
    _official_lists(monkeypatch, tmp_path / "lists", "matterport3d", {"train": [line], "val": [line], "test": [line]})
    args = _prepare("matterport3d", "--from", str(scans), "--out", str(data), "--height", str(h), "--ray-scale", "exact")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "matterport3d: 1 converted" in out and out.rstrip().endswith("OK")

    root = data / "matterport3d" / "17DRP5sb8fy"
    rgb = np.asarray(Image.open(root / "pano_skybox_color/0a1b2c.jpg")).astype(np.float32) / 255
    assert rgb.shape == (h, 2 * h, 3)
    truth = pano.rgb.permute(1, 2, 0).numpy()
    err = np.abs(rgb - truth).mean()
    assert err < 0.06, err  # the right faces, in the right place and orientation
    assert err < 0.5 * np.abs(np.roll(rgb, h // 2, axis=1) - truth).mean()  # a quarter turn off would show

    depth = np.asarray(Image.open(root / "pano_depth/0a1b2c.png")).astype(np.float64) / mp.DEPTH_SCALE
    seen = depth > 0
    assert seen.mean() > 0.85  # the three tilts cover all but the poles
    rel = np.abs(depth[seen] - pano.distance[0].numpy()[seen]) / pano.distance[0].numpy()[seen]
    assert np.median(rel) < 0.01 and np.mean(rel < 0.05) > 0.9, (np.median(rel), np.mean(rel < 0.05))

    assert main(args) == 0 and "0 converted, 1 already there" in capsys.readouterr().out


def test_matterport_unifuse_ray_scale_is_shorter_off_axis() -> None:
    """UniFuse normalises pixel offsets by the crop size, not the focal length: smaller factors off axis."""
    ours = mp.ray_factor(1024, 1280, 1075.0, 1075.0, "unifuse")
    exact = mp.ray_factor(1024, 1280, 1075.0, 1075.0, "exact")
    assert ours[512, 640] == pytest.approx(1.0, abs=1e-6) and exact[0, 0] > ours[0, 0] > 1.0
    assert exact[0, 0] == pytest.approx(math.sqrt((639.5 / 1075) ** 2 + (511.5 / 1075) ** 2 + 1))


def test_panorama_frame_follows_matlab_pca_sign() -> None:
    centres = np.array([[0.01 * math.cos(a), 0.01 * math.sin(a), z] for z in (-0.2, 0, 0.2) for a in np.arange(6) * math.pi / 3])
    centres[6] = [0.01, 0.0, 0.0]
    assert np.allclose(mp.panorama_frame(centres), np.eye(3), atol=1e-6)
    assert np.allclose(mp.panorama_frame(centres[:, [0, 1, 2]] * [1, 1, -1])[:, 2], [0, 0, 1], atol=1e-6)


# ------------------------------------------------------------------------------ SpatialAudioGen


def _write_video(path: Path, width: int, height: int, seconds: float, fps: int = 10) -> None:
    """A synthetic 360° clip: a drifting pattern, with a frozen middle second (duplicates to drop)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 20_000_000  # near-lossless: the frozen second decodes as frozen
        for i in range(int(seconds * fps)):
            shift = min(i, 10) if 10 <= i < 20 else i  # frames 10..19 identical
            img = np.stack(
                [(xx * 4 + shift * 16) % 256, (yy * 8 + shift * 8) % 256, ((xx + yy) * 2) % 256], -1
            ).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_spatialaudiogen_frames_manifest_and_reproducible(tmp_path, capsys):
    videos = tmp_path / "videos"
    _write_video(videos / "-076WPWoCRE.mp4", 128, 64, 4.0)
    _write_video(videos / "03UPyfDYf4g.video.mp4", 96, 64, 1.0)  # 3:2: a YouTube EAC download
    args = ["--videos", str(videos), "--fps", "2", "--height", "32"]
    assert main(_prepare("spatialaudiogen", *args, "--out", str(tmp_path / "a"))) == 1  # one video unusable
    out = capsys.readouterr().out
    assert "03UPyfDYf4g.video.mp4: frames are 96x64: 3:2 looks like YouTube's equi-angular cubemap" in out
    root = tmp_path / "a" / "spatialaudiogen"
    records = [json.loads(x) for x in (root / "frames.jsonl").read_text().splitlines()]
    assert [r["t"] for r in records] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert [r.get("dropped") for r in records] == [None, None, None, "duplicate", None, None, None, None]
    kept = [r["frame"] for r in records if "frame" in r]
    assert (root / "spatialaudiogen_train.txt").read_text().split() == kept == [
        f"-076WPWoCRE/{ms:09d}.jpg" for ms in (0, 500, 1000, 2000, 2500, 3000, 3500)
    ]
    assert Image.open(root / kept[0]).size == (64, 32)
    settings = json.loads((root / "prepare.json").read_text())
    assert settings["frames"] == 7 and settings["settings"]["fps"] == 2.0
    assert "OK" in out  # the final verify reads every frame through the dataset reader

    (videos / "03UPyfDYf4g.video.mp4").unlink()
    assert main(_prepare("spatialaudiogen", *args, "--out", str(tmp_path / "b"))) == 0
    again = (tmp_path / "b" / "spatialaudiogen" / "frames.jsonl").read_text()
    assert again == (root / "frames.jsonl").read_text()  # same frames, same bytes (sha256 in the manifest)
    capsys.readouterr()
    assert main(_prepare("spatialaudiogen", *args, "--out", str(tmp_path / "b"))) == 0
    assert "0 converted, 1 already there" in capsys.readouterr().out
    assert main(_prepare("spatialaudiogen", "--videos", str(videos), "--fps", "1", "--out", str(tmp_path / "b"))) == 2
    assert "other settings" in capsys.readouterr().err


def test_default_rate_matches_the_papers_frame_count() -> None:
    from repro.data.prepare.spatialaudiogen import DEFAULT_FPS, YT_ALL_HOURS

    assert round(DEFAULT_FPS * YT_ALL_HOURS * 3600) == 344_000


# ------------------------------------------------------------------------------ docs


def test_layouts_and_docs_name_every_prepare_command(capsys):
    assert main(["data", "list", "--layouts"]) == 0
    out = capsys.readouterr().out
    doc = (ROOT / "docs" / "data.md").read_text()
    for source in SOURCES.values():
        assert source.prepare in out and source.prepare in doc and source.url in doc


# ------------------------------------------------------------------------------ the check before a run


def test_train_lists_every_missing_split_before_starting(tmp_path, capsys):
    config = tmp_path / "train.yaml"
    config.write_text(
        "train:\n"
        "  student: {name: unifuse}\n"
        "  labeled: [{dataset: matterport3d, split: train}]\n"
        "  pseudo: [{dataset: spatialaudiogen, split: train}]\n"
        "eval:\n"
        "  dataset: {dataset: stanford2d3d, split: test}\n"
        f"data_root: {tmp_path / 'data'}\n"
        f"output_dir: {tmp_path / 'run'}\n"
    )
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("repro train: error: 3 dataset split(s) this run needs are missing")
    for name in ("matterport3d", "spatialaudiogen", "stanford2d3d"):
        assert SOURCES[name].prepare_command(str(tmp_path / "data")) in err
    assert "needed by training (pseudo labels)" in err and "needed by evaluation" in err
    assert not (tmp_path / "run").exists()
