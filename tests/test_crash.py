"""Results survive kills, Ctrl-C, dead workers and diverging trials; bad situations are
reported before training; a changed study is never silently mixed with old rows."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import psutil
import pytest

from sweeper.errors import ResultsError
from sweeper.execution.runner import run_study
from sweeper.storage.store import ResultsStore
from tests.conftest import ROOT, tiny_study

STUDY = """\
from sweeper import Split, Study
study = Study(name="crash", dataset="digits", split=Split(train=400, val=200),
              fixed={"hidden_size": 16, "epochs": 3, "batch_size": 32},
              space={"learning_rate": [0.02, 0.05, 0.1, 0.2], "momentum": [0.0, 0.5, 0.9]}, seeds=2)
"""
KEY = ["trial", "seed"]
METRICS = ["status", "train_loss", "train_acc", "val_loss", "val_acc", "best_val_acc", "best_epoch"]


def start(tmp_path: Path, results: str, *extra: str) -> subprocess.Popen:
    (tmp_path / "crash.py").write_text(STUDY)
    return subprocess.Popen(
        [sys.executable, "-m", "sweeper.cli", "run", "crash.py", "--results", results, "--quiet", *extra],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
        preexec_fn=_as_from_a_terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _as_from_a_terminal() -> None:
    """A command started in the background of a script inherits SIGINT ignored, and Python
    then never raises KeyboardInterrupt; a terminal's foreground job has the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def rows(path: Path) -> int:
    try:
        return max(0, path.read_text().count("\n") - 1)
    except FileNotFoundError:
        return 0


def wait_for_rows(proc: subprocess.Popen, path: Path, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while rows(path) < n and proc.poll() is None:
        assert time.monotonic() < deadline, f"no {n} rows after {timeout} s"
        time.sleep(0.01)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def run_file(tmp_path: Path, name: str, source: str, results: str, *extra: str) -> subprocess.Popen:
    """`sweep run <name>.py` of a study file written from `source`, in its own process group."""
    (tmp_path / f"{name}.py").write_text(source)
    return subprocess.Popen([sys.executable, "-m", "sweeper.cli", "run", f"{name}.py", "--results", results, "-q",
                             *extra], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_at_rows(start: Callable[[], subprocess.Popen], trials: Path, moments: Iterable[int]) -> None:
    """Start a sweep and SIGKILL its whole process group once trials.csv has each number of rows."""
    for moment in moments:
        proc = start()
        wait_for_rows(proc, trials, moment)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def table(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "trials.csv").sort_values(KEY).reset_index(drop=True)


@pytest.mark.slow
def test_sigkill_at_many_moments_then_resume_matches_an_uninterrupted_run(tmp_path):
    assert finish(start(tmp_path, "reference"))[0] == 0
    reference = table(tmp_path / "reference" / "crash")
    assert len(reference) == 24
    folder = tmp_path / "killed" / "crash"
    kills, seen = 0, 0
    for moment in [0, 1, 4, 9, 15, 20, 23]:  # rows present when the whole process group is killed
        proc = start(tmp_path, "killed")
        wait_for_rows(proc, folder / "trials.csv", moment)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        if (folder / "trials.csv").exists():
            now = pd.read_csv(folder / "trials.csv")  # parses after every kill
            pd.read_csv(folder / "curves.csv")
            assert not now.duplicated(KEY).any()
            assert len(now) >= seen  # nothing finished is lost
            seen = len(now)
    assert kills >= 5
    code, err = finish(start(tmp_path, "killed"))
    assert code == 0, err
    resumed = table(folder)
    pd.testing.assert_frame_equal(resumed[KEY + METRICS], reference[KEY + METRICS])
    curves = pd.read_csv(folder / "curves.csv")
    assert not curves.duplicated(["trial", "seed", "iteration", "split", "metric"]).any()
    assert set(zip(curves.trial, curves.seed)) == set(zip(resumed.trial, resumed.seed))


@pytest.mark.slow
def test_ctrl_c_keeps_finished_trials_and_says_how_to_resume(tmp_path):
    proc = start(tmp_path, "results", "--jobs", "2")
    folder = tmp_path / "results" / "crash"
    wait_for_rows(proc, folder / "trials.csv", 3)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the foreground process group
    code, err = finish(proc)
    assert code == 130
    assert "run the same command again to resume" in err and "Traceback" not in err
    kept = pd.read_csv(folder / "trials.csv")
    assert len(kept) >= 3 and (kept["status"] == "ok").all()  # interrupted trials are not "failed"
    code, err = finish(start(tmp_path, "results"))
    assert code == 0 and len(table(folder)) == 24


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_does_not_end_it(tmp_path):
    proc = start(tmp_path, "results", "--jobs", "2")
    folder = tmp_path / "results" / "crash"
    wait_for_rows(proc, folder / "trials.csv", 2)
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "python" in p.name().lower()]
    assert workers, "no worker processes found"
    workers[-1].kill()
    code, err = finish(proc)
    assert code == 0, err
    final = table(folder)
    assert len(final) == 24 and not final.duplicated(KEY).any()
    assert (final["status"] == "ok").all()  # the lost trial ran again on a fresh worker


def test_second_run_is_refused_while_the_first_holds_the_lock(tmp_path):
    study = tiny_study()
    snapshot = {**study.to_dict(), "fingerprint": study.fingerprint(), "dataset_used": "digits"}
    first = ResultsStore(tmp_path / "tiny").open(snapshot, None)
    try:
        with pytest.raises(ResultsError, match=r"in use by a running sweep \(pid \d+ on .*\); wait for it"):
            ResultsStore(tmp_path / "tiny").open(snapshot, None)
    finally:
        first.close()
    ResultsStore(tmp_path / "tiny").open(snapshot, None).close()  # free again


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / ".lock").write_text("pid 999999 on elsewhere\n")  # its holder is gone: flock is free
    summary = run_study(tiny_study(), results_root=tmp_path, data_root="unused", jobs=1,
                        executor="sequential", show_progress=False, stream=io.StringIO())
    assert summary.trained == 4


