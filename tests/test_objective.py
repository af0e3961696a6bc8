"""An Optuna objective, unchanged (`Study(objective=...)`), and define-by-run (conditional) spaces."""

from __future__ import annotations

import math
import random

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

import sweeper
from sweeper import Rungs, Study
from sweeper.errors import StudyError
from sweeper.usercode.objective import ObjectiveTrial, sample

SEEN: list[tuple] = []  # what each call of the objective saw, in this process (the sequential executor)


def conditional(trial):
    """Optuna's pytorch_simple shape without the training: n_layers decides which n_units_l{i} exist."""
    n_layers = trial.suggest_int("n_layers", 1, 3)
    units = [trial.suggest_int(f"n_units_l{i}", 4, 128, log=True) for i in range(n_layers)]
    optimizer = trial.suggest_categorical("optimizer", ["Adam", "RMSprop", "SGD"])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    SEEN.append((trial.number, trial.seed, dict(trial.params), random.random(), float(np.random.rand()),
                 float(torch.rand(1))))
    trial.set_user_attr("width", sum(units))
    trial.set_user_attr("family", optimizer.lower())
    for epoch in range(2):
        trial.report(math.log10(lr) + epoch, epoch)
    return -abs(math.log10(lr) + 2) - 0.01 * n_layers + 0.001 * trial.seed


def _run(study, tmp_path, **kw):
    return sweeper.run(study, results=tmp_path, executor="sequential", progress=False, **kw)


def test_an_objective_runs_once_per_configuration_and_seed_and_rows_record_only_active_values(tmp_path):
    SEEN.clear()
    study = Study(name="obj", objective=conditional, direction="maximize", sampler="random", n_trials=8, seeds=3)
    results = _run(study, tmp_path)
    rows = pd.read_csv(tmp_path / "obj" / "trials.csv")
    assert len(rows) == 24 and set(rows["status"]) == {"ok"}
    assert "value" in rows  # the returned number's column, by default
    for _, row in rows.iterrows():  # a layer's units are recorded exactly where the layer exists
        for i in range(3):
            assert pd.isna(row[f"n_units_l{i}"]) == (i >= row["n_layers"]), row.to_dict()
    # every seed of a configuration got the same parameters and number; each seed its own RNG state
    by_number: dict[int, list] = {}
    for number, seed, params, *_ in SEEN:
        by_number.setdefault(number, []).append((seed, params))
    assert len(by_number) == 8
    for runs in by_number.values():
        assert sorted(s for s, _ in runs) == [0, 1, 2] and all(p == runs[0][1] for _, p in runs)
    draws = {(seed, r, n, t) for _, seed, _, r, n, t in SEEN}
    assert len({d[1:] for d in draws}) == 3  # Python, NumPy and torch seeded by the seed: 3 distinct states
    # set_user_attr -> columns; report -> curve rows of the metric, one per report
    assert set(rows["family"]) <= {"adam", "rmsprop", "sgd"} and (rows["width"] > 0).all()
    curves = pd.read_csv(tmp_path / "obj" / "curves.csv")
    assert set(curves["metric"]) == {"value"} and len(curves) == 24 * 2
    # labels name only the active values
    label = results.summary["label"].iloc[0]
    best = rows[rows["trial"] == results.summary["trial"].iloc[0]].iloc[0]
    assert all((f"n_units_l{i}=" in label) == (i < best["n_layers"]) for i in range(3)), label


def test_a_resumed_objective_study_proposes_the_same_configurations_and_trains_nothing(tmp_path):
    study = Study(name="again", objective=conditional, direction="maximize", sampler="bayes", n_trials=6, seeds=2)
    _run(study, tmp_path)
    first = pd.read_csv(tmp_path / "again" / "trials.csv")
    SEEN.clear()
    _run(study, tmp_path)
    assert SEEN == []  # nothing trained again (the sampling pass stops before the objective's training)
    assert pd.read_csv(tmp_path / "again" / "trials.csv").equals(first)


