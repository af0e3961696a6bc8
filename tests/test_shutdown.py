"""Workers end with their sweep, whatever ends it: SIGKILL of the driver at any moment (the
OOM killer, a batch system), SIGTERM and SIGHUP (handled as Ctrl-C), a second Ctrl-C; and
a pipe such as `sweep run ... | tee log` reaches its end once the driver is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.test_crash import start, wait_for_rows

pytestmark = pytest.mark.slow
GONE_WITHIN_S = 10


def _descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _assert_all_gone(procs: list[psutil.Process]) -> None:
    deadline = time.monotonic() + GONE_WITHIN_S
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _alive(procs)
    for p in left:  # never leave them behind, even when the test fails
        p.kill()
    assert not left, f"{len(left)} worker processes outlived the driver: {[p.cmdline()[-2:] for p in left]}"


def _wait_for_workers(proc: subprocess.Popen, n: int, timeout: float = 60) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while len(kids := _descendants(proc)) < n and proc.poll() is None:
        assert time.monotonic() < deadline, f"fewer than {n} worker processes after {timeout} s"
        time.sleep(0.05)
    return kids


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_sigkill_of_the_driver_at_several_moments_leaves_no_worker_and_closes_the_pipe(tmp_path, executor):
    folder = tmp_path / "results" / "crash"
    for moment in ["starting", 2]:  # workers still importing; mid-sweep
        proc = start(tmp_path, "results", "--jobs", "2", "--executor", executor)
        kids = _wait_for_workers(proc, 2)
        if moment != "starting":
            wait_for_rows(proc, folder / "trials.csv", int(moment))
        kids = _descendants(proc) or kids
        if proc.poll() is not None:
            continue  # finished before the kill: nothing to test at this moment
        proc.kill()  # the driver alone, as the OOM killer would
        # stdout and stderr are pipes, like `| tee log`: they end once no process holds them
        proc.communicate(timeout=GONE_WITHIN_S + 20)
        _assert_all_gone(kids)
    if (folder / "trials.csv").exists():
        assert not pd.read_csv(folder / "trials.csv").duplicated(["trial", "seed"]).any()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_the_sweep_like_ctrl_c(tmp_path, sig, code):
    proc = start(tmp_path, "results", "--jobs", "2")
    folder = tmp_path / "results" / "crash"
    wait_for_rows(proc, folder / "trials.csv", 2)
    kids = _descendants(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"{signal.Signals(sig).name} received" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    _assert_all_gone(kids)
    kept = pd.read_csv(folder / "trials.csv")
    assert len(kept) >= 2 and (kept["status"] == "ok").all()


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_sighup_to_the_whole_process_group_stops_the_sweep_without_a_traceback(tmp_path, executor):
    """A closed terminal sends SIGHUP to every process of its group: the workers and the
    resource trackers must leave it to the driver (a tracker that died of it printed a
    KeyError traceback per semaphore)."""
    proc = start(tmp_path, "results", "--jobs", "2", "--executor", executor)
    wait_for_rows(proc, tmp_path / "results" / "crash" / "trials.csv", 2)
    kids = _descendants(proc)
    os.killpg(proc.pid, signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 129, err
    assert "Traceback" not in err and "KeyError" not in err, err
    assert "SIGHUP received" in err and "run the same command again to resume" in err
    _assert_all_gone(kids)


def test_sigterm_stops_a_dask_sweep_and_its_local_cluster(tmp_path):
    proc = start(tmp_path, "results", "--jobs", "2", "--executor", "dask")
    wait_for_rows(proc, tmp_path / "results" / "crash" / "trials.csv", 1)
    kids = _descendants(proc)
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err, err
    _assert_all_gone(kids)


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_ctrl_c_while_workers_start_and_a_second_ctrl_c_exit_130_without_a_traceback(tmp_path, executor):
    for presses in (1, 2):
        proc = start(tmp_path, "results", "--jobs", "2", "--executor", executor)
        kids = _wait_for_workers(proc, 2)  # workers exist, and are importing torch or Dask
        for _ in range(presses):
            os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
            time.sleep(0.2)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
        _assert_all_gone(kids)


def test_an_exception_in_the_driver_stops_the_workers(tmp_path):
    """A bug in the driver mid-sweep (here: a results folder that vanishes) must not leave workers."""
    # one model at a time: 24 tasks keep coming back, where two stacked groups finishing together
    # are stored in one append, and the run could end before the folder vanishes
    proc = start(tmp_path, "results", "--jobs", "2", "--no-stack")
    folder = tmp_path / "results" / "crash"
    wait_for_rows(proc, folder / "trials.csv", 1)
    kids = _descendants(proc)
    Path(folder / "curves.csv").unlink()
    for _ in range(100):  # the driver may write trials.csv again between the unlink and the mkdir
        try:
            folder.joinpath("trials.csv").unlink(missing_ok=True)
            folder.joinpath("trials.csv").mkdir()  # the next append fails
            break
        except (FileExistsError, IsADirectoryError):
            continue
    assert folder.joinpath("trials.csv").is_dir()
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    _assert_all_gone(kids)
