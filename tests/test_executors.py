"""The executor contract, checked against every backend, and the Dask backend's own errors.

Tasks are standard-library functions (`operator.neg`, `math.sqrt`, `os._exit`), so any
worker process can unpickle them without importing this test module.
"""

from __future__ import annotations

import math
import operator
import os
import socket
import sys
from collections.abc import Iterator

import pytest

from sweeper.errors import RunError
from sweeper.execution.executors import EXECUTORS, Executor, make_executor

TIMEOUT_S = 120  # no single task here should take more than a fraction of this


def _make(name: str) -> Executor:
    if name != "dask":
        return make_executor(name, jobs=1)
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    # the scheduler gives up on a task after its first dead worker instead of its fourth,
    # which keeps the lost-worker test to one worker restart
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return make_executor("dask", jobs=1)


@pytest.fixture(scope="module", params=[
    "sequential", "local", pytest.param("dask", marks=pytest.mark.slow),
])
def pool(request: pytest.FixtureRequest) -> Iterator[Executor]:
    executor = _make(request.param)
    yield executor
    executor.shutdown(kill=True)


class TestExecutorContract:
    def test_every_backend_is_tested(self) -> None:
        assert set(EXECUTORS) == {"sequential", "local", "dask"}

    def test_it_declares_what_the_sweep_loop_needs(self, pool: Executor) -> None:
        assert isinstance(pool.workers, int) and pool.workers >= 1
        assert isinstance(pool.asynchronous, bool) and isinstance(pool.takes_scheduler, bool)
        where = pool.describe()
        assert where and "\n" not in where and ("in this process" in where or str(pool.workers) in where)

    def test_each_future_completes_once_with_its_result(self, pool: Executor) -> None:
        futures = {pool.submit(operator.neg, i): i for i in range(6)}
        seen = [futures[f] for f in pool.as_completed(futures)]
        assert sorted(seen) == list(range(6))
        assert all(f.result(timeout=TIMEOUT_S) == -i for f, i in futures.items())

    def test_as_completed_can_be_left_early_and_entered_again(self, pool: Executor) -> None:
        futures = {pool.submit(operator.neg, i): i for i in range(4)}
        first = next(iter(pool.as_completed(futures)))
        rest = [f for f in futures if f is not first]
        assert sorted(futures[f] for f in pool.as_completed(rest)) == sorted(futures[f] for f in rest)

    def test_batches_hand_back_each_future_once_and_can_be_left_and_entered_again(self, pool: Executor) -> None:
        futures = {pool.submit(operator.neg, i): i for i in range(8)}
        first = next(iter(pool.batches(futures)))
        assert first and all(f.done() for f in first)
        rest = [f for f in futures if f not in first]
        again = [f for batch in pool.batches(rest) for f in batch]
        assert sorted(futures[f] for f in [*first, *again]) == list(range(8))
        assert len(set(again)) == len(again) and not set(again) & set(first)

    def test_an_exception_in_the_task_reaches_result_and_is_not_a_lost_worker(self, pool: Executor) -> None:
        fut = pool.submit(math.sqrt, -1.0)
        with pytest.raises(ValueError) as info:
            fut.result(timeout=TIMEOUT_S)
        assert not isinstance(info.value, pool.worker_lost)

    def test_a_dead_worker_is_reported_and_the_executor_recovers(self, pool: Executor) -> None:
        if not pool.worker_lost:
            pytest.skip("runs tasks in this process: it has no worker to lose")
        with pytest.raises(pool.worker_lost):
            pool.submit(os._exit, 3).result(timeout=TIMEOUT_S)
        pool.restart()
        assert pool.submit(operator.neg, 2).result(timeout=TIMEOUT_S) == -2


def test_unknown_executor_names_the_known_ones() -> None:
    with pytest.raises(RunError, match="sequential, local, dask"):
        make_executor("slurm", jobs=1)


def test_dask_missing_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(RunError, match=r"pip install 'seedsweep\[dask\]'"):
        make_executor("dask", jobs=1)


def test_unreachable_scheduler_is_one_clear_error() -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RunError, match=f"could not reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        make_executor("dask", jobs=1, scheduler=f"tcp://127.0.0.1:{port}", timeout=2)


def test_scheduler_without_the_dask_executor_is_refused(tmp_path, capsys) -> None:
    from sweeper.cli import EXIT_BAD_INPUT, main

    study = tmp_path / "s.py"
    study.write_text("from sweeper import Study\nstudy = Study(name='s', dataset='digits', space={'momentum': [0.0]})\n")
    assert main(["run", str(study), "--scheduler", "tcp://127.0.0.1:8786"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err == "sweep: error: --scheduler needs --executor dask, but got --executor local"


def test_the_cli_imports_dask_only_when_asked_for() -> None:
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from sweeper.cli import build_parser; build_parser().parse_args(['run', 'x.py', "
            "'--executor', 'dask']); assert 'distributed' not in sys.modules and 'dask' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
