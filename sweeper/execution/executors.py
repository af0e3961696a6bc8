"""Where trials run: in this process, in local worker processes, or on a Dask cluster.

An executor does three things: `submit` a task and return a future, yield futures `as
completed`, and `shutdown`. The runner never needs more, so a backend supplies just those,
and declares what the sweep loop needs to know of it (`workers`, `asynchronous`,
`takes_scheduler`) rather than being tested by name. Backends are looked up by name in
`EXECUTORS`; the Dask one imports Dask only when asked for. tests/test_executors.py runs
one contract test class against every backend.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import queue
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sweeper.errors import RunError
from sweeper.execution.signals import die_with_driver, workers_ignore_ctrl_c


class Executor(ABC):
    """Runs `fn(task)` somewhere and hands back futures with `.result()`.

    The runner calls `submit` for every trial to run, iterates `as_completed` over the
    futures in flight (and may stop iterating early to submit more), calls `restart` once
    no future is left in flight if some raised one of `worker_lost`, and `shutdown` at the end.
    """

    #: exception types that mean "the worker running this task died", not "the task failed"
    worker_lost: tuple[type[BaseException], ...] = ()
    #: tasks that run at once: what stacked configurations are spread over
    workers = 1
    #: whether a learning sampler is told results in the order they finish by default (no
    #: worker waits for a batch's slowest trial), rather than in batches whose proposals do
    #: not depend on timing
    asynchronous = False
    #: whether it runs tasks on a cluster whose scheduler address may be given
    takes_scheduler = False
    #: what `sweep run --help` says of it
    summary = ""
    #: the modules every task imports, set by the runner before `start`: a backend that can
    #: import them once for all its workers does
    preload: tuple[str, ...] = ()
    #: each worker's device, set by the runner before `start` (execution/devices.py's plan): a
    #: backend that starts its own workers pins worker i to devices[i]; () leaves them be
    devices: tuple[str, ...] = ()
    #: a trial's share of a GPU (--gpus-per-trial), for a backend whose workers declare GPUs;
    #: None: trials train on the CPU and ask for no GPU
    gpu_share: float | None = None

    def __init__(self, jobs: int, scheduler: str | None = None) -> None:  # noqa: B027 (a no-op by default)
        """Every backend is made from the run's options: worker count and scheduler address."""

    @abstractmethod
    def describe(self) -> str:
        """Where the tasks run, for the closing line: "2 local workers"."""

    def live_sink(self, folder: Path, done: Callable[[str, int], bool]) -> Any:
        """Where a running trial's curve rows go (storage/live.py): straight into `folder`'s
        live files, which this machine's workers can write. `done(trial, seed)`: its row is stored."""
        from sweeper.storage.live import FileSink

        return FileSink(folder)

    @abstractmethod
    def submit(self, fn: Callable[[Any], Any], task: Any) -> Any: ...

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        return cf.as_completed(list(futures))

    def batches(self, futures: Iterable[Any]) -> Iterator[list[Any]]:
        """The futures as they complete, in lists of those found complete together (the
        runner stores their rows in one write); by default one at a time, as `as_completed`."""
        for fut in self.as_completed(futures):
            yield [fut]

    def shutdown(self, kill: bool = False) -> None:  # noqa: B027 (a no-op by default)
        """Release workers; with kill=True do not wait for running tasks."""

    def restart(self) -> None:  # noqa: B027 (a no-op by default)
        """Make the executor usable again after a worker was lost (a broken pool cannot take new work)."""

    def start(self) -> None:  # noqa: B027 (a no-op by default)
        """Start the workers ahead of the first task, so that their start-up (seconds of
        importing torch) overlaps the driver's own checks instead of following them."""


class SequentialExecutor(Executor):
    """Runs each task in this process at submit time: for debugging with pdb, and for tests."""

    summary = "in this process, for debugging"

    def describe(self) -> str:
        return "in this process"

    def submit(self, fn: Callable[[Any], Any], task: Any) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(task))
        except Exception as e:
            fut.set_exception(e)
        return fut


