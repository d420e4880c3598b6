"""Small real inputs for the adversarial tests: synthetic datasets in their real layouts, a tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SIZE = (32, 64)


def synth(root: Path, dataset: str, count: int = 3) -> Path:
    """Synthetic ``dataset`` under ``root`` (``repro data synth``); returns the dataset folder."""
    from repro.cli import main

    assert main(["data", "synth", "--out", str(root), "--count", str(count), "--height", str(SIZE[0]),
                 "--dataset", dataset]) == 0
    return root / dataset


def checkpoint(path: Path, name: str = "equi") -> Path:
    """A randomly initialised student of ours at :data:`SIZE`, saved as ``repro train`` saves it."""
    from repro.models import build_student
    from repro.models.checkpoints import model_payload, save_state

    torch.manual_seed(0)
    model = build_student(name, height=SIZE[0], width=SIZE[1], pretrained=False)
    meta = {"name": name, "options": {}, "input_size": list(SIZE), "metric": False, "output_kind": "disparity"}
    return save_state(model_payload(model.state_dict(), meta), path)


def zero_depth(root: Path) -> int:
    """Overwrite every depth PNG under ``root`` with zeros (all invalid); returns how many."""
    files = [p for p in root.rglob("*.png") if "depth" in p.relative_to(root).as_posix()]
    for p in files:
        with Image.open(p) as im:
            shape = np.asarray(im).shape
        Image.fromarray(np.zeros(shape, dtype=np.uint16)).save(p)
    return len(files)


def panorama(path: Path, height: int = 32, width: int = 64, fmt: str | None = None) -> Path:
    """A smooth, non-trivial RGB panorama (JPEG or PNG by suffix)."""
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), (xx + yy) % 256], -1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb.astype(np.uint8)).save(path, format=fmt)
    return path


def one_error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    """The single ``repro COMMAND: error:`` line on stderr (progress bars aside); no traceback."""
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.strip() and "%|" not in line]
    assert "Traceback" not in captured.err
    assert len(err) == 1, err
    assert err[0].startswith(f"repro {command}: error: "), err[0]
    return err[0]

