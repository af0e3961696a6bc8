"""The sampler contract, checked against every sampler: the registry's (grid, random, bayes
with TPE or GP) and a user's own Optuna sampler instance; and a whole study run with one."""

from __future__ import annotations

import io
from collections.abc import Callable

import optuna
import pandas as pd
import pytest

from sweeper import Study, StudyError, choice, loguniform
from sweeper.execution.runner import run_study
from sweeper.schedules.samplers import SAMPLERS, Sampler, UserSampler, make_sampler

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
SPACE = {"learning_rate": loguniform(1e-3, 1.0), "width": choice(8, 16, 32)}
GRID = {"learning_rate": [0.01, 0.1, 1.0], "width": [8, 16]}
N = 8


def train(config, seed, log):
    return {"val_acc": 1 - abs(config["learning_rate"] - 0.1) - config["width"] / 1000 + seed / 100}


def study(sampler: object, **fields: object) -> Study:
    if sampler == "grid":
        return Study(name="s", train=train, space=GRID, seeds=2, **fields)
    return Study(name="s", train=train, space=SPACE, sampler=sampler, n_trials=N, seeds=2, **fields)


SAMPLER_CASES: dict[str, Callable[[], object]] = {
    "grid": lambda: "grid",
    "random": lambda: "random",
    "bayes": lambda: "bayes",
    "bayes-gp": lambda: "bayes",
    "optuna-qmc": lambda: optuna.samplers.QMCSampler(seed=0),
}


@pytest.fixture(params=list(SAMPLER_CASES))
def make(request: pytest.FixtureRequest) -> Callable[[], Sampler]:
    extra = {"bayes_sampler": "gp"} if request.param == "bayes-gp" else {}
    return lambda: make_sampler(study(SAMPLER_CASES[request.param](), **extra))


def _drive(sampler: Sampler, batch: int = 3) -> list[dict]:
    """Ask in batches, tell each proposal its score: every proposal, in order."""
    out = []
    while proposals := sampler.ask(batch):
        for p in proposals:
            out.append(p.params)
            sampler.tell(p, train(p.params, 0, None)["val_acc"] if len(out) % 4 else None)  # every 4th fails
    return out


class TestSamplerContract:
    def test_every_registered_sampler_is_tested(self) -> None:
        assert set(SAMPLERS) | {"bayes-gp", "optuna-qmc"} == set(SAMPLER_CASES)

    def test_it_proposes_the_budget_then_nothing(self, make: Callable[[], Sampler]) -> None:
        sampler = make()
        proposals = _drive(sampler)
        assert len(proposals) == (len(GRID["learning_rate"]) * len(GRID["width"]) if sampler.exhaustive else N)
        assert sampler.ask(5) == []

    def test_proposals_lie_in_the_space(self, make: Callable[[], Sampler]) -> None:
        sampler = make()
        for params in _drive(sampler):
            assert set(params) == {"learning_rate", "width"}
            if sampler.exhaustive:
                assert params["learning_rate"] in GRID["learning_rate"] and params["width"] in GRID["width"]
            else:
                assert 1e-3 <= params["learning_rate"] <= 1.0 and params["width"] in (8, 16, 32)

    def test_asked_and_told_the_same_it_proposes_the_same(self, make: Callable[[], Sampler]) -> None:
        assert _drive(make()) == _drive(make())  # what a resumed study relies on

    def test_a_learning_sampler_never_proposes_a_configuration_still_running(self, make: Callable[[], Sampler]) -> None:
        sampler = make()
        running = sampler.ask(3)
        while running:
            keys = [tuple(sorted(p.params.items())) for p in running]
            assert not sampler.learns or len(set(keys)) == len(keys)
            sampler.tell(running.pop(0), 0.5)
            running += sampler.ask(1)


def test_a_study_runs_with_its_own_optuna_sampler_and_resumes_to_the_same_proposals(tmp_path) -> None:
    def run(results: str) -> pd.DataFrame:
        s = study(optuna.samplers.QMCSampler(seed=0))
        run_study(s, results_root=tmp_path / results, data_root="unused", jobs=1, executor="sequential",
                  show_progress=False, stream=io.StringIO())
        return pd.read_csv(tmp_path / results / "s" / "trials.csv")

    first = run("a")
    assert len(first) == N * 2 and first["status"].eq("ok").all()
    again = run("a")  # a resumed study replays its history to a fresh instance: nothing new to train
    assert len(again) == len(first)
    other, cols = run("b"), ["learning_rate", "width", "seed"]
    assert other.sort_values(cols)[cols].reset_index(drop=True).equals(first.sort_values(cols)[cols].reset_index(drop=True))
    assert '"sampler": "optuna.samplers._qmc.QMCSampler"' in (tmp_path / "a" / "s" / "study.json").read_text()
    assert isinstance(make_sampler(study(optuna.samplers.QMCSampler(seed=0))), UserSampler)


def test_a_sampler_that_is_neither_a_name_nor_an_optuna_sampler_is_one_line() -> None:
    with pytest.raises(StudyError, match=r"field `sampler` = .* or an Optuna sampler instance") as e:
        study(object())
    assert "\n" not in str(e.value)
    with pytest.raises(StudyError, match="field `sampler` = 'bayse'.*did you mean `bayes`"):
        study("bayse")
