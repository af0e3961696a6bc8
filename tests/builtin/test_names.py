"""Names that do not trap: another spelling of a built-in hyperparameter (`lr`, `bs`, `n_epochs`)
is refused with the built-in name, optimizer names are read in any case, and every fix the
study checks and the probe suggest, once followed, gives rows that train with the values
they record."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import torch
from torch import nn

from sweeper import Split, Study, StudyError
from sweeper.builtin.hparams import ALIASES, HPARAMS, renamed
from sweeper.execution.runner import run_study
from tests.conftest import tiny_study

FAST = {"epochs": 1, "batch_size": 32}


def _rows(study: Study, tmp_path) -> pd.DataFrame:
    summary = run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                        show_progress=False, stream=io.StringIO())
    return pd.read_csv(summary.folder / "trials.csv")


def _study(**fields) -> Study:
    return Study(**{"name": "names", "dataset": "digits", "split": Split(train=400, val=200), "seeds": 1, **fields})


def own_mlp(config):
    """A user's model that reads its own `width`."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, config["width"]), nn.ReLU(), nn.Linear(config["width"], 10))


@pytest.mark.parametrize(("alias", "name"), [("lr", "learning_rate"), ("LR", "learning_rate"), ("wd", "weight_decay"),
                                             ("bs", "batch_size"), ("batch", "batch_size"), ("optim", "optimizer"),
                                             ("opt", "optimizer"), ("hidden", "hidden_size"), ("n_hidden", "hidden_size"),
                                             ("units", "hidden_size"), ("layers", "num_layers"),
                                             ("n_layers", "num_layers"), ("n_epochs", "epochs"),
                                             ("num_epochs", "epochs"), ("mom", "momentum"), ("norm", "normalization"),
                                             ("drop", "dropout"), ("gamma", "lr_decay"), ("Learning-Rate", "learning_rate")])
def test_another_spelling_is_refused_with_the_built_in_name(alias, name):
    with pytest.raises(StudyError, match=rf"field `space`: unknown hyperparameter `{alias}`: the built-in trainer "
                                         rf"calls it `{name}`; rename it to `{name}` in `space`\Z"):
        tiny_study(space={alias: [1]})
    with pytest.raises(StudyError, match=rf"unknown hyperparameter `{alias}`: .* `{name}` in `fixed`"):
        tiny_study(fixed={alias: 1})


def test_every_alias_names_a_hyperparameter_and_none_is_one():
    assert set(ALIASES) <= set(HPARAMS)
    spellings = [a for aliases in ALIASES.values() for a in aliases]
    assert len(spellings) == len(set(spellings)) and not set(spellings) & set(HPARAMS)
    assert renamed("learning_rate") is None and renamed("my_own_name") is None


def test_an_own_model_keeps_its_own_names_but_not_the_trainers():
    """`width` is the user's model's to read; `lr` would be read by the model and never reach the optimizer."""
    assert _study(model=own_mlp, fixed=FAST | {"width": 8}).fixed["width"] == 8
    with pytest.raises(StudyError, match=r"unknown hyperparameter `lr`: the built-in trainer calls it `learning_rate`"):
        _study(model=own_mlp, fixed={"width": 8}, space={"lr": [0.1, 0.01]})


def test_following_the_rename_trains_each_row_with_the_rate_it_records(tmp_path):
    """`lr` refused -> renamed `learning_rate`: a rate of 1e-9 leaves the loss where it started,
    0.5 lowers it, so each row's learning_rate is the one its optimizer used."""
    rows = _rows(_study(fixed=FAST, space={"learning_rate": [1e-9, 0.5]}), tmp_path)
    loss = rows.set_index("learning_rate")["train_loss"]
    assert set(loss.index) == {1e-9, 0.5}
    assert loss[1e-9] > 2.2 and loss[0.5] < loss[1e-9] - 0.2  # log(10) = 2.30: an untrained classifier


