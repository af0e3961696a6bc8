"""Importance against the seeds (`sweeper.analysis.importance`, `Results.importance()`): the
shares find the hyperparameter that matters and the seeds' noise, on synthetic studies whose
split is known; failed seeds, inactive hyperparameters and crossed seeds are handled."""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
import pytest

from sweeper.analysis.importance import COLUMNS, importance, line

SEEDS = 4


def grid_trials(rng: np.random.Generator, effect_a: float = 1.0, effect_b: float = 0.0, noise: float = 0.5,
                interaction: float = 0.0) -> pd.DataFrame:
    """A 5 x 4 grid of a and b, SEEDS seeds each: y = effect_a * a + effect_b * b + interaction * a * b + noise."""
    rows = []
    for i, (a, b) in enumerate(product(np.linspace(-1, 1, 5), np.linspace(-1, 1, 4))):
        for s in range(SEEDS):
            y = effect_a * a + effect_b * b + interaction * a * b + rng.normal(0, noise)
            rows.append({"trial": f"t{i}", "seed": s, "a": a, "b": b, "status": "ok", "val_acc": y})
    return pd.DataFrame(rows)


def random_trials(rng: np.random.Generator, configs: int = 150) -> pd.DataFrame:
    x = rng.uniform(size=(configs, 3))
    mean = 2 * x[:, 0]  # only a matters
    y = np.repeat(mean, SEEDS) + rng.normal(0, 0.2, configs * SEEDS)
    return pd.DataFrame({"trial": np.repeat([f"t{i}" for i in range(configs)], SEEDS),
                         "seed": np.tile(range(SEEDS), configs), "a": np.repeat(x[:, 0], SEEDS),
                         "b": np.repeat(x[:, 1], SEEDS), "c": np.repeat(10 ** (-4 * x[:, 2]), SEEDS),
                         "status": "ok", "val_acc": y})


def test_a_grid_finds_the_hyperparameter_that_matters_and_the_seeds():
    trials = grid_trials(np.random.default_rng(0))
    table = importance(trials, ["a", "b"], "val_acc", {"sampler": "grid"})
    assert list(table.columns) == COLUMNS
    shares = table.set_index("source")["share"]
    # truth: a's levels have variance 0.5 (of -1 .. 1 in 5 steps), the seeds 0.25: a 2/3, seeds 1/3
    assert shares["a"] == pytest.approx(2 / 3, abs=0.12)
    assert shares["seeds"] == pytest.approx(1 / 3, abs=0.1)
    assert shares["b"] < 0.05
    assert "a x b" in shares  # a full grid: the pair's interaction is its own row
    assert shares.sum() == pytest.approx(1.0)
    assert table["source"].iloc[0] == "a" and table["source"].iloc[-1] == "seeds"  # largest first, seeds last
    assert (table["ci_low"] <= table["share"] + 1e-9).all() and (table["share"] <= table["ci_high"] + 1e-9).all()


def test_an_interaction_on_a_grid_is_its_own_source():
    trials = grid_trials(np.random.default_rng(1), effect_a=0.0, interaction=2.0, noise=0.2)
    shares = importance(trials, ["a", "b"], "val_acc", {"sampler": "grid"}).set_index("source")["share"]
    assert shares["a x b"] > 0.6
    assert shares["a"] < 0.1 and shares["b"] < 0.1


def test_a_random_search_bins_its_values_and_has_no_pairs():
    trials = random_trials(np.random.default_rng(2))
    table = importance(trials, ["a", "b", "c"], "val_acc", {"sampler": "random", "space": {"c": "loguniform(1e-4, 1)"}})
    shares = table.set_index("source")["share"]
    assert shares["a"] > 0.8 and shares["b"] < 0.05 and shares["c"] < 0.05
    assert not any(" x " in s for s in table["source"])
    assert "ANOVA" in table.attrs["note"]


def test_failed_and_diverged_seeds_are_left_out_and_counted():
    trials = grid_trials(np.random.default_rng(3))
    trials.loc[[0, 5], "status"] = ["failed", "diverged"]
    trials.loc[[0, 5], "val_acc"] = [np.nan, np.inf]
    table = importance(trials, ["a", "b"], "val_acc", {"sampler": "grid"})
    assert np.isfinite(table["share"]).all()
    assert "2 failed or diverged seeds left out" in table.attrs["note"]


def test_an_inactive_hyperparameter_is_a_level_of_its_own():
    rng = np.random.default_rng(4)
    trials = random_trials(rng, 60)
    trials["c"] = trials["c"].where(trials["a"] > 0.5)  # c only exists where a > 0.5 (a conditional space)
    trials["kind"] = pd.Categorical(np.where(trials["a"] > 0.5, "x", None))
    table = importance(trials, ["a", "b", "c", "kind"], "val_acc", {"sampler": "random"})
    assert set(table["source"]) >= {"a", "b", "c", "kind", "seeds"}
    assert np.isfinite(table["share"]).all()


def test_crossed_seeds_split_the_seed_share():
    rng = np.random.default_rng(5)
    rows = []
    for c, a in enumerate(np.linspace(0, 1, 6)):
        init, order = rng.normal(0, 0.3, 3), rng.normal(0, 0.05, 3)
        for i, o in product(range(3), range(3)):
            rows.append({"trial": f"t{c}", "seed": 1000 * i + o, "a": a, "status": "ok",
                         "val_acc": a + init[i] + order[o] + rng.normal(0, 0.01)})
    table = importance(pd.DataFrame(rows), ["a"], "val_acc", {"crossed": {"init": 3, "order": 3}})
    shares = table.set_index("source")["share"]
    assert "seeds" not in shares
    assert shares["seeds: initialisation"] > shares["seeds: data order"] > 0
    assert shares.sum() == pytest.approx(1.0)


def test_fanova_splits_the_configurations_with_optunas_forest():
    trials = random_trials(np.random.default_rng(6), 60)
    table = importance(trials, ["a", "b", "c"], "val_acc", {"sampler": "random"}, method="fanova", n_boot=2)
    shares = table.set_index("source")["share"]
    assert shares["a"] > shares["b"] and shares["a"] > shares["c"]
    assert "fANOVA" in table.attrs["note"]
    with pytest.raises(ValueError, match="'anova' and 'fanova'"):
        importance(trials, ["a"], "val_acc", {}, method="forest")


def test_too_few_configurations_is_an_empty_table_with_a_note():
    trials = grid_trials(np.random.default_rng(7)).query("trial in ['t0', 't1']")
    table = importance(trials, ["a", "b"], "val_acc", {})
    assert table.empty and "too few" in table.attrs["note"]
    assert line(table) == ""


def test_the_line_names_the_first_with_its_interval_then_the_seeds():
    table = pd.DataFrame({"source": ["learning_rate", "momentum", "rest", "seeds"], "share": [0.61, 0.09, 0.12, 0.18],
                          "ci_low": [0.48, 0.01, 0, 0.1], "ci_high": [0.70, 0.2, 0.2, 0.3]})
    assert line(table) == "learning_rate explains 61 % [48, 70], momentum 9 %, seeds 18 %"


def test_results_importance_reads_a_folder(tmp_path):
    from synthetic_results import write_results

    import sweeper

    folder = write_results(tmp_path / "grid", {"learning_rate": [0.01, 0.1, 0.3], "momentum": [0.0, 0.9]})
    table = sweeper.load(folder).importance(n_boot=20)
    assert {"learning_rate", "momentum", "seeds"} <= set(table["source"])
    assert table["share"].sum() == pytest.approx(1.0)
