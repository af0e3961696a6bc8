"""A trial is one (configuration, seed): the unit of work sent to an executor.

`TrialTask` and `TrialResult` are plain picklable data; `run_trial` is the function a worker
runs. It hands the task to the study's trainer plug-in and returns one result per seed of
the task (one seed, or with `vectorize` all the seeds of a configuration still to train, or
a stacked group's seeds of several configurations: `groups.py` makes the tasks).
Each result says when its training started (UTC), on which host, device and worker
process: trials.csv's last columns. A task travels as cloudpickle's bytes (`TrialTask.__reduce__`).

It never raises for a problem in training: an exception becomes a `failed` result whose
error names the file and line where it was raised (the user's own, where user code
raised it), a NaN or infinite loss a `diverged` one. With `FitOptions.debug` (`sweep run
--pdb`) the exception propagates instead, so that a debugger stops in the user's code.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.execution import devices
from sweeper.storage import checkpoint
from sweeper.storage.live import Channel
from sweeper.usercode.plugin import CannotStack, Curve, FitOptions, Outcome, Trainer

_PACKAGE = str(Path(__file__).resolve().parent.parent)
# the status of a stacked task's results when its trainer could not stack them (the error says
# why): never stored, the runner trains those rows one at a time instead
UNSTACKED = "unstacked"


@dataclass(frozen=True)
class TrialTask:
    trial: str  # configuration id
    seeds: tuple[int, ...]  # one seed; or, vectorized or stacked, the configuration's seeds still to train
    config: dict[str, Any]
    trainer: Trainer
    options: FitOptions = field(default_factory=FitOptions)
    group: tuple[tuple[str, dict[str, Any]], ...] = ()  # stacked: the other (trial, config) trained with this one
    resume: tuple[tuple[tuple[str, int], bytes], ...] = ()  # ((trial, seed), checkpoint bytes) to resume from
    stack: bool = False  # trained as one stacked group (`Trainer.fit_group`), even of one configuration

    @property
    def members(self) -> list[tuple[str, dict[str, Any]]]:
        """Every (trial, config) the task trains, each with all of `seeds`."""
        return [(self.trial, self.config), *self.group]

    def __reduce__(self) -> tuple[Any, ...]:
        """A task travels as cloudpickle's bytes, whatever the executor pickles with: Dask
        tries plain pickle first, which would send the functions of the user's modules by
        name, not by value (`usercode/shipping.py`), to workers that may not have them."""
        import cloudpickle

        fields = tuple(getattr(self, f.name) for f in dataclasses.fields(self))  # every field, a new one too
        return _task_from, (cloudpickle.dumps(fields),)


def _task_from(blob: bytes) -> TrialTask:
    import cloudpickle

    return TrialTask(*cloudpickle.loads(blob))


@dataclass
class TrialResult:
    trial: str
    seed: int
    status: str  # ok, failed or diverged
    metrics: dict[str, float]
    seconds: float  # of training, not of loading data; seeds trained together share their time equally
    error: str = ""
    curves: list[Curve] = field(default_factory=list)
    weights: dict[str, bytes] = field(default_factory=dict)  # "best", "last": safetensors bytes (storage/checkpoint.py)
    where: dict[str, str] = field(default_factory=dict)  # started, host, device, worker: see `_where`

    def metric(self, name: str) -> float:
        return self.metrics.get(name, math.nan)

    def provenance(self) -> dict[str, str]:
        return {k: self.where.get(k, "") for k in ("started", "host", "device", "worker")}


# Training seeds torch's global RNG and sets its thread count, both shared by the whole
# process: a worker that runs several tasks in threads (a Dask worker with --nthreads > 1)
# must still train one at a time, or seeds would leak between trials.
_ONE_AT_A_TIME = threading.Lock()


def run_trial(task: TrialTask) -> list[TrialResult]:
    """Train the task's seeds with its trainer, one torch thread per worker, so that results
    do not depend on how many trials run side by side."""
    import torch

    with _ONE_AT_A_TIME:
        torch.set_num_threads(1)
        # the task's way to the results folder: running trials' curves, checkpoints, and
        # what an earlier attempt saved to resume from
        channel = Channel(task.options.live, [trial for trial, _ in task.members], task.resume)
        task = dataclasses.replace(task, options=dataclasses.replace(task.options, channel=channel))
        try:
            if task.stack or task.group:
                return _timed_group(task)
            if task.trainer.vectorizes and len(task.seeds) > 1:
                return _timed(task, task.seeds)
            return [result for seed in task.seeds for result in _timed(task, (seed,))]
        finally:
            channel.flush()


def _timed(task: TrialTask, seeds: Sequence[int]) -> list[TrialResult]:
    """Train `seeds` of the task: one result per seed, `failed` ones if training raises."""
    start, where = time.perf_counter(), _where(task.options.device)
    try:
        task.trainer.setup(task.options)
        start = time.perf_counter()  # a worker loads its data once: that is not this trial's time
        outcomes = task.trainer.fit(task.config, seeds, task.options)
        if len(outcomes) != len(seeds):
            raise RuntimeError(f"the trainer returned {len(outcomes)} outcomes for {len(seeds)} seeds")
    except Exception as e:  # a failing trial is a row, never a crash of the sweep
        if task.options.debug:
            raise
        seconds = (time.perf_counter() - start) / len(seeds)
        error = describe_error(e, task.trainer.source_file)
        return [TrialResult(task.trial, seed, "failed", {}, seconds, error, where=where)
                for seed in seeds]
    seconds = (time.perf_counter() - start) / len(seeds)
    return [_result(task.trial, seed, out, seconds, where) for seed, out in zip(seeds, outcomes, strict=True)]


def _timed_group(task: TrialTask) -> list[TrialResult]:
    """Train every configuration of a stacked task with all its seeds: one result per
    (configuration, seed), each charged an equal share of the task's time."""
    members, seeds = task.members, task.seeds
    start, where = time.perf_counter(), _where(task.options.device)
    try:
        task.trainer.setup(task.options)
        start = time.perf_counter()
        outcomes = task.trainer.fit_group([config for _, config in members], seeds, task.options)
        if [len(o) for o in outcomes] != [len(seeds)] * len(members):
            raise RuntimeError(f"the trainer returned {[len(o) for o in outcomes]} outcomes for {len(members)} "
                               f"configurations of {len(seeds)} seeds")
    except CannotStack as e:  # the runner trains them one at a time
        return [TrialResult(trial, seed, UNSTACKED, {}, 0.0, str(e), where=where) for trial, _ in members for seed in seeds]
    except Exception as e:
        if task.options.debug:
            raise
        seconds = (time.perf_counter() - start) / (len(seeds) * len(members))
        error = describe_error(e, task.trainer.source_file)
        return [TrialResult(trial, seed, "failed", {}, seconds, error, where=where)
                for trial, _ in members for seed in seeds]
    seconds = (time.perf_counter() - start) / (len(seeds) * len(members))
    return [_result(trial, seed, out, seconds, where)
            for (trial, _), outs in zip(members, outcomes, strict=True) for seed, out in zip(seeds, outs, strict=True)]