def test_a_misspelt_trainer_name_is_told_to_be_renamed_never_to_be_read_by_the_model(tmp_path):
    """The probe's hint for `lerning_rate` next to an own model is the rename, not "read it in
    the model" (which would leave the optimizer on its default); following it trains each rate."""
    study = _study(model=own_mlp, fixed=FAST | {"width": 8}, space={"lerning_rate": [1e-9, 0.5]})
    with pytest.raises(StudyError, match=r"hyperparameter `lerning_rate` is never read by the model function, nor by "
                                         r"the built-in trainer; did you mean `learning_rate`, which the built-in "
                                         r"trainer reads\? rename it to `learning_rate`\Z"):
        _rows(study, tmp_path / "refused")
    rows = _rows(_study(model=own_mlp, fixed=FAST | {"width": 8}, space={"learning_rate": [1e-9, 0.5]}), tmp_path)
    loss = rows.set_index("learning_rate")["train_loss"]
    assert loss[1e-9] > 2.2 and loss[0.5] < loss[1e-9] - 0.2


def test_an_unread_own_name_is_told_to_be_built_with_and_then_shapes_the_model(tmp_path):
    """`width` that the model ignores: the hint is to build with config['width']; a model that
    does gives rows whose width is the one their model has."""
    def ignores_width(config):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    refused = _study(model=ignores_width, fixed=FAST, space={"width": [1, 64]})
    with pytest.raises(StudyError, match=r"hyperparameter `width` is never read by the model function, nor by the "
                                         r"built-in trainer; remove it, or make the model build with config\['width'\]"):
        _rows(refused, tmp_path / "refused")
    study = _study(model=own_mlp, fixed=FAST | {"learning_rate": 0.5}, space={"width": [1, 64]}, weights="all")
    rows = _rows(study, tmp_path)
    assert sorted(rows["width"]) == [1, 64]
    from sweeper.analysis.results import load

    results = load(tmp_path / "names")
    assert sorted(results.model(rank, study=study)[1].out_features for rank in (1, 2)) == [1, 64]  # the kept weights' widths


def test_a_misspelt_name_the_model_reads_with_a_default_is_told_to_be_renamed(tmp_path):
    """A model that reads config.get("width", 8) and a study that gives `widht`: the hint is
    the rename, and then each row's model has the width the row records."""
    def reads_width(config):
        width = config.get("width", 8)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))

    with pytest.raises(StudyError, match=r"hyperparameter `widht` is never read .*; did you mean `width`, which the "
                                         r"model reads\? rename it to `width`\Z"):
        _rows(_study(model=reads_width, fixed=FAST, space={"widht": [1, 64]}), tmp_path / "refused")
    study = _study(model=reads_width, fixed=FAST | {"learning_rate": 0.5}, space={"width": [1, 64]}, weights="all")
    _rows(study, tmp_path)
    from sweeper.analysis.results import load

    results = load(tmp_path / "names")
    assert sorted(results.model(rank, study=study)[1].out_features for rank in (1, 2)) == [1, 64]


def test_a_built_in_models_name_next_to_an_own_model_is_told_what_it_shapes(tmp_path):
    with pytest.raises(StudyError, match=r"hyperparameter `hidden_size` is never read .*: it shapes the built-in "
                                         r"models only; remove it, or make the model build with config\['hidden_size'\]"):
        _rows(_study(model=own_mlp, fixed=FAST | {"width": 8, "hidden_size": 16}), tmp_path)


def test_an_unknown_name_of_the_built_in_model_points_to_an_own_model():
    with pytest.raises(StudyError, match=r"unknown hyperparameter `width_factor`; known: .*; a study's own names "
                                         r"reach only its own `model` or `train`"):
        tiny_study(space={"width_factor": [1, 2]})


def test_optimizer_names_are_read_in_any_case_and_recorded_as_the_built_in_names(tmp_path):
    upper = _study(fixed=FAST, space={"optimizer": ["Adam", "SGD", "RMSprop"]})
    lower = _study(fixed=FAST, space={"optimizer": ["adam", "sgd", "rmsprop"]})
    assert upper.space == lower.space and upper.fingerprint() == lower.fingerprint()
    assert _study(fixed=FAST | {"optimizer": "AdamW"}).fixed["optimizer"] == "adamw"
    rows = _rows(upper, tmp_path)
    assert sorted(rows["optimizer"]) == ["adam", "rmsprop", "sgd"]
    with pytest.raises(StudyError, match=r"`optimizer` = 'Adagrad' is not allowed"):
        _study(fixed={"optimizer": "Adagrad"})
    assert torch.optim.RMSprop.__name__ == "RMSprop"  # the spellings torch's classes use
