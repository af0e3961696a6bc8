"""sweeper.load and the results-folder helpers: finding studies, dtypes, progress."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from synthetic_results import write_results

import sweeper
from sweeper.analysis.results import find, list_studies, planned_configs, progress
from sweeper.errors import ResultsError


@pytest.fixture
def results(tmp_path):
    write_results(tmp_path / "grid", {"learning_rate": [0.01, 0.1], "optimizer": ["sgd", "adam"]}, seeds=3,
                  fail=[(0, 1, "diverged"), (3, 2, "failed")])
    write_results(tmp_path / "grid.dry-run", {"learning_rate": [0.01]}, seeds=1)
    return tmp_path


def test_load_gives_typed_tables(results):
    r = sweeper.load("grid", results=results)
    t = r.trials
    assert len(t) == 12 and r.searched == ["learning_rate", "optimizer"]
    assert isinstance(t["status"].dtype, pd.CategoricalDtype) and list(t["status"].cat.categories) == ["ok", "failed", "diverged", "pruned", "promoted"]
    assert isinstance(t["optimizer"].dtype, pd.CategoricalDtype)
    assert list(t["optimizer"].cat.categories) == ["sgd", "adam"]  # in the order the study lists them
    assert t["shuffle"].dtype == bool and t["nesterov"].dtype == bool
    assert t["seed"].dtype == "int64" and t["batch_size"].dtype == "int64"
    assert t["learning_rate"].dtype == "float64" and t["val_acc"].dtype == "float64"
    assert t["epochs_run"].dtype == "Int64" and t.loc[t["status"] == "failed", "epochs_run"].isna().all()
    c = r.curves
    assert isinstance(c["split"].dtype, pd.CategoricalDtype) and c["iteration"].dtype == "int64"
    assert set(c["metric"].unique()) == {"loss", "acc", "batch_loss"}
    s = r.summary
    assert len(s) == 4 and s["n_diverged"].sum() == 1 and s["n_failed"].sum() == 1
    assert set(r.comparisons["verdict"]) <= {"best", "worse", "indistinguishable from the best", "too few common seeds"}


def test_find_by_name_folder_or_study_file(results, tmp_path):
    assert find("grid", results) == results / "grid"
    assert find(results / "grid") == results / "grid"
    study_file = tmp_path / "grid_study.py"
    study_file.write_text("from sweeper import Study\nstudy = Study(name='grid', dataset='digits')\n")
    assert sweeper.load(study_file, results).folder == results / "grid"  # a study file means its study's name


def test_unknown_study_is_one_clear_error(results):
    with pytest.raises(ResultsError, match=r"no results for 'nope'.*studies under .*: grid;"):
        find("nope", results)


def test_dry_runs_are_listed_only_when_asked(results):
    assert [p.name for p in list_studies(results)] == ["grid"]
    assert [p.name for p in list_studies(results, include_aside=True)] == ["grid", "grid.dry-run"]
    assert progress(results / "grid.dry-run").note == "dry run"


def test_progress_counts_done_planned_and_failures(results):
    p = progress(results / "grid")
    assert (p.done, p.planned, p.failed, p.diverged, p.note) == (12, 12, 1, 1, "")


def test_planned_configs_from_older_snapshots():
    assert planned_configs({"planned_configs": 7}) == 7
    assert planned_configs({"sampler": "random", "n_trials": 20}) == 20
    assert planned_configs({"sampler": "grid", "space": {"a": "[0.01, 0.1]", "b": "intrange(1, 9, step=2)"}}) == 10
    assert planned_configs({"sampler": "grid", "space": {"a": "uniform(0, 1)"}}) is None


def test_importing_sweeper_imports_neither_pandas_nor_torch():
    code = "import sys, sweeper; print('pandas' in sys.modules, 'torch' in sys.modules, callable(sweeper.load))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]
