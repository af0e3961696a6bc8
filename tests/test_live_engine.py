"""The engine's side of a live view: while a sweep runs, each running trial's curve rows are
in live/<trial>.<seed>.csv (from local workers, the driver, and Dask workers alike) and the
driver's state in progress.json; a trial's live file goes once its row is stored."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from sweeper import Split, Study
from sweeper.execution.runner import Interrupted, run_study
from sweeper.storage import live
from sweeper.storage import live_reader as reader
from sweeper.storage.layout import LIVE, PROGRESS
from tests.conftest import tiny_study


def _run(study: Study, root: Path, **options: object):
    defaults = {"executor": "sequential", "jobs": 1}
    return run_study(study, results_root=root, data_root="unused", show_progress=False, stream=io.StringIO(),
                     **{**defaults, **options})


def test_the_built_in_trainer_streams_each_epoch_and_the_file_goes_with_the_row(tmp_path, monkeypatch):
    seen: list[tuple[str, int, list, bool, bool]] = []
    emit = live.FileSink.emit

    def spy(self, trial, seed, rows, fresh):
        emit(self, trial, seed, rows, fresh)
        stored = (self.folder / "trials.csv").read_text().count(f"\n{trial},{seed},")
        seen.append((trial, seed, list(rows), fresh, bool(stored)))

    monkeypatch.setattr(live.FileSink, "emit", spy)
    _run(tiny_study(fixed={"hidden_size": 16, "epochs": 3, "batch_size": 32, "learning_rate": 0.1}), tmp_path)
    folder = tmp_path / "tiny"
    trials = pd.read_csv(folder / "trials.csv")
    assert {(t, s) for t, s, *_ in seen} == set(zip(trials["trial"], trials["seed"]))
    for trial, seed in zip(trials["trial"], trials["seed"]):
        mine = [(rows, fresh, stored) for t, s, rows, fresh, stored in seen if (t, s) == (trial, seed)]
        assert [fresh for _, fresh, _ in mine] == [True, False, False]  # one write per epoch, the first anew
        assert [max(r[0] for r in rows) for rows, _, _ in mine] == [1, 2, 3]
        assert not any(stored for _, _, stored in mine)  # each while the trial was still running
        streamed = [row for rows, _, _ in mine for row in rows]
        curves = pd.read_csv(folder / "curves.csv").query("trial == @trial and seed == @seed")
        assert len(streamed) == len(curves)  # every curve row, streamed before it was stored
    assert not any((folder / LIVE).glob("*.csv"))  # every live file went with its row
    progress = json.loads((folder / PROGRESS).read_text())
    assert progress["state"] == "finished" and progress["done"] == progress["planned"] == len(trials)
    assert progress["trained"] == len(trials) and progress["eta_seconds"] == 0


def test_a_users_loop_streams_its_log_calls_and_an_interrupted_run_says_so(tmp_path):
    folder = tmp_path / "loop"
    peeks: list[int] = []

    def train(config, seed, log):
        for epoch in range(1, 4):
            log(epoch=epoch, val_acc=0.5 + epoch / 10)
            time.sleep(0.6)  # the rows are buffered and written at least every second
        peeks.append(sum(len(reader.read_live_file(p)) for p in (folder / LIVE).glob(f"*.{seed}.csv")))
        if config["lr"] == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the sweep
        return {"val_acc": 0.8}

    with pytest.raises(Interrupted):
        _run(Study(name="loop", train=train, space={"lr": [1, 2]}, seeds=1), tmp_path)
    assert peeks and all(n >= 2 for n in peeks)  # rows of the running seed were in its live file
    assert json.loads((folder / PROGRESS).read_text())["state"] == "interrupted"


def test_progress_json_is_rewritten_while_a_trial_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(live, "PROGRESS_EVERY_S", 0.2)
    folder = tmp_path / "slow"
    files: set[int] = set()

    def train(config, seed, log):
        for _ in range(10):
            time.sleep(0.15)
            assert json.loads((folder / PROGRESS).read_text())["state"] == "running"
            files.add((folder / PROGRESS).stat().st_ino)  # each rewrite is a new file, moved into place
        return {"val_acc": 0.5}

    _run(Study(name="slow", train=train, space={"lr": [1]}, seeds=1), tmp_path)
    assert len(files) >= 3  # rewritten while the one trial ran, with no row stored


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_workers_in_other_processes_stream_their_epochs(tmp_path, executor):
    """A local worker writes its live file itself; a Dask worker sends its rows to the driver."""
    # epochs of a few tenths of a second (a small stacked MLP runs an epoch of digits in 0.06 s)
    study = Study(name="w", dataset="digits", split=Split(train=1200, val=300), seeds=2,
                  fixed={"hidden_size": 256, "epochs": 6, "batch_size": 8}, space={"learning_rate": [0.05]})
    folder = tmp_path / "w"
    observed: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            rows = reader.read_live(folder) if folder.exists() else pd.DataFrame()
            if len(rows):
                observed.append(int(rows["epoch"].max()))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _run(study, tmp_path, executor=executor, jobs=2)
    finally:
        stop.set()
        watcher.join()
    assert observed and max(observed) >= 2, observed  # epochs of running trials were seen
    assert not any((folder / LIVE).glob("*.csv"))


def test_a_task_travels_to_a_worker_with_every_field():
    """Tasks pickle as cloudpickle bytes (execution/trial.py): the checkpoints to resume from too."""
    import dataclasses
    import pickle

    from sweeper.execution.trial import TrialTask
    from sweeper.usercode.plugin import FitOptions

    study = tiny_study()
    task = TrialTask("t", (0, 1), {"learning_rate": 0.1}, study.trainer, FitOptions(weights=("best",)),
                     group=(("u", {"learning_rate": 0.2}),), resume=((("t", 0), b"state"),))
    back = pickle.loads(pickle.dumps(task))
    for f in dataclasses.fields(TrialTask):
        if f.name != "trainer":
            assert getattr(back, f.name) == getattr(task, f.name), f.name


def _instant(config, seed, log):
    log(epoch=1, val_acc=0.5)
    return {"val_acc": config["a"] / 1000 + seed / 1e6}


@pytest.mark.slow  # about 5 s on an idle machine: 750 rows with a thread switch every microsecond
def test_progress_json_written_while_many_rows_are_stored_raises_nothing(tmp_path, monkeypatch):
    """The thread that rewrites progress.json reads the driver's state while the driver stores
    rows: many instant trials, a beat as often as it can be and thread switches as often as
    Python allows, so a dict read by one while the other changes it would show."""
    import sys

    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    monkeypatch.setattr(live, "PROGRESS_EVERY_S", 1e-6)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        study = Study(name="instant", train=_instant, metric="val_acc", seeds=5, space={"a": list(range(150))})
        summary = _run(study, tmp_path)
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    trials = pd.read_csv(tmp_path / "instant" / "trials.csv")
    assert len(trials) == summary.planned == 750 and set(trials["status"]) == {"ok"}
    assert json.loads((tmp_path / "instant" / PROGRESS).read_text())["done"] == 750


def test_rows_that_finish_together_are_stored_in_one_append_and_read_as_one_at_a_time(tmp_path, monkeypatch):
    """Tasks found finished together (`Executor.batches`) are written with one append, and
    fsync, of trials.csv: the same rows, in the same order, as stored one at a time."""
    from sweeper.execution.executors import EXECUTORS, SequentialExecutor
    from sweeper.storage import store

    class Together(SequentialExecutor):  # every task is done at submit: all in one batch
        def batches(self, futures):
            yield list(futures)

    appends: list[str] = []
    write = store._append
    monkeypatch.setattr(store, "_append", lambda path, text: (appends.append(path.name), write(path, text))[1])
    monkeypatch.setitem(EXECUTORS, "together", Together)
    study = Study(name="instant", train=_instant, metric="val_acc", seeds=3, space={"a": list(range(20))})
    _run(study, tmp_path / "one")
    one = appends.count("trials.csv")
    appends.clear()
    _run(study, tmp_path / "together", executor="together")
    assert one == 60 and appends.count("trials.csv") == 1 and appends.count("curves.csv") == 1
    per_run = ["seconds", "started", "host", "device", "worker"]  # and the order, which is the executor's
    tables = [pd.read_csv(root / "instant" / name).drop(columns=per_run if name == "trials.csv" else [])
              .sort_values(["trial", "seed"], ignore_index=True)
              for name in ("trials.csv", "curves.csv") for root in (tmp_path / "one", tmp_path / "together")]
    assert len(tables[0]) == len(tables[2]) == 60
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[2], tables[3])