def test_the_sampling_pass_stops_at_training_and_leaves_no_trace():
    calls = []

    def objective(trial):
        x = trial.suggest_float("x", 0, 1)
        model = torch.nn.Linear(2, 1)
        calls.append("built")
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 2)), batch_size=2)
        for (batch,) in loader:  # the first batch ends the pass
            calls.append("trained")
            model(batch).sum().backward()
        return x

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    state = torch.get_rng_state()
    params = sample(objective, study.ask(), {})
    assert set(params) == {"x"} and calls == ["built"]
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.utils.data.DataLoader.__iter__ is not None and "trained" not in calls
    # and afterwards training works as ever
    list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(2, 2)), batch_size=1))


def test_a_tuple_return_fails_its_rows_in_one_line(tmp_path):
    def two(trial):
        return trial.suggest_float("x", 0, 1), 1.0

    study = Study(name="two", objective=two, direction="maximize", sampler="random", n_trials=1, seeds=1)
    with pytest.raises(sweeper.errors.TrialsFailed, match="returned 2 values .*return one number"):
        _run(study, tmp_path)


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "field `direction` is missing"),
    ({"direction": "maximize", "space": {"x": [1, 2]}}, "the objective's own trial.suggest_\\* calls are its space"),
    ({"direction": "maximize", "model": "mlp"}, "field `model`: a study with an `objective`"),
])
def test_an_objective_study_that_cannot_be_run_is_one_line(fields, message):
    with pytest.raises(StudyError, match=message):
        Study(name="bad", objective=conditional, sampler="random", n_trials=2, **fields)


def test_a_grid_over_an_objective_takes_its_values_from_space_and_a_missing_one_is_named(tmp_path):
    def objective(trial):
        return trial.suggest_float("x", 0, 10) + trial.suggest_int("k", 0, 3)

    study = Study(name="grid", objective=objective, direction="maximize", space={"x": [1.0, 2.0], "k": [0, 3]}, seeds=1)
    rows = pd.read_csv(tmp_path / "grid" / "trials.csv") if _run(study, tmp_path) else None
    assert sorted(rows["value"]) == [1.0, 2.0, 4.0, 5.0]
    short = Study(name="short", objective=objective, direction="maximize", space={"x": [1.0]}, seeds=1)
    with pytest.raises(sweeper.errors.TrialsFailed, match="suggested `k`.*suggest every hyperparameter"):
        _run(short, tmp_path)


def test_the_worker_trial_refuses_a_value_outside_the_objectives_range():
    trial = ObjectiveTrial({"x": 20.0}, seed=0, metric="value", number=1)
    with pytest.raises(ValueError, match="outside the objective's"):
        trial.suggest_float("x", 0, 10)


def pruned_objective(trial):
    x = trial.suggest_float("x", -3, 3)
    kind = trial.suggest_categorical("kind", ["good", "bad"])
    value = 0.0
    for step in range(9):
        value = -(x - 1) ** 2 - (5 if kind == "bad" else 0) + 0.1 * step + 0.05 * ((trial.seed * 7 + step) % 3)
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def test_should_prune_with_rungs_and_bayesian_search_spends_less_and_tells_the_sampler(tmp_path):
    study = Study(name="pr", objective=pruned_objective, direction="maximize", sampler="bayes", n_trials=12, seeds=3,
                  concurrent_configs=4, prune=Rungs(resource="epochs", rungs=(1, 3)), fixed={"epochs": 9})
    results = _run(study, tmp_path)
    pruning = pd.read_csv(tmp_path / "pr" / "pruning.csv")
    assert (pruning["state"] == "pruned").any() and (pruning["state"] == "complete").any()
    rows = pd.read_csv(tmp_path / "pr" / "trials.csv")
    spent = rows["epochs"].sum()
    assert spent < 12 * 3 * 9  # the full design
    full = rows[rows["epochs"] == 9]
    assert (full["status"] == "ok").all() and set(full["kind"]) == {"good"}  # only good ones reach the full budget
    rung = rows[(rows["epochs"] == 1)]
    assert set(rung["status"]) <= {"pruned", "promoted"}
    ranked = results.summary.dropna(subset=["rank"]).sort_values("rank")
    assert ranked["label"].iloc[0].endswith("kind=good")