def test_torn_rows_and_orphan_curves_are_repaired_on_open(tmp_path):
    study = tiny_study()
    run = dict(results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
               show_progress=False, stream=io.StringIO())
    run_study(study, **run)
    folder = tmp_path / "tiny"
    complete = table(folder)
    lines = (folder / "trials.csv").read_text().splitlines(keepends=True)
    # a kill between the curves and the row of the last trial, and one in the middle of a row
    (folder / "trials.csv").write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    with (folder / "curves.csv").open("a") as f:
        f.write("deadbeef00,0,1,1,val,acc,0.5\ndeadbeef00,0,1,1,val,lo")
    summary = run_study(study, **run)
    assert summary.trained == 1
    pd.testing.assert_frame_equal(table(folder)[KEY + METRICS], complete[KEY + METRICS])
    assert "deadbeef00" not in (folder / "curves.csv").read_text()


def test_diverged_trials_are_rows_with_their_curves(tmp_path):
    study = tiny_study(fixed={"epochs": 2}, space={"learning_rate": [0.1, 1e30]}, seeds=1)
    summary = run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                        show_progress=False, stream=io.StringIO())
    df = pd.read_csv(tmp_path / "tiny" / "trials.csv")
    diverged = df[df["learning_rate"] == 1e30]
    assert summary.diverged == 1 and diverged["status"].tolist() == ["diverged"]
    assert "NaN or infinite" in diverged["error"].iloc[0]
    curves = pd.read_csv(tmp_path / "tiny" / "curves.csv")
    assert (curves["trial"] == diverged["trial"].iloc[0]).any()
    assert "val_acc=" in summary.best and "learning_rate=0.1" in summary.best  # means exclude it


def test_changed_study_is_refused_until_renamed_or_restarted(tmp_path):
    run = dict(results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
               show_progress=False, stream=io.StringIO())
    run_study(tiny_study(), **run)
    changed = tiny_study(fixed={**tiny_study().fixed, "hidden_size": 32})
    with pytest.raises(ResultsError, match=r"different version of study 'tiny' \(fixed: .*'hidden_size': 16.*'hidden_size': 32.*new name, or pass --restart"):
        run_study(changed, **run)
    assert len(pd.read_csv(tmp_path / "tiny" / "trials.csv")) == 4  # nothing lost
    summary = run_study(changed, restart=True, **run)
    assert summary.trained == 4
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("tiny.old-")]
    assert len(aside) == 1 and len(pd.read_csv(aside[0] / "trials.csv")) == 4


def test_unwritable_results_location_is_reported_before_training(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ResultsError, match=r"results folder .*file/results is not writable.*--results DIR"):
        run_study(tiny_study(), results_root=tmp_path / "file" / "results", data_root="unused", jobs=1,
                  executor="sequential", show_progress=False, stream=io.StringIO())


