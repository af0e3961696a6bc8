"""A trial is one (configuration, seed): the unit of work sent to an executor.

`TrialTask` and `TrialResult` are plain picklable data; `run_trial` is the function a worker
runs, and it returns one result per seed of the task (one seed, or with `vectorize` all
the seeds of a configuration still to train). It never raises for a problem in training:
an exception becomes a `failed` result with its message, a NaN or infinite loss a
`diverged` one.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sweeper.engine.study import Split

WORKER_DATA_ENV = "SWEEPER_WORKER_DATA_DIR"  # a worker's own data root, over the driver's
DRY_RUN_IMAGES = 1024  # per split, in a dry run
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
    seeds: tuple[int, ...]  # one seed; or, vectorized, the configuration's seeds still to train
    config: dict[str, Any]
    data: DataSpec
    eval_every: str | int = "epoch"
    max_steps: int | None = None  # 1 for a dry run
    vectorize: bool = False  # train the seeds together (torch.func) instead of one after another
    device: str = "cpu"  # cpu, cuda or auto (the worker's GPU if it has one)


@dataclass
class TrialResult:
    trial: str
    seed: int
    status: str  # ok, failed or diverged
    metrics: dict[str, float]
    seconds: float  # of training, not of loading data; seeds trained together share their time equally
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


def run_trial(task: TrialTask) -> list[TrialResult]:
    """Load the task's data (cached in this process, on the task's device) and train each of
    its seeds; one torch thread per worker, so that results do not depend on how many trials
    run side by side."""
    import torch

    with _ONE_AT_A_TIME:
        torch.set_num_threads(1)
        if task.vectorize:
            return _timed(task, task.seeds, _train_together)
        return [result for seed in task.seeds for result in _timed(task, (seed,), _train_one)]


def _train_together(task: TrialTask, seeds: tuple[int, ...], data: Any) -> list[Any]:
    from sweeper.builtin.vectorized import train_seeds

    return train_seeds(task.config, list(seeds), data, task.eval_every, task.max_steps)


def _train_one(task: TrialTask, seeds: tuple[int, ...], data: Any) -> list[Any]:
    from sweeper.builtin.loop import train

    return [train(task.config, seed, data, task.eval_every, task.max_steps) for seed in seeds]


def _timed(task: TrialTask, seeds: tuple[int, ...], fit: Callable[[TrialTask, tuple[int, ...], Any], list[Any]],
           ) -> list[TrialResult]:
    """Train `seeds` of the task with `fit`: one result per seed, `failed` ones if it raises."""
    from sweeper.builtin import data as data_mod

    start = time.perf_counter()
    try:
        data = data_mod.load(worker_data(task.data), data_mod.resolve_device(task.device))
        if task.max_steps:  # a dry run: evaluate on a few images, but enough for one batch
            data = data.head(max(DRY_RUN_IMAGES, int(task.config["batch_size"])))
        start = time.perf_counter()  # a worker loads its data once: that is not this trial's time
        outcomes = fit(task, seeds, data)
    except Exception as e:  # a failing trial is a row, never a crash of the sweep
        last = traceback.extract_tb(e.__traceback__)[-1]
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})" if last else ""
        seconds = (time.perf_counter() - start) / len(seeds)
        return [TrialResult(task.trial, seed, "failed", {}, seconds, f"{type(e).__name__}: {e}{where}")
                for seed in seeds]
    seconds = (time.perf_counter() - start) / len(seeds)
    return [TrialResult(task.trial, seed, out.status, out.metrics, seconds,
                        "loss became NaN or infinite" if out.status == "diverged" else "", out.curves)
            for seed, out in zip(seeds, outcomes, strict=True)]
