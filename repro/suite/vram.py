"""Peak GPU memory of one stage (mask generation, training, evaluation), from two sources.

Each figure is labelled with what it measures, because they answer different questions:

* ``torch_peak_allocated`` — ``torch.cuda.max_memory_allocated``: bytes held by live tensors of
  this process; what the model and batch really need.
* ``torch_peak_reserved`` — ``torch.cuda.max_memory_reserved``: what PyTorch's caching allocator
  took from the driver (≥ allocated; what another process could not use).
* ``nvml_process_peak`` — NVML's used memory of this process and its children (DDP workers),
  sampled by a thread outside the training loop; includes the CUDA context (~0.3–0.5 GiB).
* ``nvml_device_peak`` — NVML's used memory of the whole device, same sampler; includes other
  processes. Closest to "will this fit on my 24 GiB card".

Sampled figures can miss spikes shorter than the interval, so they are lower bounds. Without a
GPU (or without NVML) a figure is ``None`` and reports print "n/a" — never an estimate.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

GIB = 1024**3
DEFAULT_BUDGET_GIB = 24.0  # RTX 4090, the paper's GPU

MEASURES = {
    "torch_peak_allocated": "torch.cuda.max_memory_allocated (tensors, this process)",
    "torch_peak_reserved": "torch.cuda.max_memory_reserved (caching allocator, this process)",
    "nvml_process_peak": "NVML used memory, this process + children, sampled",
    "nvml_device_peak": "NVML used memory, whole device (all processes), sampled",
}


@dataclass
class VramReading:
    stage: str
    torch_peak_allocated: int | None = None
    torch_peak_reserved: int | None = None
    nvml_process_peak: int | None = None
    nvml_device_peak: int | None = None
    device: str | None = None
    device_total: int | None = None
    samples: int = 0
    interval_s: float = 0.0
    budget: int = int(DEFAULT_BUDGET_GIB * GIB)
    note: str = ""

    @property
    def peak(self) -> int | None:
        """The largest figure measured for this process (device-wide excluded: not ours alone)."""
        values = [v for v in (self.torch_peak_reserved, self.nvml_process_peak, self.torch_peak_allocated) if v]
        return max(values) if values else None

    @property
    def over_budget(self) -> bool | None:
        """None when nothing was measured (no GPU): unknown, not 'fits'."""
        if self.budget <= 0:
            return None
        peak = self.peak
        return None if peak is None else peak > self.budget

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["peak"] = self.peak
        out["over_budget"] = self.over_budget
        out["measures"] = MEASURES
        return out


def _load_nvml() -> ModuleType | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver / no GPU: NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return None
    return pynvml


def _descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (Linux /proc; just ``pid`` elsewhere)."""
    out, todo = {pid}, [pid]
    while todo:
        p = todo.pop()
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                kids = {int(k) for k in children.read_text().split()}
            except (OSError, ValueError):
                continue
            todo.extend(kids - out)
            out |= kids
    return out


def _nvml_handle(nvml: ModuleType, torch_index: int | None) -> Any:
    """NVML's handle of the device torch uses (matched by UUID: CUDA_VISIBLE_DEVICES reorders)."""
    if torch_index is not None:
        try:
            import torch

            uuid = str(torch.cuda.get_device_properties(torch_index).uuid)
            return nvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
        except Exception:
            pass
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    index = int(visible) if visible.isdigit() else (torch_index or 0)
    return nvml.nvmlDeviceGetHandleByIndex(index)


class VramMonitor:
    """Context manager measuring one stage: ``with VramMonitor("train") as m: ...; m.reading``.

    ``nvml`` and ``cuda`` can be injected (tests); by default they are ``pynvml`` and
    ``torch.cuda`` when a device is present.
    """

    def __init__(
        self,
        stage: str,
        *,
        budget_gib: float = DEFAULT_BUDGET_GIB,
        interval_s: float = 0.05,
        nvml: ModuleType | None | bool = True,
        cuda: Any = True,
    ) -> None:
        self.reading = VramReading(stage, interval_s=interval_s, budget=int(budget_gib * GIB))
        self._nvml_arg, self._cuda_arg = nvml, cuda
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _resolve_cuda(self) -> Any:
        if self._cuda_arg is not True:
            return self._cuda_arg or None
        try:
            import torch
        except ImportError:
            return None
        return torch.cuda if torch.cuda.is_available() else None

    def __enter__(self) -> VramMonitor:
        self._cuda = self._resolve_cuda()
        self._index = None
        if self._cuda is not None:
            self._index = self._cuda.current_device()
            self._cuda.synchronize()
            self._cuda.reset_peak_memory_stats(self._index)
            self.reading.device = self._cuda.get_device_name(self._index)
        self._nvml = _load_nvml() if self._nvml_arg is True else (self._nvml_arg or None)
        if self._nvml is not None:
            try:
                self._handle = _nvml_handle(self._nvml, self._index)
                info = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
                self.reading.device_total = int(info.total)
                if self.reading.device is None:
                    name = self._nvml.nvmlDeviceGetName(self._handle)
                    self.reading.device = name.decode() if isinstance(name, bytes) else str(name)
                self._sample()
                self._thread = threading.Thread(target=self._run, name=f"vram-{self.reading.stage}", daemon=True)
                self._thread.start()
            except Exception as exc:  # a driver that answers init but not queries
                self.reading.note = f"NVML unavailable: {exc}"
                self._nvml = None
        if self._cuda is None and self._nvml is None:
            self.reading.note = self.reading.note or "no CUDA device: not measured"
        return self

    def _sample(self) -> None:
        nvml = self._nvml
        used_device = int(nvml.nvmlDeviceGetMemoryInfo(self._handle).used)
        ours = _descendants(os.getpid())
        used_process = 0
        for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                procs = getattr(nvml, getter)(self._handle)
            except Exception:
                continue
            used_process += sum(int(p.usedGpuMemory or 0) for p in procs if p.pid in ours)
        with self._lock:
            r = self.reading
            r.samples += 1
            r.nvml_device_peak = max(r.nvml_device_peak or 0, used_device)
            r.nvml_process_peak = max(r.nvml_process_peak or 0, used_process)

    def _run(self) -> None:
        while not self._stop.wait(self.reading.interval_s):
            try:
                self._sample()
            except Exception as exc:
                self.reading.note = f"NVML sampling stopped: {exc}"
                return

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            try:
                self._sample()  # the state at the end of the stage, whatever the interval
            except Exception:
                pass
        if self._cuda is not None:
            self._cuda.synchronize()
            self.reading.torch_peak_allocated = int(self._cuda.max_memory_allocated(self._index))
            self.reading.torch_peak_reserved = int(self._cuda.max_memory_reserved(self._index))
        if self._nvml is not None and self._nvml_arg is True:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass


def measure(stage: str, fn: Any, *, budget_gib: float = DEFAULT_BUDGET_GIB) -> tuple[Any, VramReading, float]:
    """Run ``fn()`` under a monitor: its result, the reading and the wall time in seconds."""
    t0 = time.perf_counter()
    with VramMonitor(stage, budget_gib=budget_gib) as mon:
        out = fn()
    return out, mon.reading, time.perf_counter() - t0


def format_gib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / GIB:.2f}"