def _result(trial: str, seed: int, out: Outcome, seconds: float, where: dict[str, str]) -> TrialResult:
    error = out.error or ("loss became NaN or infinite" if out.status == "diverged" else "")
    weights = {which: checkpoint.dumps(state) for which, state in out.weights.items() if state}
    return TrialResult(trial, seed, out.status, out.metrics, seconds, error, out.curves, weights, where)


def _where(device: str) -> dict[str, str]:
    """When (UTC, to the second) and where a trial starts training: the host, the device
    ("cpu", or "cuda:0 (NVIDIA H200)"), and the worker (a Dask worker's name, else the process id)."""
    import torch

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    used = "cpu"
    if device != "cpu" and torch.cuda.is_available():
        index = torch.cuda.current_device()  # the worker's own GPU (executors.py pins it)
        physical = devices.physical_names(torch.cuda.device_count(), os.environ.get(devices.VISIBLE_ENV))
        used = devices.row_device(index, physical, torch.cuda.get_device_name(index))
    worker = str(os.getpid())
    if "distributed" in sys.modules:
        try:
            worker = str(sys.modules["distributed"].get_worker().name)
        except ValueError:  # not in a Dask worker
            pass
    return {"started": started, "host": socket.gethostname(), "device": used, "worker": worker}


def describe_error(e: BaseException, source_file: str = "") -> str:
    """'ZeroDivisionError: division by zero (studies/own_loop.py:31)': where the user's code
    raised it, if it did (the deepest frame outside sweeper, torch and the standard library),
    else the deepest frame. Functions that travelled to a worker by value lost their file
    name (cloudpickle writes "<dynamic-code>"): they are the study file's, `source_file`."""
    frames = traceback.extract_tb(e.__traceback__)
    own = [f for f in frames if not f.filename.startswith(_PACKAGE) and "site-packages" not in f.filename
           and "/lib/python" not in f.filename]
    chosen = own or frames
    name = chosen[-1].filename if chosen else ""
    if name == "<dynamic-code>" and source_file:
        name = source_file
    where = f" ({name}:{chosen[-1].lineno})" if chosen else ""
    return f"{type(e).__name__}: {e}{where}"