def test_a_define_by_run_space_for_the_builtin_trainer_records_only_active_values(tmp_path):
    def space(trial):
        if trial.suggest_categorical("optimizer", ["sgd", "adam"]) == "sgd":
            trial.suggest_float("momentum", 0.0, 0.9)
        trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True)
        trial.suggest_categorical("dropout", [0.0, 0.1])

    study = Study(name="dbr", dataset="digits", split={"train": 400, "val": 200}, space=space, sampler="random",
                  n_trials=6, seeds=2, fixed={"epochs": 1, "hidden_size": 16})
    _run(study, tmp_path)
    rows = pd.read_csv(tmp_path / "dbr" / "trials.csv")
    assert len(rows) == 12 and set(rows["status"]) == {"ok"}
    assert rows.groupby("trial")[["learning_rate", "dropout"]].nunique().max().max() == 1


def test_a_conditional_name_read_only_where_active_passes_the_probe_and_an_unread_one_is_refused():
    def model(config):
        layers, width = [torch.nn.Flatten()], 64
        for i in range(config["n_layers"]):
            layers += [torch.nn.Linear(width, config[f"n_units_l{i}"]), torch.nn.ReLU()]
            width = config[f"n_units_l{i}"]
        return torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))

    def space(trial):
        for i in range(trial.suggest_int("n_layers", 1, 2)):
            trial.suggest_int(f"n_units_l{i}", 8, 16)

    study = Study(name="cond", dataset="digits", split={"train": 400, "val": 200}, model=model, space=space,
                  sampler="random", n_trials=2, fixed={"epochs": 1})
    study.trainer.prepare("data", lambda m: None, study.foreseen_configs())  # no error: n_units_l1 is read where active

    def typo(trial):
        space(trial)
        trial.suggest_int("n_unit_l0", 8, 16)

    bad = Study(name="cond", dataset="digits", split={"train": 400, "val": 200}, model=model, space=typo,
                sampler="random", n_trials=2, fixed={"epochs": 1})
    with pytest.raises(StudyError, match="`n_unit_l0`.*never read by the model"):
        bad.trainer.prepare("data", lambda m: None, bad.foreseen_configs())


def test_a_grid_cannot_take_a_space_function():
    with pytest.raises(StudyError, match="a grid cannot enumerate a define-by-run space"):
        Study(name="g", dataset="digits", space=lambda trial: trial.suggest_float("learning_rate", 0.01, 0.1))


def test_an_objectives_categoricals_are_all_tried_within_the_bayesian_start_up(tmp_path):
    def objective(trial):
        name = trial.suggest_categorical("optimizer", ["Adam", "RMSprop", "SGD", "Adagrad"])
        return trial.suggest_float("lr", 1e-4, 1e-1, log=True) * (2 if name == "SGD" else 1)

    study = Study(name="cats", objective=objective, direction="maximize", sampler="bayes", n_trials=12, seeds=1)
    _run(study, tmp_path)
    rows = pd.read_csv(tmp_path / "cats" / "trials.csv")
    assert study.startup_trials == 10
    assert set(rows["optimizer"].iloc[:4]) == {"Adam", "RMSprop", "SGD", "Adagrad"}


def test_a_grid_name_the_objective_never_suggests_is_refused_before_the_run(tmp_path):
    def objective(trial):
        return trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)

    study = Study(name="typo", objective=objective, direction="maximize", space={"lr": [0.01, 0.1]}, seeds=1)
    with pytest.raises(StudyError, match="`lr` is never suggested by the objective .*suggests learning_rate"):
        _run(study, tmp_path)
    assert not (tmp_path / "typo" / "trials.csv").exists()


def test_optunas_older_suggest_names_work_in_the_sampling_pass_and_the_worker():
    def objective(trial):
        return trial.suggest_uniform("a", 0, 1) + trial.suggest_loguniform("b", 1e-3, 1) + \
            trial.suggest_discrete_uniform("c", 0, 1, 0.5)

    params = sample(objective, optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask(), {})
    assert set(params) == {"a", "b", "c"} and params["c"] in (0.0, 0.5, 1.0)
    trial = ObjectiveTrial(params, seed=0, metric="value", number=1)
    assert objective(trial) == sum(params.values()) and trial.params == params
