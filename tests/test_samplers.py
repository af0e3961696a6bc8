from sweeper.engine.samplers import make_sampler
from sweeper.engine.space import intrange, loguniform, uniform
from tests.conftest import tiny_study


def _search(sampler: str, seed: int = 0):
    return tiny_study(sampler=sampler, n_trials=8, sampler_seed=seed, fixed={}, space={
        "learning_rate": loguniform(1e-3, 0.5), "momentum": uniform(0.0, 0.9),
        "hidden_size": intrange(8, 64, step=8), "optimizer": ["sgd", "adam"]})


def _drive(study, score):
    sampler, seen = make_sampler(study), []
    while batch := sampler.ask(2):
        for p in batch:
            seen.append(p.params)
            sampler.tell(p, score(p.params))
    return seen


def test_grid_proposes_every_combination_once():
    study = tiny_study(fixed={}, space={"momentum": [0.0, 0.9], "learning_rate": [0.1, 0.2, 0.3]})
    assert _drive(study, lambda p: 0.5) == study.grid()


def test_random_search_is_seeded_and_within_bounds():
    first = _drive(_search("random"), lambda p: 0.5)
    assert first == _drive(_search("random"), lambda p: 0.5)
    assert first != _drive(_search("random", seed=1), lambda p: 0.5)
    assert len(first) == 8
    for p in first:
        assert 1e-3 <= p["learning_rate"] <= 0.5 and 0 <= p["momentum"] <= 0.9
        assert p["hidden_size"] % 8 == 0 and p["optimizer"] in ("sgd", "adam")


def test_bayes_replays_the_same_proposals_given_the_same_results():
    def score(p):
        return -abs(p["learning_rate"] - 0.05) - p["momentum"] / 10

    first = _drive(_search("bayes"), score)
    assert first == _drive(_search("bayes"), score)
    assert len(first) == 8


def test_bayes_accepts_failed_configurations():
    sampler = make_sampler(_search("bayes"))
    batch = sampler.ask(3)
    for p in batch:
        sampler.tell(p, None)
    assert len(sampler.ask(2)) == 2
