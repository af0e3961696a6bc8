"""The data behind each plot: sweeper.analysis.report_data on small tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from synthetic_results import write_results

import sweeper
from sweeper.analysis import report_data as rd


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    folder = tmp_path_factory.mktemp("r") / "grid"
    write_results(folder, {"learning_rate": [0.01, 0.1, 0.2], "momentum": [0.0, 0.9], "optimizer": ["sgd", "adam"]},
                  seeds=3, fail=[(0, 0, "diverged")])
    return sweeper.load(folder)


def curves_table(values: dict[tuple[str, int], list[float]], metric: str = "acc", split: str = "val") -> pd.DataFrame:
    rows = [(t, s, i + 1, i + 1, split, metric, v) for (t, s), vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows, columns=["trial", "seed", "epoch", "iteration", "split", "metric", "value"])


def summary_of(trials: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"trial": trials, "label": [f"x={t}" for t in trials], "rank": range(1, len(trials) + 1)})


def test_learning_curve_band_is_the_mean_and_t_interval_over_seeds():
    c = curves_table({("a", 0): [0.5, 0.7], ("a", 1): [0.6, 0.8], ("a", 2): [0.7, 0.9], ("b", 0): [0.1, 0.2]})
    d = rd.learning_curves(c, summary_of(["a", "b"]), "val", "acc")
    a = d[(d["trial"] == "a") & (d["iteration"] == 2)].iloc[0]
    assert a["mean"] == pytest.approx(0.8) and a["n"] == 3
    low, high = st.t.interval(0.95, 2, 0.8, st.sem([0.7, 0.8, 0.9]))  # 1.048 above: an accuracy's band stops at 1
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((low, min(high, 1.0)))
    b = d[d["trial"] == "b"]
    assert b["n"].tolist() == [1, 1] and b["ci_low"].isna().all()  # one seed: no band, not a zero-width one


def test_learning_curves_of_mini_batch_losses_are_smoothed_running_means():
    values = {("a", s): [float(i % 2) for i in range(100)] for s in range(2)}  # alternating 0, 1
    d = rd.learning_curves(curves_table(values, "batch_loss", "train"), summary_of(["a"]), "train", "batch_loss")
    window = d["window"].iloc[0]
    assert window == 100 // rd.SMOOTH_POINTS
    assert (d["iteration"] % window == 0).all()
    assert d["mean"].iloc[1:].to_numpy() == pytest.approx(0.5)


def test_each_configuration_is_smoothed_over_its_own_length():
    values = {("long", 0): [1.0] * 1000, ("short", 0): [1.0] * 32}  # batch 1 against batch 32 over one epoch
    d = rd.learning_curves(curves_table(values, "batch_loss", "train"), summary_of(["long", "short"]), "train", "batch_loss")
    windows = d.groupby("trial")["window"].first()
    assert windows["long"] == 1000 // rd.SMOOTH_POINTS and windows["short"] == 1
    assert (d["trial"] == "short").sum() == 32  # the short run keeps its points, not one dot


def test_learning_curves_show_the_best_configurations_only():
    c = curves_table({(t, 0): [0.5] for t in "abcd"})
    d = rd.learning_curves(c, summary_of(list("abcd")), "val", "acc", limit=2)
    assert d["trial"].unique().tolist() == ["a", "b"]


def test_heatmap_cell_is_the_best_configuration_of_that_cell(grid):
    assert rd.heatmap_axes(grid.trials, grid.searched) == ("learning_rate", "momentum")
    h = rd.heatmap(grid.summary, "learning_rate", "momentum", "val_acc")
    assert len(h) == 6
    s = grid.summary
    for r in h.itertuples():
        cell = s[(s["learning_rate"] == r.learning_rate) & (s["momentum"] == r.momentum)]
        best = cell.sort_values("rank").iloc[0]  # by rank: a configuration that lost a seed comes last
        assert r.mean == pytest.approx(best["val_acc_mean"])
        assert r.sd == pytest.approx(best["val_acc_sd"])


def test_seed_values_hold_every_successful_seed(grid):
    d = rd.seed_values(grid.trials, grid.summary, "val_acc")
    assert len(d) == 12 * 3 - 1  # one diverged seed
    assert d["rank"].is_monotonic_increasing


def test_choice_effects_one_point_per_configuration_or_pooled(grid):
    d = rd.choice_effects(grid.trials, grid.summary, "optimizer", grid.searched, "val_acc")
    assert len(d) == 12 and d["group"].nunique() == 6 and set(d["level"]) == {"sgd", "adam"}
    trials = grid.trials.assign(batch_size=np.arange(len(grid.trials)) % 7)  # many settings of the others
    summary = grid.summary.assign(batch_size=np.arange(12) % 7)
    pooled = rd.choice_effects(trials, summary, "optimizer", [*grid.searched, "batch_size"], "val_acc")
    assert len(pooled) == 2 and pooled["group"].str.startswith("pooled").all()
    ok = grid.trials[grid.trials["status"] == "ok"]
    sgd = pooled.set_index("level").loc["sgd"]
    assert sgd["mean"] == pytest.approx(ok.loc[ok["optimizer"] == "sgd", "val_acc"].mean())
    assert sgd["n"] == (ok["optimizer"] == "sgd").sum()


def test_best_so_far_follows_the_order_tried():
    s = pd.DataFrame({"trial": list("abcd"), "label": list("abcd"), "val_loss_mean": [0.5, 0.7, np.nan, 0.3]})
    d = rd.best_so_far(s, "val_loss", "minimize")
    assert d["order"].tolist() == [1, 2, 3, 4]
    assert d["best_so_far"].tolist() == [0.5, 0.5, 0.5, 0.3]


def test_generalization_gap_is_paired_by_seed(grid):
    d = rd.generalization_gap(grid.trials, grid.summary, "acc")
    assert set(d["quantity"]) == {"train", "val", "gap"}
    first = d[d["trial"] == d["trial"].iloc[0]].set_index("quantity")
    assert first.loc["gap", "mean"] == pytest.approx(first.loc["train", "mean"] - first.loc["val", "mean"])


def test_display_table_is_ranked_text(grid):
    t = rd.display_table(grid.summary, grid.comparisons, "val_acc")
    assert t["rank"].tolist()[:2] == ["1", "2"] and t["verdict"].iloc[0] == "best"
    three = t["seeds ok/failed/diverged"].str.startswith("3/")  # below 3 seeds, a mean and no interval
    assert t.loc[three, "val_acc mean [95% CI]"].str.match(r"^0\.\d{4} \[0\.\d{4}, 0\.\d{4}\]$").all()
    assert t.loc[~three, "val_acc mean [95% CI]"].str.match(r"^0\.\d{4}$").all() and (~three).sum() == 1
    assert "1/0/0" not in t["seeds ok/failed/diverged"].tolist()
    assert (t["seeds ok/failed/diverged"] == "2/0/1").sum() == 1


def test_display_table_limit_gives_the_best_rows_of_the_whole_table(grid):
    whole = rd.display_table(grid.summary, grid.comparisons, "val_acc")
    best = rd.display_table(grid.summary, grid.comparisons, "val_acc", limit=4)
    pd.testing.assert_frame_equal(best, whole.head(4))
    assert len(whole) == len(grid.summary) > 4
