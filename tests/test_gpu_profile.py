"""`make gpu-profile` in its reduced CPU mode, so the script cannot rot without a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *extra: str) -> list[dict]:
    out = tmp_path / "rows.json"
    cmd = [sys.executable, "benchmarks/gpu_profile.py", "--reduced", "--device", "cpu", "--steps", "1",
           "--runs", str(tmp_path / "runs"), "--json", str(out), *extra]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.slow  # minutes on a shared CPU; CI runs the same check in .ci/gpu-profile-check
def test_reduced_profile_of_table8_online_and_cached(tmp_path):
    rows = _run(tmp_path, "--only", "table8_projection")
    cells = {r["cell"]: r for r in rows}
    assert {"unifuse_m_all", "cube", "cube@cached", "tangent", "tangent@cached"} == set(cells)
    assert all(r["status"] == "ok" and r["step_s"] > 0 for r in rows)
    assert cells["cube"]["teacher_s"] > 0 and cells["cube@cached"]["teacher_s"] is None  # no teacher when cached
    prof = json.loads((tmp_path / "runs" / "table8_projection" / "cube@cached" / "profile.json").read_text())
    assert prof["status"] == "ok" and "vram" in prof


@pytest.mark.slow
def test_reduced_profile_of_every_paper_cell(tmp_path):
    rows = _run(tmp_path)
    assert len(rows) >= 20 and all(r["status"] == "ok" for r in rows)
    # a cell identical to one profiled elsewhere reuses its measurement
    assert (tmp_path / "runs" / "table4_structured3d" / "unifuse_m_all_st" / "profile.json").is_file()
