"""The user's own code as plug-ins: model, data, metrics and training loop; own
hyperparameters; failures of user code as rows and clear lines."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
import torch
from torch import nn

import sweeper
from sweeper import Split, Study
from sweeper.errors import DataError, StudyError, TrialsFailed
from sweeper.execution.runner import run_study


def _run(study, results, **kw):
    return run_study(study, results_root=results, data_root="unused", jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO(), **kw)


def _trials(results, name):
    return pd.read_csv(results / name / "trials.csv")


def small_net(config):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, config["width"]), nn.ReLU(), nn.Linear(config["width"], 10))


def own_model_study(**overrides):
    fields = dict(name="own", dataset="digits", split=Split(train=300, val=200), model=small_net,
                  fixed={"epochs": 2, "batch_size": 32}, space={"width": [8, 16]}, seeds=2)
    return Study(**(fields | overrides))


def regression_data(n=240, noise=0.1):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 1.5]) + noise * torch.randn(n, generator=g)
    return (x[:160], y[:160]), (x[160:200], y[160:200]), (x[200:], y[200:])


def linear(config):
    return nn.Sequential(nn.Linear(5, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 1))


# -- own model, built-in trainer --------------------------------------------------------
def test_an_own_model_with_its_own_hyperparameter_trains_with_the_builtin_trainer(tmp_path):
    _run(own_model_study(), tmp_path)
    df = _trials(tmp_path, "own")
    assert len(df) == 4 and (df["status"] == "ok").all() and df["val_acc"].min() > 0.2  # chance: 0.1
    assert "width" in df and "hidden_size" not in df and "model" not in df  # the built-in model's names are not its
    assert sorted(df["width"].unique()) == [8, 16]


def test_a_name_no_part_of_the_study_reads_is_refused_with_a_suggestion(tmp_path):
    study = own_model_study(fixed={"epochs": 2, "batch_size": 32, "widht": 4})
    with pytest.raises(StudyError, match="`widht` .*did you mean `width`"):
        _run(study, tmp_path)
    assert not (tmp_path / "own").exists()


def test_a_model_function_that_returns_no_module_is_refused_before_any_row(tmp_path):
    with pytest.raises(StudyError, match="returned str, not a torch.nn.Module"):
        _run(own_model_study(model=lambda config: "mlp", space={}), tmp_path)
    assert not (tmp_path / "own").exists()


def test_a_model_that_cannot_take_the_data_is_refused(tmp_path):
    wrong = lambda config: nn.Linear(784, 10)  # noqa: E731 (MNIST's size, on 8x8 digits)
    with pytest.raises(StudyError, match="cannot take inputs of shape"):
        _run(own_model_study(model=wrong, space={}), tmp_path)


def test_user_metrics_on_every_split_give_columns_and_curves(tmp_path):
    def error_rate(out, y):
        return (out.argmax(1) != y).float().mean().item()

    _run(own_model_study(metrics={"err": error_rate}, space={}, fixed={"epochs": 2, "batch_size": 32, "width": 8}),
         tmp_path)
    df = _trials(tmp_path, "own")
    assert {"train_err", "val_err"} <= set(df.columns)
    assert df["val_err"].to_numpy() == pytest.approx(1 - df["val_acc"].to_numpy())
    curves = pd.read_csv(tmp_path / "own" / "curves.csv")
    assert set(curves.loc[curves.metric == "err", "split"]) == {"train", "val"}


def test_a_metric_that_raises_is_refused_when_the_study_loads(tmp_path):
    def broken(out, y):
        raise ValueError("no")

    with pytest.raises(StudyError, match="`metrics`: `broken` raised ValueError: no"):
        _run(own_model_study(metrics={"broken": broken}), tmp_path)


def test_vectorized_seeds_of_an_own_model_match_one_at_a_time(tmp_path):
    study = own_model_study(seeds=3, space={"width": [8]}, fixed={"epochs": 2, "batch_size": 32})
    _run(study, tmp_path / "one")
    _run(study.vectorized(), tmp_path / "vec")
    one, vec = (_trials(tmp_path / d, "own").sort_values("seed").reset_index(drop=True) for d in ("one", "vec"))
    for col in ("val_loss", "val_acc", "train_loss"):
        assert vec[col].to_numpy() == pytest.approx(one[col].to_numpy(), abs=1e-5)


# -- own data ------------------------------------------------------------------------
def test_own_tensors_make_a_regression_with_rmse(tmp_path):
    study = Study(name="reg", data=regression_data(), model=linear, fixed={"epochs": 30, "batch_size": 16,
                  "optimizer": "adam", "learning_rate": 0.01, "hidden": 16}, metric="val_rmse", seeds=2)
    assert study.direction == "minimize"
    summary = _run(study, tmp_path)
    df = _trials(tmp_path, "reg")
    assert summary.dataset == "own" and (df["status"] == "ok").all()
    assert {"val_rmse", "test_rmse", "best_val_rmse"} <= set(df.columns) and "val_acc" not in df
    assert df["val_rmse"].to_numpy() == pytest.approx(df["val_loss"].to_numpy() ** 0.5)
    assert df["val_rmse"].max() < 0.5 * float(regression_data()[1][1].std())  # learned: predicting the mean scores 1 SD


def test_own_datasets_and_a_data_function_classify(tmp_path):
    class Points(torch.utils.data.Dataset):
        def __init__(self, n, shift):
            g = torch.Generator().manual_seed(n)
            self.x = torch.randn(n, 3, generator=g)
            self.y = (self.x.sum(1) > shift).long() + (self.x[:, 0] > 1).long()  # 3 classes

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i], self.y[i]

    study = Study(name="cls", data=lambda: {"train": Points(200, 0), "val": Points(100, 0)},
                  model=lambda c: nn.Linear(3, 3), fixed={"epochs": 5, "batch_size": 20}, seeds=1)
    _run(study, tmp_path)
    df = _trials(tmp_path, "cls")
    assert df["status"].tolist() == ["ok"] and not any(c.startswith("test_") for c in df.columns)
    assert df["val_acc"].iloc[0] > 0.5


def test_data_of_mismatched_lengths_is_one_clear_error(tmp_path):
    bad = ((torch.zeros(10, 2), torch.zeros(9)), (torch.zeros(4, 2), torch.zeros(4)))
    study = Study(name="bad", data=bad, model=lambda c: nn.Linear(2, 1), fixed={"batch_size": 2}, metric="val_rmse")
    with pytest.raises(DataError, match="split `train` has 10 inputs but 9 targets"):
        _run(study, tmp_path)


def test_a_study_error_never_quotes_a_whole_tensor():
    with pytest.raises(StudyError) as e:
        Study(name="x", dataset=torch.zeros(1000, 10))
    assert len(str(e.value)) < 300 and "shape (1000, 10)" in str(e.value)


# -- own training loop -----------------------------------------------------------------
def loop(config, seed, log):
    import random

    import numpy as np

    noise = random.random() + np.random.rand() + torch.rand(1).item()  # all three are seeded
    for epoch in range(1, 4):
        log(epoch=epoch, val_score=config["x"] * epoch)
    return {"val_score": config["x"] + 0.001 * noise, "extra": float(seed)}


def test_an_own_loop_gets_its_names_seeds_and_log(tmp_path):
    study = Study(name="loop", train=loop, space={"x": [1.0, 2.0]}, fixed={"anything": "goes"}, metric="val_score",
                  seeds=2)
    _run(study, tmp_path)
    _run(study, tmp_path / "again")
    df, again = (_trials(d, "loop").sort_values(["x", "seed"]) for d in (tmp_path, tmp_path / "again"))
    assert list(df.columns[3:5]) == ["anything", "x"] and {"val_score", "extra"} <= set(df.columns)
    assert df["val_score"].tolist() == again["val_score"].tolist()  # seeded
    assert df.groupby("seed")["val_score"].apply(lambda v: v.iloc[1] - v.iloc[0]).round(6).tolist() == [1.0, 1.0]
    curves = pd.read_csv(tmp_path / "loop" / "curves.csv")
    assert set(curves["split"]) == {"val"} and set(curves["metric"]) == {"score"} and len(curves) == 12


def broken_loop(config, seed, log):
    if config["mode"] == "raise":
        return {"val_score": 1 / 0}
    if config["mode"] == "text":
        return {"val_score": "high"}
    return {"other": 1.0}


def test_failures_of_an_own_loop_are_rows_that_say_why(tmp_path):
    study = Study(name="broken", train=broken_loop, space={"mode": ["raise", "text", "missing"]}, metric="val_score",
                  seeds=1)
    _run(study, tmp_path)
    errors = dict(zip(_trials(tmp_path, "broken")["mode"], _trials(tmp_path, "broken")["error"]))
    assert errors["raise"].startswith("ZeroDivisionError") and f"{__file__}:" in errors["raise"]
    assert "metric `val_score` = 'high' is not a number" in errors["text"]
    assert "returned no `val_score`" in errors["missing"]


def test_a_train_function_without_log_is_refused_at_load():
    with pytest.raises(StudyError, match=r"must take \(config, seed, log\)"):
        Study(name="x", train=lambda config, seed: {"val_acc": 1.0})


def test_vectorize_is_refused_for_an_own_loop():
    with pytest.raises(StudyError, match="vectorize"):
        Study(name="x", train=loop, vectorize=True, metric="val_score")


def test_sweeper_run_returns_results_and_raises_when_every_trial_failed(tmp_path):
    r = sweeper.run(Study(name="loop", train=loop, space={"x": [1.0]}, metric="val_score", seeds=2),
                    executor="sequential", results=tmp_path, progress=False)
    assert r.metric == "val_score" and len(r.trials) == 2 and r.summary["rank"].tolist() == [1]
    with pytest.raises(TrialsFailed, match="ZeroDivisionError"):
        sweeper.run(Study(name="bad", train=broken_loop, space={"mode": ["raise"]}, metric="val_score", seeds=1),
                    executor="sequential", results=tmp_path, progress=False)


# -- what the built-in trainer refuses, and what it never trains twice ----------------------
@pytest.mark.parametrize("fields, message", [
    ({"fixed": {"model": "cnn", "normalization": "layernorm"}}, "model 'cnn' supports normalization"),
    ({"fixed": {"model": "lenet"}}, "model 'lenet' needs images of at least 28x28"),
    ({"fixed": {"nesterov": True, "momentum": 0.0}}, "`nesterov` = True needs"),
    ({"space": {"model": ["mlp", "cnn"], "normalization": ["none", "layernorm"]}}, "with {'model': 'cnn'"),
])
def test_combinations_the_builtin_trainer_cannot_train_are_refused_at_load(fields, message):
    with pytest.raises(StudyError, match=message.replace("(", r"\(").replace("{", r"\{")):
        Study(name="x", dataset="digits", **fields)


def test_a_hyperparameter_without_effect_never_makes_a_second_configuration(tmp_path):
    study = Study(name="dup", dataset="digits", split=Split(train=300, val=100),
                  fixed={"epochs": 1, "hidden_size": 8, "batch_size": 50},
                  space={"optimizer": ["sgd", "adam"], "momentum": [0.0, 0.9]}, seeds=1)
    assert study.planned_configs() == 3  # adam ignores momentum: once, not twice
    summary = _run(study, tmp_path)
    assert summary.trained == 3 and _trials(tmp_path, "dup")["trial"].nunique() == 3


def test_a_batch_larger_than_the_training_split_is_refused_before_any_row(tmp_path):
    study = Study(name="big", dataset="digits", split=Split(train=100, val=50), fixed={"batch_size": 128})
    with pytest.raises(StudyError, match="larger than the training split"):
        _run(study, tmp_path)
    assert not (tmp_path / "big").exists()


def test_diverged_and_failed_rows_carry_no_metric(tmp_path):
    study = Study(name="div", dataset="digits", split=Split(train=300, val=100),
                  fixed={"epochs": 1, "learning_rate": 1e30, "hidden_size": 8}, seeds=1)
    _run(study, tmp_path)
    row = _trials(tmp_path, "div").iloc[0]
    assert row["status"] == "diverged" and math.isnan(row["val_acc"]) and math.isnan(row["train_loss"])
    assert row["iterations"] >= 1  # counts stay


def test_the_progress_line_redraws_in_a_jupyter_cell(monkeypatch):
    import sys
    import types

    from sweeper.execution.progress import Progress

    class ZMQInteractiveShell:  # what get_ipython() returns in a Jupyter kernel
        pass

    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=ZMQInteractiveShell))
    out = io.StringIO()
    progress = Progress("s", 2, 0, out)
    progress.update("ok", "x=1 val_acc=0.5 (1 seeds)")
    progress.update("ok")
    assert out.getvalue().count("\r") == 2 and "\033" not in out.getvalue() and "2/2 trials" in out.getvalue()
