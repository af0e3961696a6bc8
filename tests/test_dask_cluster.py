"""Sweeps on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on
127.0.0.1, started with Dask's own CLI as a user would, driven by `sweep run`.

The tests share one cluster, the last one killing a worker. Every process is started in its
own session and killed when the tests are done, whatever happens; should the test process
itself die, the scheduler stops once idle and the workers once their scheduler is gone.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweeper.execution.runner import run_study
from sweeper.storage.store import PROVENANCE_COLUMNS
from sweeper.study.studyfile import load_study

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]  # the checkout under test: workers must import this sweeper
START_TIMEOUT_S = 90
SWEEP_TIMEOUT_S = 240

STUDY = """
from sweeper import Split, Study

study = Study(
    name="on_dask",
    dataset="digits",
    split=Split(train=1000, val=300),
    fixed={"model": "mlp", "hidden_size": 32, "batch_size": 50, "epochs": 10},  # a fraction of a second a trial
    space={"learning_rate": [0.05, 0.2]},
    seeds=4,
    stack=False,  # one task per trial: a worker is killed while it holds trials of an unfinished sweep
)
"""
PLANNED = 2 * 4


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def _dask(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dask", *args], env=env, cwd=log.parent,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)


def _stop(*procs: subprocess.Popen) -> None:
    """Terminate each process's session, then kill what is still there after a while."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 10
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        if all(proc.poll() is not None for proc in procs):
            return


