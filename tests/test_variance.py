"""Crossed seeds: initialisation and data order apart, and the split of a configuration's
spread into their parts, with intervals that cover the truth at their nominal rate."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import sweeper
from bench.variance_split import CASES, coverage
from sweeper import Crossed, Split, Study, StudyError
from sweeper.analysis.variance import split
from sweeper.execution.runner import run_study


def test_the_split_recovers_known_components_and_its_intervals_cover_them():
    for truth, shape in CASES[:3]:
        c = coverage(truth, shape, studies=400, seed=1)
        assert all(0.91 <= c[k] <= 0.99 for k in c), (truth, c)  # 0.95 +- 4 binomial sd at 400 studies
    y = np.add.outer(np.arange(6) * 1.0, np.zeros(6))  # only the initialisation matters
    parts = {p["component"]: p for p in split(y)}
    assert parts["init"]["share"] == pytest.approx(1.0) and parts["order"]["variance"] == 0.0


def test_a_crossed_study_trains_every_pair_and_splits_each_configurations_spread(tmp_path):
    seen = []

    def train(config, seed, log):
        seen.append((seed, log.init_seed, log.order_seed))
        rng = np.random.default_rng(log.order_seed)
        return {"val_acc": 0.5 + 0.05 * np.random.default_rng(log.init_seed).normal() + 0.01 * rng.normal()}

    study = Study(name="x", train=train, space={"lr": [1, 2]}, seeds=Crossed(init=4, order=3))
    run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
              show_progress=False, stream=io.StringIO())
    assert sorted(set(seen)) == [(1000 * i + o, i, o) for i in range(4) for o in range(3)]
    r = sweeper.load(tmp_path / "x")
    assert (r.trials["init_seed"] * 1000 + r.trials["order_seed"] == r.trials["seed"]).all()
    v = r.variance.set_index(["label", "component"])
    assert v.loc[("lr=1", "init"), "share"] > 0.7  # the initialisation seed drives this loop's spread
    assert set(v.index.get_level_values("component")) == {"init", "order", "rest"}
    from sweeper.analysis.show import text

    assert "where the seed-to-seed spread of val_acc comes from (4 initialisation x 3 data-order seeds)" in text(r)


def test_the_built_in_trainer_builds_a_pairs_model_from_its_initialisation_seed(tmp_path):
    study = Study(name="b", dataset="digits", split=Split(train=300, val=100), seeds=Crossed(init=2, order=2),
                  fixed={"hidden_size": 8, "epochs": 1, "batch_size": 32}, space={"learning_rate": [0.1]})
    run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
              show_progress=False, stream=io.StringIO())
    curves = pd.read_csv(tmp_path / "b" / "curves.csv")
    untrained = curves.query("iteration == 0 and split == 'val' and metric == 'loss'").set_index("seed")["value"]
    assert untrained[0] == untrained[1] and untrained[1000] == untrained[1001] and untrained[0] != untrained[1000]
    batches = curves.query("metric == 'batch_loss' and iteration == 1").set_index("seed")["value"]
    assert batches[0] != batches[1]  # the same weights, another data order: another first batch


def test_crossed_seeds_need_two_of_each():
    with pytest.raises(StudyError, match="Crossed: `order` = 1 must be an integer from 2"):
        Crossed(init=3, order=1)
