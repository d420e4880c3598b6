"""What every reader shares: strict file reading, resizing, split lists, masks and augmentation.

A layout module only says where its files are (:meth:`PanoramaDataset.list_entries`) and how its
depth is encoded (``depth_scale`` raw units per metre, ``depth_invalid`` raw value). Every problem
(missing or unreadable file, wrong depth dtype, empty split, a list line pointing outside the root)
raises :class:`DataError` naming the file and the split line it came from — never a zero sample.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from repro.data.mask_manifest import mask_relpath, read_manifest
from repro.data.transforms import (
    AugmentConfig,
    AugmentParams,
    apply_color,
    apply_geometric,
    sample_generator,
    sample_params,
)

DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16-bit PNGs (Pillow may open them as 32-bit "I")
_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)


class DataError(ValueError):
    """A dataset file or list is missing or malformed; the message names the file (and line)."""


@dataclass(frozen=True)
class Entry:
    """One panorama: paths relative to the dataset root; ``origin`` says where it was listed."""

    rgb: str
    depth: str | None
    origin: str


def _where(origin: str) -> str:
    return f" (listed at {origin})" if origin else ""


def inside_root(root: Path, rel: str, origin: str) -> Path:
    """``root / rel``, refusing absolute paths and ``..`` escapes (a list must stay in its root).

    Lexical, without touching the file system, so checking a 10k-line list costs nothing.
    """
    norm = posixpath.normpath(rel.replace("\\", "/"))
    if rel.startswith(("/", "\\")) or Path(rel).is_absolute() or norm == ".." or norm.startswith("../"):
        raise DataError(f"{origin}: path '{rel}' points outside the dataset root {root}")
    return root / norm


def read_split_file(path: Path, root: Path, fields: Sequence[int] = (2,)) -> list[Entry]:
    """A split list (``rgb depth`` per line, or ``rgb`` alone when 1 is allowed in ``fields``)."""
    if not path.is_file():
        raise DataError(f"split file {path} does not exist")
    entries = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            origin = f"{path}:{lineno}"
            if len(parts) not in fields:
                want = " or ".join(str(n) for n in fields)
                raise DataError(f"{origin}: expected {want} paths per line, got {len(parts)}: {line.strip()!r}")
            for rel in parts:
                inside_root(root, rel, origin)
            entries.append(Entry(parts[0], parts[1] if len(parts) > 1 else None, origin))
    if not entries:
        raise DataError(f"split file {path} lists no images")
    return entries


def _check_jpeg(data: bytes, im: Image.Image) -> None:
    """Refuse a JPEG whose entropy-coded data are corrupt.

    Pillow ignores libjpeg's "Corrupt JPEG data" warnings and returns a garbled image (a block of
    zeros or random bytes in the middle of the file decodes "fine"); libjpeg-turbo in strict mode
    raises on them. The check decodes at 1/8 scale, which still parses every Huffman code.
    """
    if im.format != "JPEG":
        return
    import simplejpeg

    simplejpeg.decode_jpeg(data, strict=True, min_height=1, min_width=1)


def _open(path: Path, origin: str, what: str) -> Image.Image:
    if not path.is_file():
        raise DataError(f"missing {what} file {path}{_where(origin)}")
    try:
        data = path.read_bytes()  # read once: Pillow and the strict JPEG check share the bytes
        im = Image.open(io.BytesIO(data))
        im.load()  # decode now: a truncated file fails here, not as a half-black image
        _check_jpeg(data, im)
        return im
    except _READ_ERRORS as exc:
        raise DataError(f"unreadable {what} file {path}{_where(origin)}: {exc}") from exc


def read_rgb(path: Path, origin: str = "") -> torch.Tensor:
    """(3, H, W) float32 in [0, 1]."""
    with _open(path, origin, "image") as im:
        arr = np.asarray(im.convert("RGB"))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def read_depth(path: Path, scale: float, invalid: int | None = None, origin: str = "") -> torch.Tensor:
    """A 16-bit depth PNG -> (1, H, W) float32 metres (raw / ``scale``); ``invalid`` raw -> 0."""
    with _open(path, origin, "depth") as im:
        if im.mode not in DEPTH_MODES:
            raise DataError(
                f"depth file {path}{_where(origin)} has pixel mode {im.mode!r}; expected a 16-bit "
                f"single-channel PNG (uint16 raw depth)"
            )
        raw = np.asarray(im).astype(np.int64)
    if raw.min(initial=0) < 0 or raw.max(initial=0) > 65535:
        raise DataError(f"depth file {path}{_where(origin)} has values outside uint16")
    depth = raw.astype(np.float32) / scale
    if invalid is not None:
        depth[raw == invalid] = 0.0
    return torch.from_numpy(depth)[None]


def read_mask(path: Path, origin: str = "") -> torch.Tensor:
    """A mask PNG -> (1, H, W) bool, True = valid (255)."""
    with _open(path, origin, "mask") as im:
        return torch.from_numpy(np.asarray(im.convert("L")) >= 128)[None]


def resize_rgb(rgb: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic without antialiasing, as the reference loaders' ``cv2.INTER_CUBIC``."""
    if tuple(rgb.shape[-2:]) == tuple(size):
        return rgb
    return F.interpolate(rgb[None], size=size, mode="bicubic", align_corners=False)[0].clamp_(0.0, 1.0)


