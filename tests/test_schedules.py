"""Schedules compose: a raced study with rungs prunes on the race's first seeds, races the
survivors on, decides as a pure function of its rows, and resumes after a SIGKILL to the
same tables."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from sweeper import Racing, Rungs, Study
from sweeper.execution.runner import run_study
from sweeper.storage.layout import PROVENANCE_COLUMNS
from tests.test_pruning import QUALITY, train

KEY = ["trial", "seed"]


def raced(**fields: object) -> Study:
    defaults: dict = dict(name="rr", train=train, fixed={"epochs": 9}, space={"learning_rate": list(QUALITY)},
                          seeds=Racing(start=3, max=8),
                          prune=Rungs(resource="epochs", rungs=(1, 3), keep=1 / 3, continues=True))
    return Study(**{**defaults, **fields})


def _run(study: Study, root, **options: object):
    return run_study(study, results_root=root, data_root="unused", jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO(), **options)


def _tables(folder) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    trials = pd.read_csv(folder / "trials.csv").sort_values(KEY).reset_index(drop=True)
    return (trials.drop(columns=["seconds", *PROVENANCE_COLUMNS]), pd.read_csv(folder / "pruning.csv"),
            pd.read_csv(folder / "racing.csv"))


def test_a_raced_study_with_rungs_prunes_on_the_first_seeds_and_races_the_survivors(tmp_path):
    _run(raced(), tmp_path)
    trials, pruning, racing = _tables(tmp_path / "rr")
    assert set(pruning["state"]) == {"pruned", "complete"}
    rungs = trials[trials["status"].isin(["pruned", "promoted"])]
    assert set(rungs["seed"]) == {0, 1, 2} and set(rungs["epochs"]) <= {1, 3}  # the rungs use the first 3 seeds
    survivors = set(pruning.loc[pruning["state"] == "complete", "trial"])
    assert set(racing["trial"]) == survivors and set(racing["state"]) <= {"kept", "dropped"}
    full = trials[trials["epochs"] == 9]
    assert set(full["trial"]) == survivors
    seeds = full.groupby("trial")["seed"].apply(sorted)
    for r in racing.itertuples():  # each survivor has exactly the seeds its race gave it
        assert seeds[r.trial] == list(range(r.seeds))
    assert racing["seeds"].max() > 3  # the race went on past its first seeds
    # the same tables again, in-process with a second run's decisions replayed from the rows
    _run(raced(), tmp_path / "again")
    for a, b in zip(_tables(tmp_path / "rr"), _tables(tmp_path / "again" / "rr"), strict=True):
        pd.testing.assert_frame_equal(a, b)


RACED_RUNGS = """\
from sweeper import Racing, Rungs, Split, Study
study = Study(name="rr", dataset="digits", split=Split(train=400, val=200),
              fixed={"hidden_size": 16, "epochs": 3, "batch_size": 32},
              space={"learning_rate": [0.003, 0.03, 0.1, 0.3], "momentum": [0.0, 0.9]},
              seeds=Racing(start=3, max=6), prune=Rungs(resource="epochs", rungs=(1,), keep=0.5))
"""


@pytest.mark.slow
def test_a_raced_study_with_rungs_killed_mid_run_resumes_to_the_same_tables(tmp_path):
    from tests.test_crash import finish, kill_at_rows, run_file

    def start(results):
        return run_file(tmp_path, "rr", RACED_RUNGS, results)

    assert finish(start("reference"))[0] == 0
    reference = _tables(tmp_path / "reference" / "rr")
    assert (reference[1]["state"] == "pruned").any() and (reference[2]["seeds"] > 3).any()
    folder = tmp_path / "killed" / "rr"
    kill_at_rows(lambda: start("killed"), folder / "trials.csv", (len(reference[0]) // 3, 2 * len(reference[0]) // 3))
    code, err = finish(start("killed"))
    assert code == 0, err
    metrics = ["status", "epochs", "val_acc", "val_loss", "train_acc", "best_epoch"]
    resumed = _tables(folder)
    pd.testing.assert_frame_equal(resumed[0][KEY + metrics], reference[0][KEY + metrics])
    pd.testing.assert_frame_equal(resumed[1], reference[1])
    pd.testing.assert_frame_equal(resumed[2], reference[2])
