"""How a study is run, as opposed to what it trains: one options object for `sweep run`,
`sweeper.run` and the sweep loop, so each option is parsed in one place and reaches the
runner by one name."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO


def default_data_root() -> str:
    return os.environ.get("SWEEPER_DATA_DIR") or "data"  # builtin.data.DEFAULT_ROOT, created on demand


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class RunOptions:
    results_root: Path = Path("results")  # results/<study>/ goes here
    data_root: str = field(default_factory=default_data_root)  # where named datasets live
    # worker processes (Dask: local workers, or tasks at once); None: one per GPU slot where trials
    # train on GPUs (execution/devices.py), else one per core
    jobs: int | None = None
    gpus_per_trial: float | None = None  # a trial's share of a GPU (None: the study's)
    executor: str = "local"  # a name in executors.EXECUTORS
    scheduler: str | None = None  # the Dask executor's scheduler address (None: a local cluster)
    asynchronous: bool | None = None  # Bayesian search: tell in finishing order (None: the executor's default)
    device: str = "auto"  # cpu, cuda or auto (a GPU where the worker has one)
    seeds: int | list[int] | None = None  # overrides the study's seeds
    timeout: float | None = None  # seconds after which no configuration is proposed (overrides the study's)
    vectorize: bool = False  # train a configuration's seeds together (overrides the study's False)
    stack: bool | None = None  # train configurations as stacked groups, or one at a time (None: as the study says)
    dry_run: bool = False  # one batch per trial, into results/<study>.dry-run/
    retry_failed: bool = False  # run trials recorded as failed again
    restart: bool = False  # move old results aside and start over
    debug: bool = False  # let exceptions in training propagate (`sweep run --pdb`)
    source: str | None = None  # the study file's text, saved beside the results as study.py
    show_progress: bool = True
    stream: TextIO | None = None  # where progress and notes go (None: stderr)

    def __post_init__(self) -> None:
        object.__setattr__(self, "results_root", Path(self.results_root))

    def replace(self, **changes: Any) -> RunOptions:
        return dataclasses.replace(self, **changes)

    def apply(self, study: Any) -> Any:
        """The study as these options run it: seeds, vectorize and stack overridden where given
        (whether a study left to its default is stacked depends on its results folder too:
        `runner.training_mode`)."""
        if self.seeds is not None:
            study = study.with_seeds(self.seeds)
        if self.vectorize:
            study = study.vectorized()
        if self.stack is not None:
            study = study.stacked(self.stack)
        return study
