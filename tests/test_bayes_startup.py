"""Bayesian search's random start-up: settable on the study, sensible by default, fingerprinted only where it changes proposals."""

import pytest

from sweeper import StudyError
from sweeper.schedules.samplers import make_sampler
from sweeper.study.space import choice, loguniform, uniform
from tests.conftest import tiny_study

SPACE = {"learning_rate": loguniform(1e-3, 0.5), "momentum": uniform(0.0, 0.9)}


def bayes(**overrides):
    return tiny_study(**{"sampler": "bayes", "n_trials": 10, "fixed": {}, "space": SPACE, **overrides})


@pytest.mark.parametrize(("n_trials", "space", "startup"), [
    (5, SPACE, 5), (10, SPACE, 10), (20, SPACE, 10), (400, SPACE, 10),
    (60, {**SPACE, "hidden_size": choice(*range(1, 13))}, 12), (8, {**SPACE, "hidden_size": choice(*range(1, 13))}, 8)])
def test_default_start_up_is_optunas_or_the_largest_categorical_at_most_the_budget(n_trials, space, startup):
    assert bayes(n_trials=n_trials, space=space).startup_trials == startup


@pytest.mark.parametrize("kind", ["tpe", "gp"])
def test_optuna_samplers_get_the_studys_start_up(kind):
    sampler = make_sampler(bayes(bayes_startup=4, bayes_sampler=kind))
    assert sampler._optuna.sampler._n_startup_trials == 4


def test_start_up_must_be_a_count():
    with pytest.raises(StudyError, match=r"`bayes_startup` = -1 .* integer >= 0"):
        bayes(bayes_startup=-1)
    with pytest.raises(StudyError, match="`bayes_startup` = 2.5"):
        bayes(bayes_startup=2.5)


def test_fingerprint_changes_only_where_the_proposals_do():
    assert tiny_study(bayes_startup=5).fingerprint() == tiny_study().fingerprint()  # a grid has no start-up
    random = dict(sampler="random", n_trials=10, fixed={}, space=SPACE)
    assert tiny_study(**random, bayes_startup=5).fingerprint() == tiny_study(**random).fingerprint()
    # the default start-up is not the study's identity: a study raised from 20 to 60 configurations goes on
    assert bayes(n_trials=20).fingerprint() == bayes(n_trials=60).fingerprint()
    # a value the study writes is
    assert bayes(n_trials=20).fingerprint() != bayes(n_trials=20, bayes_startup=10).fingerprint()
    assert bayes(bayes_startup=4).fingerprint() != bayes(bayes_startup=5).fingerprint()
