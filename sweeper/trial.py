"""A trial is one (configuration, seed): the unit of work sent to an executor.

`TrialTask` and `TrialResult` are plain picklable data; `run_trial` is the function a worker
runs. It never raises for a problem in training: an exception becomes a `failed` result with
its message, a NaN or infinite loss a `diverged` one.

A worker reads the dataset from the driver's data root (`--data-dir`), which suits local
workers and a shared filesystem; a worker whose environment sets `SWEEPER_WORKER_DATA_DIR`
reads it from there instead (a cluster machine with its own copy).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from sweeper.study import Split

WORKER_DATA_ENV = "SWEEPER_WORKER_DATA_DIR"  # a worker's own data root, over the driver's

METRIC_COLUMNS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                  "best_val_acc", "best_epoch", "epochs_run", "iterations"]


@dataclass(frozen=True)
class DataSpec:
    """Everything a worker needs to load a trial's data itself (picklable, hashable)."""

    dataset: str
    root: str
    split: Split
    task: str = "classify"
    standardize: tuple[float, float] | None = None  # (mean, std) of the pixels, or None


@dataclass(frozen=True)
class TrialTask:
    trial: str  # configuration id
    seed: int
    config: dict[str, Any]
    data: DataSpec
    eval_every: str | int = "epoch"
    max_steps: int | None = None  # 1 for a dry run


@dataclass
class TrialResult:
    trial: str
    seed: int
    status: str  # ok, failed or diverged
    metrics: dict[str, float]
    seconds: float
    error: str = ""
    curves: list[tuple[int, int, str, str, float]] = field(default_factory=list)

    def metric(self, name: str) -> float:
        return self.metrics.get(name, math.nan)


# Training seeds torch's global RNG and sets its thread count, both shared by the whole
# process: a worker that runs several tasks in threads (a Dask worker with --nthreads > 1)
# must still train one at a time, or seeds would leak between trials.
_ONE_AT_A_TIME = threading.Lock()


def worker_data(spec: DataSpec) -> DataSpec:
    """The spec this process loads: the driver's, or under this worker's own data root."""
    root = os.environ.get(WORKER_DATA_ENV)
    return dataclasses.replace(spec, root=root) if root else spec


def run_trial(task: TrialTask) -> TrialResult:
    """Load the task's data (cached in this process) and train; one torch thread per worker,
    so that results do not depend on how many trials run side by side."""
    import torch

    from sweeper.train import data as data_mod
    from sweeper.train.loop import train

    with _ONE_AT_A_TIME:
        torch.set_num_threads(1)
        start = time.perf_counter()
        try:
            tensors = data_mod.load(worker_data(task.data))
            out = train(task.config, task.seed, tensors, task.eval_every, task.max_steps)
        except Exception as e:  # a failing trial is a row, never a crash of the sweep
            last = traceback.extract_tb(e.__traceback__)[-1]
            where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})" if last else ""
            return TrialResult(task.trial, task.seed, "failed", {}, time.perf_counter() - start,
                               f"{type(e).__name__}: {e}{where}")
    return TrialResult(task.trial, task.seed, out.status, out.metrics, time.perf_counter() - start,
                       "loss became NaN or infinite" if out.status == "diverged" else "", out.curves)
