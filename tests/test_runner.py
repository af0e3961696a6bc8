import dataclasses
import io

import pandas as pd
import pytest

from sweeper.builtin.hparams import HPARAMS
from sweeper.execution.runner import run_study
from sweeper.storage.store import CURVE_COLUMNS, trial_columns
from sweeper.study.space import loguniform, uniform
from tests.conftest import tiny_study

METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "best_val_acc", "best_epoch"]


def _run(study, results, executor="sequential", jobs=1, **kw):
    return run_study(study, results_root=results, data_root="unused", jobs=jobs, executor=executor,
                     show_progress=False, stream=io.StringIO(), **kw)


def _trials(results, name="tiny"):
    return pd.read_csv(results / name / "trials.csv")


def test_tidy_tables_one_row_per_configuration_and_seed(tmp_path):
    study = tiny_study(space={"momentum": [0.0, 0.9], "learning_rate": [0.05, 0.1]}, fixed={"epochs": 1}, seeds=3)
    summary = _run(study, tmp_path)
    df = _trials(tmp_path)
    assert list(df.columns) == trial_columns(list(HPARAMS), [*METRICS[:4], "best_val_acc", "best_epoch", "epochs_run",
                                                             "iterations", "resumed_epoch"])
    assert not any(c.startswith("test_") for c in df.columns)  # no test split, no test columns
    assert len(df) == 4 * 3 == summary.planned == summary.trained
    assert df.groupby("trial")["seed"].apply(sorted).map(tuple).nunique() == 1  # same seeds everywhere
    assert (df["status"] == "ok").all() and (df["dataset"] == "digits").all()
    table = df.groupby(["learning_rate", "momentum"])["val_acc"].agg(["mean", "std"])
    assert table.shape == (4, 2) and table["std"].notna().all()
    curves = pd.read_csv(tmp_path / "tiny" / "curves.csv")
    assert list(curves.columns) == CURVE_COLUMNS
    assert set(zip(curves.trial, curves.seed)) == set(zip(df.trial, df.seed))
    assert (tmp_path / "tiny" / "study.json").exists()


def test_rerun_trains_nothing_and_deleted_rows_come_back_identical(tmp_path):
    study = tiny_study()
    _run(study, tmp_path)
    first = _trials(tmp_path)
    assert _run(study, tmp_path).trained == 0
    path = tmp_path / "tiny" / "trials.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2] + lines[3:]))  # delete one row
    summary = _run(study, tmp_path)
    assert summary.trained == 1 and summary.reused == 3
    again = _trials(tmp_path).sort_values(["trial", "seed"]).reset_index(drop=True)
    first = first.sort_values(["trial", "seed"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(again[["trial", "seed", *METRICS]], first[["trial", "seed", *METRICS]])
    curves = pd.read_csv(tmp_path / "tiny" / "curves.csv")
    assert not curves.duplicated(["trial", "seed", "iteration", "split", "metric"]).any()


def test_more_seeds_later_adds_only_the_new_seeds(tmp_path):
    _run(tiny_study(seeds=2), tmp_path)
    summary = _run(tiny_study(seeds=3), tmp_path)
    assert (summary.trained, summary.reused) == (2, 4)
    assert sorted(_trials(tmp_path)["seed"].unique()) == [0, 1, 2]


@pytest.mark.parametrize("sampler", ["random", "bayes"])
def test_search_resumes_with_the_same_proposals(tmp_path, sampler):
    study = tiny_study(sampler=sampler, n_trials=5, seeds=1, concurrent_configs=2, fixed={"epochs": 1},
                       space={"learning_rate": loguniform(0.01, 0.5), "momentum": uniform(0.0, 0.9)})
    _run(study, tmp_path / "a")
    _run(dataclasses.replace(study, n_trials=3), tmp_path / "b")  # an interrupted run...
    summary = _run(study, tmp_path / "b")  # ...resumed
    assert summary.trained == 2
    a, b = (_trials(tmp_path / d).sort_values("trial").reset_index(drop=True) for d in "ab")
    pd.testing.assert_frame_equal(a[["trial", "seed", "learning_rate", *METRICS]], b[["trial", "seed", "learning_rate", *METRICS]])


def test_dry_run_writes_beside_the_real_results(tmp_path):
    _run(tiny_study(), tmp_path, dry_run=True)
    df = _trials(tmp_path, "tiny.dry-run")
    assert len(df) == 4 and (df["iterations"] == 1).all()
    assert not (tmp_path / "tiny").exists()


@pytest.mark.slow
def test_results_do_not_depend_on_the_number_of_jobs(tmp_path):
    study = tiny_study(seeds=3)
    _run(study, tmp_path / "one", executor="local", jobs=1)
    _run(study, tmp_path / "two", executor="local", jobs=2)
    _run(study, tmp_path / "seq", executor="sequential")
    frames = [_trials(tmp_path / d).sort_values(["trial", "seed"]).reset_index(drop=True)[["trial", "seed", *METRICS]]
              for d in ("one", "two", "seq")]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])