class LocalExecutor(Executor):
    """joblib's loky process pool: `jobs` worker processes that stay up between trials, so
    each loads its dataset once. They are forked from a forkserver (multiprocessing's) that
    has imported torch and the training code once: two workers are ready in the time of one
    import, where each would import torch itself side by side with the driver. Workers and
    the forkserver end with the driver, even when it is killed
    (`sweeper.execution.signals.die_with_driver`, `forkserver_guard.py`)."""

    summary = "joblib worker processes (default)"

    def __init__(self, jobs: int, scheduler: str | None = None) -> None:
        from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

        self.workers = jobs
        self.worker_lost = (TerminatedWorkerError, BrokenProcessPool)
        self._pool: Any = None
        self._context: Any = None  # the forkserver's, once started
        self._slots: str | None = None  # a folder of lock files, one per device slot: see `_claim_device`

    def _new_pool(self) -> Any:
        from joblib.externals.loky import ProcessPoolExecutor

        if self.devices and self._slots is None:
            import tempfile

            self._slots = tempfile.mkdtemp(prefix="sweeper-devices-")
        with workers_ignore_ctrl_c():  # its queues start loky's resource tracker
            return ProcessPoolExecutor(max_workers=self.workers, context=self._context, initializer=_init_worker,
                                       initargs=(os.getpid(), self.devices, self._slots))

    def describe(self) -> str:
        return f"{self.workers} local worker{'s' if self.workers != 1 else ''}"

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Any:
        if self._pool is None:
            self.start()
        with workers_ignore_ctrl_c():  # loky starts workers in the thread that submits
            return self._pool.submit(fn, task)

    def batches(self, futures: Iterable[Any]) -> Iterator[list[Any]]:
        """Every future that has completed since the last batch, in the order they completed:
        two workers of instant trials finish hundreds a second, each row its own fsync otherwise."""
        done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        futures = list(futures)
        for fut in futures:
            fut.add_done_callback(done.put)
        left = len(futures)
        while left:
            batch = [done.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < left:
                    batch.append(done.get_nowait())
            left -= len(batch)
            yield batch

    def start(self) -> None:
        """Start the forkserver, which imports torch while the driver goes on; the workers are
        forked at the first task. (Forking them now would wait for that import: on 2 cores the
        driver's own checks, and its own import of torch, would follow it instead of running
        beside it.) Without a forkserver, start the workers themselves."""
        self._context = _forkserver((*WORKER_MODULES, *self.preload))
        self._pool = self._new_pool()
        if self._context is None:
            self.submit(int, 0)  # loky starts all `jobs` workers on the first submission

    def shutdown(self, kill: bool = False) -> None:
        if self._pool is not None:
            if kill:
                _silence_killed_pool_manager()
            self._pool.shutdown(wait=not kill, kill_workers=kill)
        _stop_forkserver()
        if self._slots is not None:
            import shutil

            shutil.rmtree(self._slots, ignore_errors=True)

    def restart(self) -> None:
        self._pool.shutdown(wait=False, kill_workers=True)
        self._pool = self._new_pool()  # forked from the same forkserver: no import again


# What every task of a local worker imports, besides the trainer's own modules: a forkserver imports
# them once, before it forks the workers (`forkserver_guard` first: it ends with the driver).
WORKER_MODULES = ("sweeper.execution.forkserver_guard", "torch", "cloudpickle", "sweeper.execution.trial",
                  "joblib.externals.loky.process_executor")


def _forkserver(preload: Sequence[str]) -> Any:
    """multiprocessing's forkserver context, its server started (it imports `preload`, then
    forks workers when asked); None (loky's own start method: a fresh interpreter per worker)
    where there is none (Windows)."""
    import multiprocessing
    from multiprocessing import forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    from sweeper.execution.forkserver_guard import DRIVER_ENV

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    os.environ[DRIVER_ENV] = str(os.getpid())  # the forkserver started here dies with this process
    try:
        with workers_ignore_ctrl_c():  # and, like the workers it forks, ignores the terminal's signals
            forkserver.ensure_running()
    finally:
        os.environ.pop(DRIVER_ENV, None)  # no other child process should read it
    return context


def _stop_forkserver() -> None:
    """End the forkserver with its sweep (a notebook's process goes on after it). Killed: it
    holds nothing to save, and its own exit, unloading torch, kept the sweep's end waiting
    0.7 s. (Its exit with the driver needs no call: `forkserver_guard`.)"""
    import signal
    from multiprocessing import forkserver

    server = forkserver._forkserver
    pid, stop = getattr(server, "_forkserver_pid", None), getattr(server, "_stop", None)  # multiprocessing's own
    with contextlib.suppress(OSError, ChildProcessError):
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        if stop is not None:
            stop()


def _silence_killed_pool_manager() -> None:
    """Killing loky's workers mid-sweep (Ctrl-C) can make its manager thread trip over work
    it has just dropped (a KeyError in add_call_item_to_queue) and print a traceback from
    that thread after the sweep has already stopped cleanly. Exceptions of that thread are
    dropped from then on; every other thread's still reach the previous hook."""
    import threading

    from joblib.externals.loky.process_executor import _ExecutorManagerThread

    previous = threading.excepthook
    if getattr(previous, "sweeper_quiet", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if not isinstance(args.thread, _ExecutorManagerThread):
            previous(args)

    hook.sweeper_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _init_worker(driver: int, devices: Sequence[str] = (), slots: str | None = None) -> None:
    """One torch thread per worker: the cores are shared out between workers, not within.
    Workers ignore Ctrl-C: the driver alone handles it, saves what finished and stops them,
    so an interrupted trial is never mistaken for a failed one. They die with the driver.
    With a device plan, the worker takes a free slot of it and trains on that slot's GPU."""
    import signal

    die_with_driver(driver)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    global worker_device
    device = worker_device = _claim_device(devices, slots) if devices and slots else None
    if device is not None and device.startswith("cuda:"):
        torch.cuda.set_device(int(device.split(":")[1]))  # `cuda` now means this GPU for every trial here


worker_device: str | None = None  # in a local worker: the device of the plan's slot it took (None: no plan)


def _claim_device(devices: Sequence[str], slots: str, wait: float = 10.0) -> str:
    """The device of the first slot no live worker holds: each slot is a lock file that its
    worker holds until it dies (the kernel releases it then), so a worker started again after
    a crash takes the slot the dead one left. Where no slot frees up within `wait` seconds
    (a restart racing its predecessors' exit), the first slot's device."""
    try:
        import fcntl
    except ImportError:  # Windows: no pinning, every worker on the first device
        return devices[0]
    import time

    deadline = time.monotonic() + wait
    while True:
        for i, device in enumerate(devices):
            fd = os.open(os.path.join(slots, f"slot-{i}"), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return device  # fd stays open, and locked, for the worker's life
            except OSError:
                os.close(fd)
        if time.monotonic() > deadline:
            return devices[0]
        time.sleep(0.05)


class DaskExecutor(Executor):
    """Trials as Dask tasks, on the cluster whose scheduler is at `scheduler`, or on a
    `LocalCluster` of `jobs` single-threaded worker processes started here when there is none.

    A worker that dies is Dask's business first: the scheduler runs its tasks again on other
    workers, up to its `allowed-failures` setting (3 by default), and then gives up on the
    task with `KilledWorker`, which the runner treats as a lost worker. Tasks are submitted
    with `retries=0`: `run_trial` turns every exception in training into a failed result, so
    an exception that still reaches Dask is not one that trying again would cure.
    """

    asynchronous = True
    takes_scheduler = True
    summary = "tasks on a Dask cluster (see --scheduler)"

    def __init__(self, jobs: int, scheduler: str | None = None, timeout: float = 20.0) -> None:
        try:
            import distributed
        except ImportError:
            raise RunError("--executor dask needs Dask: pip install 'seedsweep[dask]' "
                           "(or dask[distributed]) in this environment and on every worker") from None
        import logging

        self.workers = jobs  # the workers to spread stacked tasks over (those of --jobs, with a scheduler too)
        self.worker_lost = (distributed.KilledWorker,)
        self._unsubscribe: Callable[[], None] | None = None
        self._gpu_resource: bool | None = None  # whether the cluster's workers declare GPUs: asked at the first task
        self._as_completed = distributed.as_completed
        self._cluster = None
        self.address = scheduler or None
        if self.address is None:
            try:
                with workers_ignore_ctrl_c():  # its workers, and its thread that restarts them
                    self._cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                             dashboard_address=None, silence_logs=logging.ERROR)
            except Exception as e:  # e.g. started outside `if __name__ == "__main__":` in a script
                raise RunError(f"could not start a local Dask cluster ({type(e).__name__}: {e}); "
                               "pass --scheduler tcp://HOST:PORT to use a running one") from None
            target: Any = self._cluster
        else:
            target = self.address
        try:
            self.client = distributed.Client(target, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as e:
            raise RunError(f"could not reach the Dask scheduler at {self.address} within {timeout:g} s ({e}); "
                           f"start one with `dask scheduler` and pass its address as --scheduler tcp://HOST:PORT") from None

    def describe(self) -> str:
        return f"the Dask cluster at {self.address}" if self.address else f"a local Dask cluster of {self.workers} workers"

    def live_sink(self, folder: Path, done: Callable[[str, int], bool]) -> Any:
        """Workers may be on other machines: they send their rows as Dask events, and this
        driver writes them into `folder`'s live files."""
        import uuid

        from sweeper.storage.live import DaskSink, dask_listener

        topic = f"sweeper-live-{uuid.uuid4().hex}"
        self._unsubscribe = dask_listener(self.client, topic, folder, done)
        return DaskSink(topic)

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Any:
        if self._gpu_resource is None:
            self._gpu_resource = self.gpu_share is not None and declares_gpus(self.client.scheduler_info().get("workers", {}))
        resources = {"GPU": self.gpu_share} if self._gpu_resource else None
        return self.client.submit(fn, task, pure=False, retries=0, resources=resources)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        for fut in self._as_completed(list(futures), loop=self.client.loop):
            if fut.status == "cancelled":  # the client lost its scheduler: no future will finish
                raise RunError(f"lost the connection to the Dask scheduler at {self.address or 'the local cluster'}; "
                               "finished trials are saved: run the same command again to resume")
            yield fut

    def shutdown(self, kill: bool = False) -> None:
        if self._unsubscribe is not None:
            with contextlib.suppress(Exception):  # a lost scheduler: nothing to unsubscribe from
                self._unsubscribe()
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def declares_gpus(workers: Any) -> bool:
    """Whether any of a Dask scheduler's workers (`scheduler_info()["workers"]`) declares the
    `GPU` resource (`dask worker --resources GPU=1`): only then do tasks ask for it, since a
    task asking for a resource no worker has would wait for ever."""
    return any("GPU" in (w.get("resources") or {}) for w in dict(workers).values())


EXECUTORS: dict[str, type[Executor]] = {
    "sequential": SequentialExecutor,
    "local": LocalExecutor,
    "dask": DaskExecutor,
}


def make_executor(name: str, jobs: int, scheduler: str | None = None, **options: Any) -> Executor:
    if name not in EXECUTORS:
        raise RunError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    cls = EXECUTORS[name]
    if scheduler and not cls.takes_scheduler:
        takers = " or ".join(n for n, c in EXECUTORS.items() if c.takes_scheduler)
        raise RunError(f"--scheduler needs --executor {takers}, but got --executor {name}")
    return cls(jobs, scheduler=scheduler, **options)
