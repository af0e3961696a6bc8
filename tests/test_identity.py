"""Result identity that survives change: ids and fingerprints come from what a study says
and the defaults its own study.json recorded, not from the library's current table."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sweeper import Split, Study
from sweeper.builtin import hparams
from sweeper.errors import ResultsError
from sweeper.execution.runner import run_study
from sweeper.usercode.identity import SCHEME
from sweeper.usercode.plugin import Param
from tests.conftest import tiny_study

FIXTURE = Path(__file__).parent / "fixtures" / "release_0_1" / "legacy_digits"


def _run(study, results, **kw):
    return run_study(study, results_root=results, data_root="unused", jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO(), **kw)


def legacy_study() -> Study:
    """The study that wrote the fixture, with sweeper 0.1.0 (see its study.py)."""
    return Study(name="legacy_digits", dataset="digits", split=Split(train=600, val=300),
                 fixed={"epochs": 2, "hidden_size": 16, "batch_size": 32},
                 space={"learning_rate": [0.05, 0.2], "optimizer": ["sgd", "adam"]}, seeds=2)


@pytest.fixture
def legacy(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "legacy_digits")
    return tmp_path


def new_hyperparameter(monkeypatch):
    """A hyperparameter added to the built-in table by a later release."""
    monkeypatch.setitem(hparams.HPARAMS, "label_smoothing",
                        Param("label_smoothing", 0.0, "a number in [0, 1)", lambda x: 0 <= x < 1, "a later addition"))


def test_results_of_release_0_1_resume_with_nothing_retrained(legacy):
    before = (legacy / "legacy_digits" / "trials.csv").read_text()
    summary = _run(legacy_study(), legacy)
    assert summary.trained == 0 and summary.reused == 8
    assert (legacy / "legacy_digits" / "trials.csv").read_text() == before
    assert json.loads((legacy / "legacy_digits" / "study.json").read_text())["identity"]["scheme"] == 1


def test_results_of_release_0_1_resume_after_a_hyperparameter_is_added(legacy, monkeypatch):
    new_hyperparameter(monkeypatch)
    assert _run(legacy_study(), legacy).trained == 0
    grown = legacy_study().with_seeds(3)  # and a new seed trains only the new rows, under the same ids
    summary = _run(grown, legacy)
    assert summary.trained == 4 and summary.reused == 8
    df = pd.read_csv(legacy / "legacy_digits" / "trials.csv")
    assert df.groupby("trial").size().tolist() == [3, 3, 3, 3]


def test_new_results_resume_after_a_hyperparameter_is_added(tmp_path, monkeypatch):
    first = _run(tiny_study(), tmp_path)
    recorded = json.loads((tmp_path / "tiny" / "study.json").read_text())["identity"]
    assert recorded["scheme"] == SCHEME and "label_smoothing" not in recorded["defaults"]
    new_hyperparameter(monkeypatch)
    again = _run(tiny_study(), tmp_path)
    assert first.trained == 4 and again.trained == 0 and again.reused == 4


def test_adding_a_value_to_a_grid_trains_only_the_new_configurations(tmp_path):
    _run(tiny_study(space={"momentum": [0.0, 0.9]}), tmp_path)
    summary = _run(tiny_study(space={"momentum": [0.0, 0.5, 0.9]}), tmp_path)
    assert summary.trained == 2 and summary.reused == 4  # one new configuration x 2 seeds


def test_changing_what_rows_mean_is_refused(tmp_path):
    _run(tiny_study(), tmp_path)
    with pytest.raises(ResultsError, match="different version of study 'tiny'.*--restart"):
        _run(tiny_study(fixed={"hidden_size": 17, "epochs": 2, "batch_size": 32, "learning_rate": 0.1}), tmp_path)


def test_changing_the_users_model_code_is_refused(tmp_path):
    from torch import nn

    def model_a(config):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def model_b(config):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    study = dict(name="own", dataset="digits", split=Split(train=200, val=100), fixed={"epochs": 1}, seeds=1)
    _run(Study(model=model_a, **study), tmp_path)
    assert _run(Study(model=model_a, **study), tmp_path).trained == 0
    with pytest.raises(ResultsError, match="different version"):
        _run(Study(model=model_b, **study), tmp_path)


def test_a_fallback_datasets_results_have_a_folder_of_their_own(tmp_path, mnist_root):
    """The Quick start in either order: without the data, then with it (or the other way)."""
    study = tiny_study(dataset="mnist", fallback="digits", space={"momentum": [0.9]}, seeds=1)
    without = _run_on(study, tmp_path, str(tmp_path / "no-data"))
    assert without.folder.name == "tiny.fallback-digits" and without.dataset == "digits"
    assert sweeper_load_name(tmp_path) == "tiny.fallback-digits"  # what `sweep show tiny` finds meanwhile
    with_data = _run_on(study, tmp_path, mnist_root)
    assert with_data.folder.name == "tiny" and with_data.trained == 1 and with_data.dataset == "mnist"
    assert _run_on(study, tmp_path, str(tmp_path / "no-data")).trained == 0


def _run_on(study, results, data_root):
    return run_study(study, results_root=results, data_root=data_root, jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO())


def sweeper_load_name(results):
    from sweeper.analysis.results import find

    return find("tiny", results).name