def test_after_a_kill_only_the_pool_managers_thread_is_silenced(monkeypatch, capsys):
    import threading

    from joblib.externals.loky.process_executor import _ExecutorManagerThread

    from sweeper.execution.executors import _silence_killed_pool_manager

    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.thread))
    _silence_killed_pool_manager()
    _silence_killed_pool_manager()  # idempotent: one layer, not one per kill

    def args(thread):
        try:
            raise KeyError(9)
        except KeyError as e:
            return threading.ExceptHookArgs((KeyError, e, e.__traceback__, thread))

    manager = object.__new__(_ExecutorManagerThread)
    threading.excepthook(args(manager))
    other = threading.Thread()
    threading.excepthook(args(other))
    assert seen == [other]


# slow enough (about 0.3 s an epoch) that the kill lands between epochs 20 and 40
LONG = """\
from sweeper import Split, Study
study = Study(name="long", dataset="digits", split=Split(train=1200, val=300),
              fixed={"hidden_size": 256, "epochs": 40, "batch_size": 16, "learning_rate": 0.05}, space={"momentum": [0.9]},
              seeds=1, eval_every="iteration", checkpoint_every=1)
"""


def _checkpoint_epoch(folder: Path) -> int:
    from sweeper.storage import checkpoint

    try:
        return max((checkpoint.load(p)["epoch"] for p in (folder / "checkpoints").glob("*.safetensors")), default=0)
    except Exception:  # a file being replaced as we read it: ask again
        return 0


def _whole_epoch(folder: Path) -> int:
    """The last epoch every model has a checkpoint of: its last one's, or where a kill came
    between two of a group's files, the previous one the others kept."""
    from sweeper.storage import checkpoint

    epochs: dict[str, set[int]] = {}
    for p in (folder / "checkpoints").glob("*.safetensors"):
        epochs.setdefault(p.name.replace(".previous", ""), set()).add(checkpoint.load(p)["epoch"])
    return min(max(e) for e in epochs.values())


# Three configurations x 2 seeds: one stacked group of 6 models (stacking is the default).
LONG_GROUP = LONG.replace('space={"momentum": [0.9]},\n              seeds=1', 'space={"momentum": [0.0, 0.5, 0.9]},\n              seeds=2')
LONG_GROUP = LONG_GROUP.replace('"hidden_size": 256', '"hidden_size": 128')  # about as slow as LONG's one model
assert LONG_GROUP != LONG


@pytest.mark.slow
@pytest.mark.parametrize(("executor", "text"), [("local", LONG), ("dask", LONG), ("local", LONG_GROUP)],
                         ids=["local", "dask", "stacked-group"])
def test_a_trial_killed_half_way_resumes_at_its_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path, executor, text):
    """SIGKILL of the whole sweep at about epoch 20 of a 40-epoch trial, then the same command."""
    assert finish(run_file(tmp_path, "long", text, "reference", "--executor", executor, "--jobs", "1"))[0] == 0
    folder = tmp_path / "killed" / "long"
    proc = run_file(tmp_path, "long", text, "killed", "--executor", executor, "--jobs", "1")
    deadline = time.monotonic() + 120
    while _checkpoint_epoch(folder) < 20 and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint of epoch 20"
        time.sleep(0.02)
    assert proc.poll() is None, "the trial ended before it could be killed half-way"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = _whole_epoch(folder)
    assert 19 <= stopped_at < 40 and not (folder / "trials.csv").read_text().count("\n") > 1
    code, err = finish(run_file(tmp_path, "long", text, "killed", "--executor", executor, "--jobs", "1"))
    assert code == 0, err
    resumed, reference = table(folder), table(tmp_path / "reference" / "long")
    rows = 6 if text == LONG_GROUP else 1
    assert resumed["resumed_epoch"].tolist() == [stopped_at] * rows and reference["resumed_epoch"].tolist() == [0] * rows
    per_run = ["seconds", "resumed_epoch", "started", "host", "worker", "device"]
    pd.testing.assert_frame_equal(resumed.drop(columns=per_run, errors="ignore"),
                                  reference.drop(columns=per_run, errors="ignore"))
    curves = [pd.read_csv(f / "curves.csv").sort_values(["trial", "seed", "epoch", "iteration", "split", "metric"])
              .reset_index(drop=True) for f in (folder, tmp_path / "reference" / "long")]
    pd.testing.assert_frame_equal(*curves)
    assert not list((folder / "checkpoints").glob("*.safetensors"))  # a finished trial's checkpoint goes
