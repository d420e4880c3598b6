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


def test_the_cost_model_reads_a_cells_gpu_profile_and_its_cached_twin(tmp_path, monkeypatch):
    """What `make gpu-profile` leaves under --runs replaces the extrapolated figures, cached columns too."""
    import argparse

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_cost_model as b

    from repro.suite.runner import run_name
    from repro.suite.schema import load_suite

    suite = load_suite(ROOT / "suites" / "table8_projection.yaml")
    cell = suite.cells["cube"]
    monkeypatch.setattr(b, "student_step_bytes", lambda *a: {"bytes": 1, "resident": 1, "step": 1, "grads": 1})
    monkeypatch.setattr(b, "teacher_bytes", lambda *a, **k: {"bytes": 1, "weights": 1, "per_face": 1})
    args = argparse.Namespace(mfu=0.4, quick=True, memory_heights=(64, 128), runs=tmp_path)
    before = b.cell_row(suite, cell, args)
    assert before["source"].startswith("extrapolated")
    for name, step, peak in (("cube", 0.5, 9 * 2**30), ("cube@cached", 0.125, 3 * 2**30)):
        folder = tmp_path / run_name(suite) / name
        folder.mkdir(parents=True)
        (folder / "profile.json").write_text(json.dumps({
            "status": "ok", "step_time_s": step, "vram": {"device": "NVIDIA Test GPU", "torch_peak_allocated": peak}}))
    row = b.cell_row(suite, cell, args)
    hours = before["steps/seed"] * before["seeds"] / 3600
    assert row["GPU-h"] == pytest.approx(hours * 0.5) and row["GPU-h cached"] == pytest.approx(hours * 0.125)
    assert (row["peak bf16 GiB"], row["peak bf16 GiB cached"]) == (9, 3)
    assert "MEASURED on NVIDIA Test GPU" in row["source"] and "cached step MEASURED" in row["source"]
    assert row["_step_s"] == 0.5