def resize_nearest(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest for depth and masks (an invalid 0 never blends into its neighbours)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x[None].float(), size=size, mode="nearest")[0].to(x.dtype)


class PanoramaDataset(torch.utils.data.Dataset):
    """Equirect RGB (+ depth) samples: the sample dict contract of ``repro.data``.

    ``mask_root`` switches to the unlabeled role (pseudo labels): ``valid`` is the sky/watermark
    mask (all True where an image has none), images the manifest marks ``dropped`` are skipped, and
    ``depth`` is still returned when the layout has it (the oracle teacher reads it).
    """

    name: ClassVar[str] = ""
    labeled: ClassVar[bool] = True
    depth_scale: ClassVar[float] = 1000.0
    depth_invalid: ClassVar[int | None] = None
    splits: ClassVar[tuple[str, ...]] = ("train", "val", "test", "all")
    sources: list[Path]  # the split lists read (empty when the layout was scanned)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        size: tuple[int, int] = (512, 1024),
        augment: bool | AugmentConfig = False,
        *,
        mask_root: str | Path | None = None,
        split_file: str | Path | None = None,
        max_depth: float = 10.0,
        seed: int = 0,
        min_valid_fraction: float | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.name} root {self.root} does not exist or is not a folder")
        if split not in self.splits:
            raise DataError(f"{self.name}: unknown split '{split}' (choose from {', '.join(self.splits)})")
        self.split = split
        self.size = (int(size[0]), int(size[1]))
        self.augment = AugmentConfig() if augment is True else (augment or None)
        self.max_depth = float(max_depth)
        self.seed = int(seed)
        self.epoch = 0
        self.mask_root = Path(mask_root) if mask_root is not None else None
        self.sources = []
        if self.mask_root is not None and not self.mask_root.is_dir():
            raise DataError(f"{self.name}: mask folder {self.mask_root} does not exist (run the mask stage first)")
        entries = self.list_entries(split, Path(split_file) if split_file is not None else None)
        if self.mask_root is not None:
            manifest = read_manifest(self.mask_root)
            # None: the manifest's own ``dropped``; a number re-applies the threshold (0: keep all)
            def dropped(rec: Any) -> bool:
                return rec.dropped if min_valid_fraction is None else rec.valid_fraction < min_valid_fraction

            entries = [e for e in entries if not (e.rgb in manifest and dropped(manifest[e.rgb]))]
        if not entries:
            raise DataError(f"{self.name} split '{split}' under {self.root} has no usable images")
        if self.mask_root is not None and not any((self.mask_root / mask_relpath(e.rgb)).is_file() for e in entries):
            # An empty (or wrong) mask folder would silently mean "no sky, no watermark anywhere".
            raise DataError(
                f"{self.name}: mask folder {self.mask_root} holds no mask for any of the {len(entries)} images of "
                f"split '{split}' (expected e.g. {self.mask_root / mask_relpath(entries[0].rgb)}; run "
                "`repro masks generate`, or set masks.backend: none to train without masks)"
            )
        self.entries: list[Entry] = entries

    # -- layout hooks -------------------------------------------------------------------------
    def list_entries(self, split: str, split_file: Path | None) -> list[Entry]:
        raise NotImplementedError

    def depth_path(self, entry: Entry) -> Path | None:
        return inside_root(self.root, entry.depth, entry.origin) if entry.depth else None

    # -- sampling -----------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Augmentations are drawn from (seed, epoch, index): call once per epoch for fresh draws."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int) -> dict[str, Any]:
        """The sample at native resolution, before resizing and augmentation."""
        entry = self.entries[index]
        rgb = read_rgb(inside_root(self.root, entry.rgb, entry.origin), entry.origin)
        depth_file = self.depth_path(entry)
        if depth_file is not None:
            depth = read_depth(depth_file, self.depth_scale, self.depth_invalid, entry.origin)
            if depth.shape[-1] * rgb.shape[-2] != depth.shape[-2] * rgb.shape[-1]:
                raise DataError(
                    f"depth {depth_file} is {tuple(depth.shape[-2:])} but its image is "
                    f"{tuple(rgb.shape[-2:])} (another aspect ratio){_where(entry.origin)}"
                )
        else:
            depth = None
        mask = None
        if self.mask_root is not None:
            mask_file = self.mask_root / mask_relpath(entry.rgb)
            if mask_file.is_file():
                mask = read_mask(mask_file, entry.origin)
        return {"rgb": rgb, "depth": depth, "mask": mask, "path": str(self.root / entry.rgb)}

    def __getitem__(self, index: int) -> dict[str, Any]:
        raw = self.load(index)
        h, w = self.size
        rgb = resize_rgb(raw["rgb"], self.size)
        depth = resize_nearest(raw["depth"], self.size) if raw["depth"] is not None else torch.zeros(1, h, w)
        if self.mask_root is not None or not self.labeled:
            valid = (
                resize_nearest(raw["mask"], self.size)
                if raw["mask"] is not None
                else torch.ones(1, h, w, dtype=torch.bool)
            )
        else:
            valid = (depth > 0) & (depth <= self.max_depth) & torch.isfinite(depth)
        rgb_aug = rgb
        params = AugmentParams()
        if self.augment is not None:
            params = sample_params(self.augment, w, sample_generator(self.seed, self.epoch, index))
            rgb, depth, valid = (apply_geometric(x, params) for x in (rgb, depth, valid))
            rgb_aug = apply_color(rgb, params)
        return {
            "rgb": rgb_aug.contiguous(),
            "rgb_noaug": rgb.contiguous(),
            "depth": depth.contiguous(),
            "valid": valid.contiguous(),
            "has_mask": torch.tensor(raw["mask"] is not None),  # the released loader's `'val_mask' in unlabel`
            # the geometric augmentation drawn, so a cached pseudo label can be met in the panorama's own frame
            "aug_roll": torch.tensor(params.roll),
            "aug_flip": torch.tensor(params.flip),
            "path": raw["path"],
        }


SPLITS_DIR = Path(__file__).resolve().parent / "splits"


class ListedDataset(PanoramaDataset):
    """Layouts whose splits are list files (UniFuse's ``rgb depth`` lines).

    The list is ``split_file`` if given, else ``<root>/<name>_<split>.txt`` if the root has one
    (a user's own split, or the synthetic world's), else the official list shipped in
    ``repro/data/splits``. ``all`` is the union of train, val and test.
    """

    list_fields: ClassVar[tuple[int, ...]] = (2,)

    def split_list(self, split: str) -> Path:
        own = self.root / f"{self.name}_{split}.txt"
        return own if own.is_file() else SPLITS_DIR / f"{self.name}_{split}.txt"

    def list_entries(self, split: str, split_file: Path | None) -> list[Entry]:
        if split_file is not None:
            lists = [split_file]
        else:
            lists = [self.split_list(s) for s in (("train", "val", "test") if split == "all" else (split,))]
        self.sources = lists
        out: dict[str, Entry] = {}
        for path in lists:
            for entry in read_split_file(path, self.root, self.list_fields):
                out.setdefault(entry.rgb, entry)
        return list(out.values())
