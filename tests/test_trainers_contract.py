"""The trainer contract (`sweeper.usercode.plugin.Trainer`), checked against every trainer:
the built-in one on a course dataset, the built-in one with a user's own model and data,
and a user's own `train` function (`FunctionTrainer`). Its defaults pass its own checks;
`prepare` names the data; `fit` gives one outcome per seed, seeded, so the same seeds give
the same metrics; `fit_group` gives what `fit` gives each configuration alone."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from sweeper import Split, Study
from sweeper.builtin.trainer import BuiltinTrainer
from sweeper.usercode.plugin import STATUSES, FitOptions, FunctionTrainer, Trainer


def train(config, seed, log):
    for epoch in range(1, config["epochs"] + 1):
        log(epoch=epoch, val_acc=0.5 + config["learning_rate"] / 10 + torch.rand(()).item() / 100)
    return {"val_acc": 0.5 + config["learning_rate"] / 10 + torch.rand(()).item() / 100}


def own_model(config):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, config["width"]), nn.ReLU(), nn.Linear(config["width"], 4))


def own_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 64, generator=g)
    y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
    return (x[:200], y[:200]), (x[200:], y[200:])


STUDIES: dict[str, tuple[type[Trainer], Callable[[], Study], dict[str, list[Any]]]] = {
    "builtin": (BuiltinTrainer, lambda: Study(name="b", dataset="digits", split=Split(train=300, val=100),
                                              fixed={"hidden_size": 8, "epochs": 2, "batch_size": 32},
                                              space={"learning_rate": [0.05, 0.1]}, seeds=2),
                {"learning_rate": [0.05, 0.1]}),
    "own model and data": (BuiltinTrainer, lambda: Study(name="o", data=own_data, model=own_model,
                                                         fixed={"epochs": 2, "batch_size": 32, "width": 8},
                                                         space={"learning_rate": [0.05, 0.1]}, seeds=2),
                           {"learning_rate": [0.05, 0.1]}),
    "train function": (FunctionTrainer, lambda: Study(name="f", train=train, fixed={"epochs": 2},
                                                      space={"learning_rate": [0.05, 0.1]}, seeds=2),
                       {"learning_rate": [0.05, 0.1]}),
}


@pytest.fixture(params=list(STUDIES))
def case(request: pytest.FixtureRequest) -> tuple[Study, Trainer, list[dict[str, Any]]]:
    kind, make, space = STUDIES[request.param]
    study = make()
    trainer = study.trainer
    assert isinstance(trainer, kind)
    configs = [{**trainer.defaults(), **study.fixed, "learning_rate": lr} for lr in space["learning_rate"]]
    trainer.prepare("unused", lambda msg: None, configs)
    return study, trainer, configs


def _metrics(outcomes: list[Any]) -> list[dict[str, float]]:
    return [o.metrics for o in outcomes]


class TestTrainerContract:
    def test_every_trainer_is_tested(self) -> None:
        assert {FunctionTrainer, BuiltinTrainer} == {kind for kind, _, _ in STUDIES.values()}

    def test_its_defaults_pass_its_own_checks(self, case) -> None:
        study, trainer, configs = case
        for name, param in trainer.params().items():
            assert param.check(param.default), (name, param.default, param.rule)
        for config in configs:
            trainer.check_config(config)  # raises where a configuration cannot be trained

    def test_it_knows_the_study_metric_or_leaves_it_to_user_code(self, case) -> None:
        study, trainer, _ = case
        names = trainer.metric_names()
        assert names is None or study.metric in names

    def test_fit_gives_one_outcome_per_seed_with_the_metric(self, case) -> None:
        study, trainer, configs = case
        outcomes = trainer.fit(configs[0], [0, 1], FitOptions(data_root="unused"))
        assert len(outcomes) == 2
        for o in outcomes:
            assert o.status in STATUSES and o.status == "ok"
            assert math.isfinite(o.metrics[study.metric])

    def test_the_same_seeds_give_the_same_metrics(self, case) -> None:
        _, trainer, configs = case
        first = trainer.fit(configs[1], [3, 4], FitOptions(data_root="unused"))
        again = trainer.fit(configs[1], [3, 4], FitOptions(data_root="unused"))
        assert _metrics(first) == _metrics(again)
        assert _metrics(first)[0] != _metrics(first)[1]  # and another seed, another run

    def test_fit_group_gives_what_fit_gives_each_configuration(self, case) -> None:
        study, trainer, configs = case
        alone = [trainer.fit(config, [0, 1], FitOptions(data_root="unused")) for config in configs]
        together = trainer.fit_group(configs, [0, 1], FitOptions(data_root="unused"))
        assert len(together) == len(configs) and all(len(row) == 2 for row in together)
        for a, t in zip(alone, together, strict=True):
            for one, grouped in zip(a, t, strict=True):
                assert one.status == grouped.status
                assert grouped.metrics[study.metric] == pytest.approx(one.metrics[study.metric], abs=1e-5)

    def test_effective_keeps_a_configuration_it_is_given_again(self, case) -> None:
        _, trainer, configs = case
        for config in configs:
            effective = trainer.effective(config)
            assert set(effective) <= set(config) and trainer.effective(effective) == effective
