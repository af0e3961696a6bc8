"""The data behind the pictures at a glance (`sweeper.analysis.landscape`) and the report's
files drawn from it: importance bars, parallel coordinates, slices and the contour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_results import write_results

import sweeper
from sweeper.analysis import landscape
from sweeper.analysis.report import write_report


def summary() -> pd.DataFrame:
    return pd.DataFrame({"trial": ["a", "b", "c", "d"], "rank": [1, 2, 3, np.nan],
                         "lr": [1e-3, 1e-2, 1e-1, 1.0], "opt": pd.Categorical(["sgd", "adam", "sgd", None]),
                         "width": [8, 8, 8, 8], "val_acc_mean": [0.9, 0.8, 0.5, np.nan],
                         "val_acc_ci_low": [0.85, 0.7, 0.4, np.nan], "val_acc_ci_high": [0.95, 0.9, 0.6, np.nan],
                         "n_ok": [3, 3, 2, 0], "n_failed": [0, 0, 0, 1], "n_diverged": [0, 0, 1, 2]})


def test_importance_bars_put_hyperparameters_first_and_the_seeds_last():
    table = pd.DataFrame({"source": ["lr", "rest", "opt", "lr x opt", "seeds"], "share": [0.5, 0.1, 0.2, 0.05, 0.15],
                          "ci_low": 0.0, "ci_high": 1.0})
    bars = landscape.importance_bars(table)
    assert bars["source"].tolist() == ["lr", "opt", "lr x opt", "rest", "seeds"]
    assert bars["kind"].tolist() == ["hyperparameter", "hyperparameter", "interaction", "rest", "seeds"]


def test_parallel_places_log_values_choices_and_inactive_cells():
    data = landscape.parallel(summary(), ["lr", "opt", "width"], "val_acc", {"space": {"lr": "loguniform(1e-3, 1)"}})
    assert list(dict.fromkeys(data["axis"])) == ["lr", "opt", "val_acc"]  # width does not vary: no axis
    lr = data[data["axis"] == "lr"].set_index("trial")["position"]
    assert np.allclose(lr.to_numpy(), [0, 1 / 3, 2 / 3, 1])  # evenly spaced on the log scale
    opt = data[data["axis"] == "opt"].set_index("trial")["position"]
    assert opt["d"] == landscape.INACTIVE  # the empty cell sits below the axis
    metric = data[data["axis"] == "val_acc"].set_index("trial")
    assert metric.loc["a", "position"] == 1 and metric.loc["c", "position"] == 0
    assert metric.loc["d", "n_lost"] == 3 and metric.loc["c", "n_lost"] == 1  # failed and diverged seeds counted
    assert metric.loc["b", "ci_low"] < metric.loc["b", "position"] < metric.loc["b", "ci_high"]


def test_slices_keep_each_configurations_interval_and_the_log_scale():
    data = landscape.slices(summary(), ["lr", "opt", "width"], "val_acc", {"space": {"lr": "loguniform(1e-3, 1)"}})
    assert set(data["name"]) == {"lr", "opt"}
    lr = data[data["name"] == "lr"]
    assert lr["log"].all() and lr["numeric"].all() and len(lr) == 3  # d has no result
    assert (lr["ci_low"] <= lr["mean"]).all()
    assert not data[data["name"] == "opt"]["numeric"].any()


def test_contour_takes_the_two_most_important_numeric_hyperparameters():
    table = pd.DataFrame({"source": ["opt", "lr", "width", "seeds"], "share": [0.5, 0.3, 0.1, 0.1]})
    s = summary().assign(width=[8, 16, 32, 64])
    assert landscape.contour_axes(table, s) == ("lr", "width")
    assert len(landscape.contour(s, "lr", "width", "val_acc")) == 3


@pytest.mark.slow  # a whole report: about 10 s on a shared machine
def test_the_report_draws_the_pictures_at_a_glance(tmp_path):
    space = {"learning_rate": [0.01, 0.03, 0.1, 0.3], "momentum": [0.0, 0.5, 0.9]}
    folder = write_results(tmp_path / "grid", space, fail=[(0, 1, "diverged")])
    report = write_report(sweeper.load(folder))
    files = {p.file for p in report.plots}
    assert {"importance.png", "parallel.png", "slice_learning_rate.png", "slice_momentum.png", "contour.png"} <= files
    page = report.index.read_text()
    assert "explains" in page and 'src="importance.png"' in page
