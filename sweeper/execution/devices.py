"""Where trials train: the CPU, or the CUDA GPUs torch sees, shared out between workers.

`plan_devices` is the whole rule, a pure function: with GPUs and no `--jobs`, one local
worker per GPU slot (a GPU holds 1 / gpus_per_trial workers), each pinned to its own GPU;
without a GPU, one worker per core. GPUs are named as torch numbers them (`cuda:0` is the
first of `CUDA_VISIBLE_DEVICES`), with the physical GPU beside it where the two differ.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sweeper.errors import RunError

DEVICES = ("auto", "cpu", "cuda")
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
# files whose absence on Linux means no GPU torch.cuda could use (NVIDIA, WSL2, ROCm): the driver
# then plans without importing torch, so its start-up still overlaps the workers' (executors.py)
_GPU_FILES = ("/proc/driver/nvidia/gpus", "/dev/dxg", "/dev/kfd")


def resolve_device(name: str) -> str:
    """`auto` is the GPU where torch sees one, else the CPU; `cuda` without a GPU is an error."""
    if name not in DEVICES:
        raise RunError(f"device {name!r} is not known; choose one of {', '.join(DEVICES)}")
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("device cuda was asked for, but torch sees no CUDA GPU here; use --device cpu or auto")
    return name


def check_share(share: object, where: str = "--gpus-per-trial") -> float:
    """A trial's share of one GPU: more than 0, at most 1 (a trial trains on one GPU)."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise RunError(f"{where} {share} is not allowed; it must be more than 0 and at most 1 "
                       "(0.5: two trials share a GPU; a trial trains on one GPU)")
    return float(share)


def per_gpu(share: float) -> int:
    """Workers one GPU holds at `share` of a GPU each: 1 / share, rounded down."""
    return max(1, math.floor(1 / share + 1e-9))


@dataclass(frozen=True)
class DevicePlan:
    """Which worker trains on which device: `devices[i]` is worker i's ("cpu" or "cuda:k")."""

    devices: tuple[str, ...]
    physical: tuple[str, ...] = ()  # the GPU each torch index is (CUDA_VISIBLE_DEVICES' entries)
    share: float = 1.0  # of a GPU per trial
    pinned: bool = True  # each worker is held to its device (local workers); else the worker's own

    @property
    def workers(self) -> int:
        return len(self.devices)

    @property
    def gpus(self) -> int:
        return len(self.physical)

    def label(self, device: str) -> str:
        """'cuda:0 (GPU 2)' where torch's index is not the physical one, else the device."""
        return gpu_label(device, self.physical)

    def lines(self) -> list[str]:
        """The plan, a line a worker, as `sweep run --plan` prints it."""
        if not self.pinned:
            share = f"; tasks ask for GPU={self.share:g} where workers declare it" if self.gpus else ""
            return [f"{self.workers} tasks at once, each on its worker's own device{share}"]
        if not self.gpus:
            return [f"{self.workers} worker{'s' if self.workers != 1 else ''} on the CPU"]
        head = (f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}, {per_gpu(self.share)} worker"
                f"{'s' if per_gpu(self.share) != 1 else ''} a GPU (--gpus-per-trial {self.share:g}): "
                f"{self.workers} worker{'s' if self.workers != 1 else ''}")
        return [head] + [f"worker {i}: {self.label(d)}" for i, d in enumerate(self.devices)]


def gpu_label(device: str, physical: Sequence[str]) -> str:
    """'cuda:0 (GPU 2)' for torch's cuda:0 when CUDA_VISIBLE_DEVICES=2,3; 'cuda:1' when they agree."""
    if not device.startswith("cuda:"):
        return device
    index = int(device.split(":")[1])
    name = physical[index] if index < len(physical) else str(index)
    return device if name == str(index) else f"{device} (GPU {name})"


def row_device(index: int, physical: Sequence[str], name: str) -> str:
    """A row's `device`: 'cuda:1 (NVIDIA H100)', or 'cuda:0 (GPU 2, NVIDIA H100)' where torch's
    index is not the physical GPU's (CUDA_VISIBLE_DEVICES=2,3)."""
    label = gpu_label(f"cuda:{index}", physical)
    return f"{label[:-1]}, {name})" if label.endswith(")") else f"{label} ({name})"


def plan_devices(visible: Sequence[str] | int, jobs: int | None, gpus_per_trial: float = 1.0,
                 cores: int | None = None) -> DevicePlan:
    """Which worker gets which device. `visible`: the GPUs torch sees, as CUDA_VISIBLE_DEVICES
    names them (or their count); `jobs`: workers asked for (None: one per GPU slot, or per core
    without a GPU). Workers go round the GPUs, so fewer workers than slots still spread out.
    More workers than the GPUs hold is refused: oversubscribe knowingly with a smaller share."""
    physical = tuple(str(i) for i in range(visible)) if isinstance(visible, int) else tuple(visible)
    if not physical:
        return DevicePlan(("cpu",) * (jobs or cores or 1))
    share = check_share(gpus_per_trial)
    capacity = len(physical) * per_gpu(share)
    if jobs is not None and jobs > capacity:
        smaller = 1 / math.ceil(jobs / len(physical))
        raise RunError(f"--jobs {jobs} asks for more workers than {len(physical)} GPU{'s' if len(physical) != 1 else ''} "
                       f"hold at --gpus-per-trial {share:g} ({capacity}); pass --jobs {capacity} or less, or "
                       f"--gpus-per-trial {smaller:.3g} to share each GPU between more workers")
    workers = capacity if jobs is None else jobs
    return DevicePlan(tuple(f"cuda:{i % len(physical)}" for i in range(workers)), physical, share)


def visible_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs torch sees here, named as CUDA_VISIBLE_DEVICES names them ("2", "3"), or by
    torch's index where it is not set. On Linux without a GPU driver's files, [] without
    importing torch."""
    environ = os.environ if environ is None else environ
    if sys.platform.startswith("linux") and not any(os.path.exists(f) for f in _GPU_FILES):
        return []
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return physical_names(count, environ.get(VISIBLE_ENV))


def physical_names(count: int, visible: str | None) -> list[str]:
    """The physical name of each of torch's `count` GPUs, from CUDA_VISIBLE_DEVICES' value."""
    names = [n.strip() for n in (visible or "").split(",") if n.strip()]
    return names[:count] if visible is not None and len(names) >= count else [str(i) for i in range(count)]


def plan_for(device: str, jobs: int | None, gpus_per_trial: float, pinned: bool, cores: int) -> DevicePlan:
    """The plan of a run on this machine: GPUs only where `device` may use them; `pinned`
    (local workers) or each task on the device of the worker it lands on (Dask, in-process)."""
    check_share(gpus_per_trial)
    gpus = visible_gpus() if device != "cpu" else []
    if not pinned:
        return DevicePlan(("cpu" if not gpus else "cuda",) * (jobs or cores), tuple(gpus), gpus_per_trial, pinned=False)
    return plan_devices(gpus, jobs, gpus_per_trial, cores)
