"""Where trials run: in this process, in local worker processes, or on a Dask cluster.

An executor does three things: `submit` a task and return a future, yield futures `as
completed`, and `shutdown`. The runner never needs more, so a backend supplies just those.
Backends are looked up by name; the Dask one imports Dask only when asked for.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sweeper.errors import RunError


class Executor(ABC):
    """Runs `fn(task)` somewhere and hands back futures with `.result()`."""

    #: exception types that mean "the worker running this task died", not "the task failed"
    worker_lost: tuple[type[BaseException], ...] = ()

    @abstractmethod
    def submit(self, fn: Callable[[Any], Any], task: Any) -> Any: ...

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        return cf.as_completed(list(futures))

    def shutdown(self, kill: bool = False) -> None:  # noqa: B027 (a no-op by default)
        """Release workers; with kill=True do not wait for running tasks."""

    def restart(self) -> None:  # noqa: B027 (a no-op by default)
        """Start fresh workers after a worker was lost (a broken pool cannot take new work)."""


class SequentialExecutor(Executor):
    """Runs each task in this process at submit time: for debugging with pdb, and for tests."""

    def submit(self, fn: Callable[[Any], Any], task: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(task))
        except Exception as e:
            fut.set_exception(e)
        return fut


class LocalExecutor(Executor):
    """joblib's loky process pool: `jobs` worker processes that stay up between trials, so
    each loads its dataset once."""

    def __init__(self, jobs: int) -> None:
        from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

        self.jobs = jobs
        self.worker_lost = (TerminatedWorkerError, BrokenProcessPool)
        self._pool = self._new_pool()

    def _new_pool(self) -> Any:
        from joblib.externals.loky import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.jobs, initializer=_init_worker)

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Any:
        return self._pool.submit(fn, task)

    def shutdown(self, kill: bool = False) -> None:
        self._pool.shutdown(wait=not kill, kill_workers=kill)

    def restart(self) -> None:
        self._pool.shutdown(wait=False, kill_workers=True)
        self._pool = self._new_pool()


def _init_worker() -> None:
    """One torch thread per worker: the cores are shared out between workers, not within.
    Workers ignore Ctrl-C: the driver alone handles it, saves what finished and stops them,
    so an interrupted trial is never mistaken for a failed one."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


EXECUTORS: dict[str, Callable[..., Executor]] = {
    "sequential": lambda jobs, **_: SequentialExecutor(),
    "local": lambda jobs, **_: LocalExecutor(jobs),
}


def make_executor(name: str, jobs: int, **options: Any) -> Executor:
    if name not in EXECUTORS:
        raise RunError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name](jobs=jobs, **options)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
