"""The comparisons kept in the results folder (.cache/): used only when worked out from the same
trials.csv by the same statistics; a stale, damaged or foreign cache is worked out again; a
folder that cannot be written to is read without one."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_results import write_results

import sweeper
from sweeper.analysis import stats
from sweeper.storage import cache


@pytest.fixture
def folder(tmp_path):
    return write_results(tmp_path / "demo", {"learning_rate": [0.01, 0.03, 0.1, 0.3, 1.0], "momentum": [0.0, 0.9]},
                         seeds=4, fail=[(3, 1, "failed")])


@pytest.fixture
def worked_out(monkeypatch):
    """How many times the comparisons are worked out rather than read."""
    calls = []
    real = stats.compare_to_best
    monkeypatch.setattr(stats, "compare_to_best", lambda *a: calls.append(1) or real(*a))
    return calls


def test_the_second_load_reads_the_same_table_from_the_cache(folder, worked_out):
    first = sweeper.load(folder).comparisons
    assert (folder / ".cache" / "comparisons.csv").is_file() and (folder / ".cache" / "comparisons.json").is_file()
    second = sweeper.load(folder).comparisons
    assert len(worked_out) == 1
    pd.testing.assert_frame_equal(first, second)  # dtypes, p-values to the last bit, verdicts
    assert "worse" in set(second["verdict"])


def test_changed_trials_are_worked_out_again(folder, worked_out):
    assert len(sweeper.load(folder).comparisons)
    trials = pd.read_csv(folder / "trials.csv")
    trials.loc[trials["status"] == "ok", "val_acc"] = 1.0  # all tied now: nothing is worse
    trials.to_csv(folder / "trials.csv", index=False)
    after = sweeper.load(folder).comparisons
    assert len(worked_out) == 2 and "worse" not in set(after["verdict"])


@pytest.mark.parametrize("damage", ["table", "record", "foreign"])
def test_a_damaged_or_foreign_cache_is_worked_out_again(folder, worked_out, damage):
    first = sweeper.load(folder).comparisons
    kept = folder / ".cache"
    if damage == "table":  # a row lost
        (kept / "comparisons.csv").write_text("\n".join((kept / "comparisons.csv").read_text().splitlines()[:-1]))
    elif damage == "record":
        (kept / "comparisons.json").write_text("{not json")
    else:  # another folder's table under this one's key: its hash does not match the record
        (kept / "comparisons.csv").write_text("trial,verdict\nx,worse\n")
    again = sweeper.load(folder).comparisons
    assert len(worked_out) == 2
    pd.testing.assert_frame_equal(first, again)


def test_a_changed_study_record_is_worked_out_again(folder, worked_out):
    """study.json names the searched columns, which the labels are made of."""
    assert len(sweeper.load(folder).comparisons)
    (folder / "study.json").write_text((folder / "study.json").read_text() + "\n")
    assert len(sweeper.load(folder).comparisons)
    assert len(worked_out) == 2


def test_another_version_of_the_statistics_is_worked_out_again(folder, worked_out, monkeypatch):
    assert len(sweeper.load(folder).comparisons)
    monkeypatch.setattr("sweeper.analysis.results._statistics_version", lambda: "another")
    assert len(sweeper.load(folder).comparisons)
    assert len(worked_out) == 2


def test_a_folder_that_cannot_be_written_to_is_read_without_a_cache(folder, worked_out, monkeypatch):
    def refuse(*_, **__):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(cache, "atomic_write", refuse)
    first = sweeper.load(folder).comparisons
    assert "worse" in set(first["verdict"]) and not list((folder / ".cache").glob("*"))
    assert len(sweeper.load(folder).comparisons)
    assert len(worked_out) == 2



STUDY = """
import random
from sweeper import Study

def objective(trial):
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    if {fail}:
        raise RuntimeError("no")
    return -abs(lr - 0.1) + random.Random(trial.seed * 1000 + trial.number).gauss(0, 0.01)

study = Study(name="quick", objective=objective, direction="maximize", sampler="random", n_trials=6, seeds=3)
"""


@pytest.mark.parametrize("fail", [False, True])
def test_sweep_run_works_the_comparisons_out_once_at_its_end(tmp_path, capsys, worked_out, fail):
    """After a run, `sweep show` reads the verdicts from the cache; a run whose every trial
    failed still ends with its own one-line message, not a traceback from the cache."""
    from sweeper.cli import main

    (tmp_path / "quick.py").write_text(STUDY.format(fail=fail))
    code = main(["run", str(tmp_path / "quick.py"), "--results", str(tmp_path / "results"), "--executor",
                 "sequential", "--quiet"])
    kept = tmp_path / "results" / "quick" / ".cache" / "comparisons.json"
    if fail:
        assert code != 0 and not kept.exists() and "Traceback" not in capsys.readouterr().err
        return
    assert code == 0 and kept.is_file() and len(worked_out) == 1
    assert main(["show", "quick", "--results", str(tmp_path / "results")]) == 0
    assert len(worked_out) == 1
