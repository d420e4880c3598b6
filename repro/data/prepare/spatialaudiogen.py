"""SpatialAudioGen: frames from its 360° videos (PyAV), deduplicated, with a manifest that pins the set.

The paper's unlabeled set is 344 K SpatialAudioGen frames (Table 6). The release is a list of
1,146 YouTube videos totalling 113 hours (YT-All, pedro-morgado/spatialaudiogen and its project
page), so the default rate is 344,000 / (113 × 3600 s) ≈ 0.846 frames per second
(:data:`DEFAULT_FPS`, one frame every 1.18 s). Fewer videos remain online than were listed;
``target_frames`` instead derives the rate from the total duration of the videos you have.

Frame ``k`` of a video is the first decoded frame at or after ``k / fps`` seconds from the
stream's start; it is named by its own timestamp, ``<video id>/<milliseconds>.jpg``. Every frame
must be equirectangular (width = 2 × height); a top-bottom stereo video can be read with
``stereo="top-bottom"`` (its top half), and other projections (YouTube's equi-angular cubemap,
3:2) stop that video with a message saying what to download instead. Near-duplicates are dropped:
a frame whose 32×64 grey thumbnail differs from the last kept frame of the same video by less than
``dedup_threshold`` grey levels on average, or which is nearly uniform (fades, black frames).

Outputs under ``<out>/spatialaudiogen``: the frames, ``frames.jsonl`` (video, timestamp, frame,
sha256 — dropped frames too, with the reason), ``spatialaudiogen_train.txt`` (the list the reader
uses) and ``prepare.json`` (the settings). A video is done once its record file
``.parts/<video>.jsonl`` exists, so a run resumes where it stopped, and decoding, resizing and JPEG
encoding are deterministic, so a second run writes the same frames (the sha256 in the manifest
checks it).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from repro.data.prepare.common import (
    PrepareError,
    PrepareSummary,
    require_dir,
    run_items,
)

NAME = "spatialaudiogen"
PAPER_FRAMES = 344_000  # Depth Anywhere, Table 6
YT_ALL_VIDEOS, YT_ALL_HOURS = 1146, 113  # SpatialAudioGen project page (YT-All)
DEFAULT_FPS = PAPER_FRAMES / (YT_ALL_HOURS * 3600)
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi")
MANIFEST, LIST, SETTINGS, PARTS = "frames.jsonl", f"{NAME}_train.txt", "prepare.json", ".parts"
THUMB = (64, 32)  # (w, h) of the dedup thumbnail
BLANK_STD = 2.0  # grey levels: a thumbnail this flat is a fade or a black frame


@dataclass(frozen=True)
class FrameSettings:
    fps: float = DEFAULT_FPS
    height: int = 512  # output height (width 2×); 0 = the video's own size
    dedup_threshold: float = 2.0  # mean absolute grey difference to the last kept frame (0-255)
    quality: int = 95
    stereo: Literal["mono", "top-bottom"] = "mono"


def video_id(path: Path) -> str:
    """``<id>.mp4`` or spatialaudiogen's ``<id>.video.mp4`` -> ``<id>`` (YouTube ids may start with '-')."""
    return path.name.split(".")[0]


def find_videos(folder: Path) -> list[Path]:
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    ids = [video_id(p) for p in videos]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PrepareError(f"several files for video id(s) {', '.join(dup[:5])} under {folder}; keep one each")
    return videos


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise PrepareError(f"cannot open {path} ({exc})") from None