def _wait_for(condition, what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int = 2, worker_data: str | None = "worker-data",
                 ) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler on a free port of 127.0.0.1 and `n_workers` single-threaded workers
    without nannies (so that a killed worker stays dead), reading data from `worker_data`
    under `folder` (None: the driver's data root); yields (address, [scheduler, *workers])."""
    folder.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    try:
        info = folder / "scheduler.json"
        procs.append(_dask(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                            "--scheduler-file", str(info), "--idle-timeout", "600"], folder / "scheduler.log", _env()))
        _wait_for(lambda: info.exists() and info.stat().st_size > 0, "the scheduler")
        address = json.loads(info.read_text())["address"]
        worker_env = _env(SWEEPER_WORKER_DATA_DIR=str(folder / worker_data)) if worker_data else _env()
        for i in range(n_workers):
            procs.append(_dask(["worker", address, "--name", f"w{i}", "--nthreads", "1", "--no-nanny",
                                "--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "60"],
                               folder / f"worker{i}.log", worker_env))
        if n_workers:
            with _client(address) as client:
                client.wait_for_workers(n_workers, timeout=START_TIMEOUT_S)
        yield address, procs
    finally:
        _stop(*procs)


def _client(address: str):
    from distributed import Client

    return Client(address, timeout=START_TIMEOUT_S, set_as_default=False)


def _sweep(study_file: Path, results: Path, address: str) -> subprocess.Popen:
    """`sweep run` in its own process, finding the scheduler through SWEEPER_SCHEDULER."""
    return subprocess.Popen(
        [sys.executable, "-m", "sweeper.cli", "run", str(study_file), "--executor", "dask",
         "--results", str(results), "--quiet"],
        env=_env(SWEEPER_SCHEDULER=address), cwd=results.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=SWEEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise AssertionError(f"sweep run did not finish within {SWEEP_TIMEOUT_S} s") from None
    assert proc.returncode == 0, out
    return out


def trials(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    """trials.csv as {(trial, seed): row without its timing and provenance}; fails on a repeated row."""
    with (folder / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    table = {(r["trial"], r["seed"]): {k: v for k, v in r.items() if k not in ("seconds", *PROVENANCE_COLUMNS)}
             for r in rows}
    assert len(table) == len(rows), "a (trial, seed) row is repeated"
    return table


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("study") / "on_dask.py"
    path.write_text(STUDY)
    return path


@pytest.fixture(scope="module")
def local_trials(study_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same study run on this machine, in this process (the executors' contract tests
    check that every executor hands back what the task returned): the reference every Dask
    run must match."""
    results = tmp_path_factory.mktemp("local") / "results"
    summary = run_study(load_study(study_file), results_root=results, data_root="data", jobs=1,
                        executor="sequential", show_progress=False)
    assert summary.trained == PLANNED and summary.failed == 0
    return trials(results / "on_dask")


def test_a_sweep_on_a_dask_cluster_matches_a_local_run(cluster, study_file, local_trials, tmp_path) -> None:
    address, _ = cluster
    out = _finish(_sweep(study_file, tmp_path / "results", address))
    assert f"{PLANNED} of {PLANNED} trials done ({PLANNED} trained now" in out
    assert f"with the Dask cluster at {address}" in out
    assert trials(tmp_path / "results" / "on_dask") == local_trials


def test_stacked_groups_on_a_dask_cluster_match_a_local_run(cluster, tmp_path) -> None:
    """The stacked default on the cluster: the study's groups, so the rows of a run in this process."""
    address, _ = cluster
    path = tmp_path / "on_dask.py"
    path.write_text(STUDY.replace("stack=False", "stack=True").replace('"learning_rate": [0.05, 0.2]',
                                                                        '"learning_rate": [0.05, 0.1, 0.2]'))
    summary = run_study(load_study(path), results_root=tmp_path / "local", data_root="data", jobs=1,
                        executor="sequential", show_progress=False)
    assert summary.stacked and summary.trained == 12
    out = _finish(_sweep(path, tmp_path / "results", address))
    assert "12 of 12 trials done (12 trained now" in out and "stacked" in out
    assert trials(tmp_path / "results" / "on_dask") == trials(tmp_path / "local" / "on_dask")


def test_a_worker_killed_in_the_middle_of_a_sweep_loses_no_row(cluster, study_file, local_trials, tmp_path) -> None:
    address, (_, *workers) = cluster
    rows_file = tmp_path / "results" / "on_dask" / "trials.csv"

    def rows_written() -> int:
        return max(0, len(rows_file.read_text().splitlines()) - 1) if rows_file.exists() else 0

    with _client(address) as client:
        victim = next(w for w, info in client.scheduler_info()["workers"].items() if info["name"] == "w1")
        sweep = _sweep(study_file, tmp_path / "results", address)
        try:
            # kill w1 once the sweep is under way and w1 holds trials that are not finished
            _wait_for(lambda: rows_written() >= 1 and client.processing(workers=[victim]).get(victim),
                      "a row written while the second worker holds unfinished trials", SWEEP_TIMEOUT_S)
            at_kill = rows_written()
            os.kill(workers[1].pid, signal.SIGKILL)
            out = _finish(sweep)
        finally:
            _stop(sweep)
    assert at_kill < PLANNED
    assert f"{PLANNED} of {PLANNED} trials done ({PLANNED} trained now, 0 from earlier runs, 0 failed" in out
    assert trials(tmp_path / "results" / "on_dask") == local_trials


def test_a_study_that_imports_a_module_beside_it_runs_on_workers_without_its_folder(cluster, tmp_path) -> None:
    """The workers run elsewhere (their own folder, no study folder on their path): the
    helper module and the model class travel by value."""
    address, _ = cluster
    study = tmp_path / "study"
    shutil.copytree(Path(__file__).parent / "fixtures" / "before_code_record" / "study", study)
    out = _finish(_sweep(study / "waves_study.py", tmp_path / "results", address))
    assert "4 of 4 trials done (4 trained now, 0 from earlier runs, 0 failed" in out
    rows = trials(tmp_path / "results" / "waves")
    with (tmp_path / "results" / "waves" / "trials.csv").open(newline="") as f:
        workers = {r["worker"] for r in csv.DictReader(f)}
    assert workers <= {"w0", "w1"} and all(r["status"] == "ok" for r in rows.values())


def test_losing_the_scheduler_stops_the_sweep_with_one_clear_error(tmp_path) -> None:
    import operator

    from sweeper.errors import RunError
    from sweeper.execution.executors import make_executor

    with dask_cluster(tmp_path, n_workers=0) as (address, (scheduler,)):
        pool = make_executor("dask", jobs=1, scheduler=address)
        try:
            waiting = pool.submit(operator.neg, 1)  # no worker: it waits
            os.kill(scheduler.pid, signal.SIGKILL)
            with pytest.raises(RunError, match=f"lost the connection to the Dask scheduler at {address}"):
                next(iter(pool.as_completed([waiting])))
        finally:
            pool.shutdown(kill=True)
