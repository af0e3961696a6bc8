"""What a running sweep leaves besides its tables (live/ curve files, progress.json), read as
the live page and the MLflow sync read it, while the sweep writes."""

from __future__ import annotations

import fcntl
import os

import pandas as pd
import pytest
from synthetic_results import write_live, write_progress, write_results

from sweeper.storage import live_reader as live


@pytest.fixture
def folder(tmp_path):
    return write_results(tmp_path / "s", {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9]}, seeds=2)


def test_running_epochs_are_read_and_a_torn_last_line_is_left_for_later(folder):
    write_live(folder, "new", 0, [1, 2], torn=True)
    rows = live.read_live(folder)
    assert set(rows["epoch"]) == {1, 2} and len(rows) == 8  # 4 curves x 2 epochs, not the half row
    assert live.running(rows).to_dict("records") == [{"trial": "new", "seed": 0, "epoch": 2, "iteration": 8}]


def test_a_trial_in_trials_csv_is_taken_from_curves_csv_not_from_its_live_file(folder):
    write_live(folder, "cfg000", 0, [1, 2])  # its row is already committed: the file is about to go
    write_live(folder, "new", 1, [1])
    rows = live.read_live(folder, finished={("cfg000", 0)})
    assert set(zip(rows["trial"], rows["seed"])) == {("new", 1)}


def test_a_file_that_vanishes_or_is_not_a_curve_file_gives_no_rows(folder):
    assert live.read_live_file(folder / "live" / "gone.0.csv") == []
    path = write_live(folder, "x", 0, [1])
    path.write_text("not,a,curve,file\n1,2,3,4\n")
    assert live.read_live(folder).empty


def test_progress_of_a_running_finished_and_killed_driver(folder):
    assert live.driver_state(folder).state == "unknown"  # a folder without progress.json
    write_progress(folder, "running")
    assert live.driver_state(folder).state == "running"
    write_progress(folder, "finished", age_s=3600)
    assert live.driver_state(folder).state == "finished"
    write_progress(folder, "running", age_s=60)  # no word for a minute, nobody holds the lock: killed with -9
    state = live.driver_state(folder)
    assert state.state == "stopped" and state.stale and state.age_s >= 59


def test_a_driver_that_holds_the_lock_is_running_even_when_its_last_word_is_old(folder):
    write_progress(folder, "running", age_s=60)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the driver's store holds it
        assert live.lock_held(folder) is True
        assert live.driver_state(folder).state == "running"
    finally:
        os.close(fd)
    assert live.lock_held(folder) is False
    (folder / "progress.json").write_text('{"state": "runn')  # caught in the middle of a write elsewhere
    assert live.driver_state(folder).state == "unknown"


def test_curves_csv_is_read_incrementally_and_again_when_replaced(folder):
    path = folder / "curves.csv"
    tail = live.CurvesTail(path)
    first = len(tail.read())
    assert first == len(pd.read_csv(path))
    with path.open("a") as f:
        f.write("cfg000,0,3,12,val,acc,0.5\ncfg000,0,3,12,val,lo")  # one whole row, one being written
    assert len(tail.read()) == first + 1
    with path.open("a") as f:
        f.write("ss,0.4\n")
    assert tail.read().iloc[-1].to_dict() == {"trial": "cfg000", "seed": 0, "epoch": 3, "iteration": 12, "split": "val",
                                              "metric": "loss", "value": 0.4}
    rewritten = pd.read_csv(path).head(5)
    rewritten.to_csv(folder / "new.csv", index=False)
    os.replace(folder / "new.csv", path)  # a repair writes a new file
    assert len(tail.read()) == 5