def duration_s(path: Path) -> float:
    """The video stream's duration in seconds (container duration when the stream has none)."""
    with _open(path) as container:
        if not container.streams.video:
            raise PrepareError(f"{path} has no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / 1_000_000
    raise PrepareError(f"{path}: duration unknown")


def projection_problem(width: int, height: int, stereo: str) -> str | None:
    """None for an equirect frame, else what it looks like and what to do."""
    eff_h = height // 2 if stereo == "top-bottom" else height
    if abs(width - 2 * eff_h) <= 1:
        return None
    ratio = width / height
    if stereo == "mono" and abs(ratio - 1.0) < 0.01:
        hint = "1:1 looks like top-bottom stereo equirect: pass --stereo top-bottom to use its top half"
    elif abs(ratio - 1.5) < 0.01:
        hint = (
            "3:2 looks like YouTube's equi-angular cubemap (EAC), not equirectangular: download the video's "
            "equirectangular format instead (spatialaudiogen's scraping/video_formats.txt marks them ER)"
        )
    else:
        hint = "not equirectangular (width must be 2 x height); only equirectangular 360° video is supported"
    return f"frames are {width}x{height}: {hint}"


def _frames(path: Path, fps: float) -> Iterator[tuple[float, Image.Image]]:
    """(seconds from the stream start, frame) for frame k = first frame at or after k / fps."""
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base or Fraction(1, 1)
        start = stream.start_time or 0
        k = 0
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float((frame.pts - start) * base)
            if t + 1e-6 < k / fps:
                continue
            yield t, frame.to_image()
            k = int(np.floor(t * fps + 1e-6)) + 1  # the next sample time after this frame


def _thumb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L").resize(THUMB, Image.Resampling.BOX), dtype=np.float32)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def extract_video(path: Path, out: Path, settings: FrameSettings) -> list[dict[str, Any]]:
    """Write one video's frames under ``out/<id>/``; return its manifest records (kept and dropped)."""
    from repro.atomic import write_bytes

    vid = video_id(path)
    records: list[dict[str, Any]] = []
    last: np.ndarray | None = None
    checked = False
    for t, image in _frames(path, settings.fps):
        if not checked:
            problem = projection_problem(image.width, image.height, settings.stereo)
            if problem is not None:
                raise PrepareError(problem)
            checked = True
        if settings.stereo == "top-bottom":
            image = image.crop((0, 0, image.width, image.height // 2))
        if settings.height:
            image = image.resize((2 * settings.height, settings.height), Image.Resampling.BICUBIC)
        record: dict[str, Any] = {"video": vid, "t": round(t, 3)}
        thumb = _thumb(image)
        if float(thumb.std()) < BLANK_STD:
            record["dropped"] = "blank"
        elif last is not None and float(np.abs(thumb - last).mean()) < settings.dedup_threshold:
            record["dropped"] = "duplicate"
        else:
            data = _jpeg(image, settings.quality)
            rel = f"{vid}/{round(t * 1000):09d}.jpg"
            write_bytes(out / rel, data, fsync=False)
            record.update(frame=rel, sha256=hashlib.sha256(data).hexdigest())
            last = thumb
        records.append(record)
    if not checked:
        raise PrepareError(f"{path}: no decodable video frames")
    return records


def _check_settings(out: Path, settings: FrameSettings) -> None:
    path = out / SETTINGS
    if not path.is_file():
        return
    before = json.loads(path.read_text()).get("settings", {})
    if before and before != asdict(settings):
        raise PrepareError(
            f"{out} holds frames extracted with other settings ({before}); use another --out or delete it"
        )


def finish(out: Path, settings: FrameSettings, videos: list[str]) -> int:
    """Fold the per-video records into the manifest, the frame list and prepare.json; return frames kept."""
    from repro.atomic import write_json, write_text

    records: list[dict[str, Any]] = []
    for vid in videos:
        part = out / PARTS / f"{vid}.jsonl"
        if part.is_file():
            records += [json.loads(line) for line in part.read_text().splitlines() if line.strip()]
    records.sort(key=lambda r: (r["video"], r["t"]))
    kept = [r["frame"] for r in records if "frame" in r]
    write_text(out / MANIFEST, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    write_text(out / LIST, "".join(f + "\n" for f in kept))
    write_json(
        out / SETTINGS,
        {
            "settings": asdict(settings),
            "videos": len({r["video"] for r in records}),
            "frames": len(kept),
            "dropped": len(records) - len(kept),
            "paper_frames": PAPER_FRAMES,
        },
    )
    return len(kept)


def prepare(
    videos_dir: Path,
    out_root: Path,
    *,
    settings: FrameSettings | None = None,
    target_frames: int | None = None,
    progress: bool = True,
) -> PrepareSummary:
    """Frames of every video under ``videos_dir`` into ``out_root/spatialaudiogen``."""
    from repro.atomic import write_text

    require_dir(videos_dir, "the downloaded SpatialAudioGen videos", "one file per video, named <youtube id>.<ext>")
    videos = find_videos(videos_dir)
    if not videos:
        raise PrepareError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) under {videos_dir}")
    settings = settings or FrameSettings()
    out = out_root / NAME
    summary = PrepareSummary(NAME, out)
    if target_frames is not None:
        total = sum(duration_s(v) for v in videos)
        settings = FrameSettings(**{**asdict(settings), "fps": target_frames / total})
        summary.notes.append(f"{total / 3600:.2f} h of video: {settings.fps:.4f} frames/s for {target_frames} frames")
    if settings.fps <= 0:
        raise PrepareError(f"the frame rate must be positive, got {settings.fps}")
    _check_settings(out, settings)
    if not (out / SETTINGS).is_file():  # pinned before the first frame, so a resumed run cannot mix settings
        write_text(out / SETTINGS, json.dumps({"settings": asdict(settings)}, indent=2) + "\n")

    def convert(path: Path) -> bool:
        part = out / PARTS / f"{video_id(path)}.jsonl"
        if part.is_file():
            return False
        records = extract_video(path, out, settings)
        write_text(part, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
        return True

    run_items(videos, convert, summary, desc="spatialaudiogen", total=len(videos), progress=progress, name=str)
    kept = finish(out, settings, [video_id(v) for v in videos])
    summary.notes.append(
        f"{kept} frames kept at {settings.fps:.4f} frames/s (the paper: {PAPER_FRAMES}); manifest {out / MANIFEST}"
    )
    return summary
