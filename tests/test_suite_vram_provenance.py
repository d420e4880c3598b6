"""VRAM monitor (with TEST-ONLY fake NVML/CUDA objects) and provenance."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from repro.suite import provenance
from repro.suite.vram import GIB, VramMonitor, format_gib


class FakeNvml:
    """TEST-ONLY stand-in for pynvml: scripted device usage and a process list."""

    def __init__(self, device_used: list[int], procs: list[tuple[int, int]]):
        self.device_used, self.procs, self.calls = list(device_used), procs, 0

    def nvmlDeviceGetHandleByIndex(self, i):
        return f"h{i}"

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return "h-uuid"

    def nvmlDeviceGetName(self, h):
        return b"Fake GPU"

    def nvmlDeviceGetMemoryInfo(self, h):
        used = self.device_used[min(self.calls, len(self.device_used) - 1)]
        self.calls += 1
        return SimpleNamespace(total=24 * GIB, used=used)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in self.procs]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        return []


class FakeCuda:
    """TEST-ONLY stand-in for torch.cuda's memory statistics."""

    def __init__(self, allocated: int, reserved: int):
        self.allocated, self.reserved, self.resets = allocated, reserved, 0

    def current_device(self):
        return 0

    def synchronize(self):
        pass

    def reset_peak_memory_stats(self, i):
        self.resets += 1

    def get_device_name(self, i):
        return "Fake GPU"

    def max_memory_allocated(self, i):
        return self.allocated

    def max_memory_reserved(self, i):
        return self.reserved


def test_no_gpu_means_not_measured():
    with VramMonitor("train", nvml=None, cuda=None) as mon:
        pass
    r = mon.reading
    assert (r.torch_peak_allocated, r.nvml_process_peak, r.peak, r.over_budget) == (None, None, None, None)
    assert "not measured" in r.note and format_gib(r.peak) == "n/a"


def test_real_environment_here_reports_nothing_it_cannot_measure():
    import torch

    with VramMonitor("eval") as mon:
        torch.ones(10).sum()
    if not torch.cuda.is_available():
        assert mon.reading.torch_peak_allocated is None and mon.reading.over_budget is None


def test_nvml_sampler_counts_own_process_tree_only():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        nvml = FakeNvml(
            [2 * GIB, 9 * GIB, 5 * GIB], [(os.getpid(), 3 * GIB), (child.pid, 1 * GIB), (999_999_999, 20 * GIB)]
        )
        with VramMonitor("train", nvml=nvml, cuda=None, interval_s=0.01, budget_gib=24) as mon:
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait()
    r = mon.reading
    assert r.nvml_process_peak == 4 * GIB  # ours + our child, not the foreign 20 GiB process
    assert r.nvml_device_peak == 9 * GIB and r.samples >= 3
    assert r.device == "Fake GPU" and r.device_total == 24 * GIB and r.over_budget is False


def test_torch_peaks_and_budget_flag():
    cuda = FakeCuda(allocated=20 * GIB, reserved=26 * GIB)
    with VramMonitor("train", nvml=None, cuda=cuda, budget_gib=24) as mon:
        pass
    r = mon.reading
    assert cuda.resets == 1 and r.torch_peak_allocated == 20 * GIB and r.torch_peak_reserved == 26 * GIB
    assert r.peak == 26 * GIB and r.over_budget is True
    d = r.as_dict()
    assert d["over_budget"] is True and "max_memory_reserved" in d["measures"]["torch_peak_reserved"]
    with VramMonitor("train", nvml=None, cuda=FakeCuda(1, 2), budget_gib=0) as mon:
        pass
    assert mon.reading.over_budget is None  # budget 0 = no check


def test_provenance_has_every_field():
    p = provenance.collect(seeds=[0, 1], config_hash="abc", data_manifest_hash="def", wall_time_s=1.5)
    for key in (
        "git",
        "code_hash",
        "python",
        "packages",
        "torch",
        "gpus",
        "container",
        "seeds",
        "config_hash",
        "data_manifest_hash",
        "wall_time_s",
    ):
        assert key in p
    assert p["packages"]["torch"] and p["torch"]["version"].startswith(p["packages"]["torch"].split("+")[0])
    assert p["seeds"] == [0, 1]
    assert "cuda" in p["torch"] and "cudnn" in p["torch"]


def test_code_hash_ignores_reporting_code(tmp_path, monkeypatch):
    pkg = tmp_path / "repro"
    (pkg / "suite").mkdir(parents=True)
    (pkg / "losses.py").write_text("x = 1\n")
    (pkg / "suite" / "report.py").write_text("y = 1\n")
    monkeypatch.setattr(provenance, "PACKAGE_ROOT", pkg)
    provenance.code_hash.cache_clear()
    try:
        first = provenance.code_hash()
        (pkg / "suite" / "report.py").write_text("y = 2\n")
        provenance.code_hash.cache_clear()
        assert provenance.code_hash() == first
        (pkg / "losses.py").write_text("x = 2\n")
        provenance.code_hash.cache_clear()
        assert provenance.code_hash() != first
    finally:
        provenance.code_hash.cache_clear()


def test_image_digest_comes_from_the_launcher(monkeypatch):
    monkeypatch.setenv("REPRO_IMAGE_DIGEST", "sha256:1234")
    assert provenance.container_info()["image_digest"] == "sha256:1234"
    monkeypatch.delenv("REPRO_IMAGE_DIGEST")
    assert provenance.container_info()["image_digest"] is None


@pytest.mark.parametrize("value", [0, 3 * GIB])
def test_format_gib(value):
    assert format_gib(value) == f"{value / GIB:.2f}"
