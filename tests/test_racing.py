"""Seed racing: the decision function on known numbers, and races run by the sweep loop."""

import io

import numpy as np
import pandas as pd
import pytest

from sweeper import Racing, StudyError, load
from sweeper.execution.runner import run_study
from sweeper.metrics import score
from sweeper.schedules.racing import plan
from tests.conftest import tiny_study

SEEDS = list(range(20))


def _values(grid):
    """{trial: {seed: value}} from grid[seed][config] (None: a lost seed), trials c0, c1, ..."""
    return {f"c{j}": {s: row[j] for s, row in enumerate(grid)} for j in range(len(grid[0]))}


def test_rounds_grow_to_max_and_split_alpha():
    assert Racing().rounds() == [3, 6, 12, 20]
    assert Racing(start=4, max=5).rounds() == [4, 5]
    assert Racing(start=3, max=3).rounds() == [3]
    assert Racing().look_alpha() == pytest.approx(0.05 / 4)


@pytest.mark.parametrize("kwargs, message", [({"start": 2}, "`start` = 2"), ({"max": 2}, "`max` = 2"),
                                             ({"alpha": 1.5}, "`alpha` = 1.5"), ({"growth": 1}, "`growth` = 1")])
def test_bad_settings_say_the_rule(kwargs, message):
    with pytest.raises(StudyError, match=message):
        Racing(**kwargs)


def test_a_round_waits_for_all_its_seeds_then_drops_the_clearly_worse():
    rng = np.random.default_rng(0)
    grid = 0.9 + 0.01 * rng.normal(size=(20, 3)) - np.array([0.0, 0.0, 0.3])
    values = _values(grid.tolist())
    partial = {t: {s: v for s, v in seeds.items() if s < 3} for t, seeds in values.items()}
    del partial["c2"][2]
    race = plan([["c0", "c1", "c2"]], partial, SEEDS, Racing(), maximize=True)
    assert [e.seeds for e in race.entries.values()] == [3, 3, 3]
    assert not any(race.settled(t) for t in race.entries)  # c2's third seed is missing: nothing is decided
    race = plan([["c0", "c1", "c2"]], values, SEEDS, Racing(), maximize=True)
    c0, c1, c2 = race.entries.values()
    assert (c2.state, c2.round, c2.seeds) == ("dropped", 1, 3) and "worse than c0 on 3 seeds" in c2.reason
    assert c0.state == "kept" and c0.seeds == 20 and c1.seeds >= 6


def test_a_lone_survivor_stops_there():
    grid = [[0.9 + 0.001 * s, 0.5 + 0.002 * (s % 2)] for s in range(20)]
    race = plan([["c0", "c1"]], _values(grid), SEEDS, Racing(), maximize=True)
    assert race.entries["c1"].state == "dropped"
    assert (race.entries["c0"].state, race.entries["c0"].seeds) == ("kept", 3)
    assert "nothing to compare" in race.entries["c0"].reason


def test_a_diverged_seed_counts_as_the_worst_value():
    rng = np.random.default_rng(1)
    grid = (0.9 + 0.002 * rng.normal(size=(20, 2))).tolist()
    for row in grid:
        row[1] += 0.01  # c1 is better on every seed it survives...
    grid[1][1] = None  # ...but diverged on seed 1
    race = plan([["c0", "c1"]], _values(grid), SEEDS, Racing(), maximize=True, bounds=(0.0, 1.0))
    assert race.entries["c0"].state == "kept"  # a diverged seed is a 0 accuracy: c1 is not the best
    losses = _values([[1 - v if v is not None else None for v in row] for row in grid])
    race = plan([["c0", "c1"]], losses, SEEDS, Racing(), maximize=False, bounds=(0.0, float("inf")))
    assert race.entries["c1"].state == "dropped" and "on seed 1" in race.entries["c1"].reason
    assert score({0: 0.9, 1: None}, True, (0.0, 1.0)) == pytest.approx(0.45)
    assert score({0: 0.3, 1: None}, False, (0.0, float("inf"))) is None  # an unbounded loss: told as failed
    assert score({0: 0.3, 1: 0.5}, False, (0.0, float("inf"))) == pytest.approx(0.4)


def test_decisions_are_a_function_of_the_values_only():
    rng = np.random.default_rng(2)
    grid = 0.9 + 0.01 * rng.normal(size=(20, 5)) + np.array([0, -0.005, -0.01, -0.03, -0.05])
    values = _values(grid.tolist())
    shuffled = {t: dict(reversed(list(v.items()))) for t, v in reversed(list(values.items()))}
    a = plan([list(values)], values, SEEDS, Racing(), maximize=True)
    b = plan([list(values)], shuffled, SEEDS, Racing(), maximize=True)
    assert a == b


def test_a_later_pool_races_against_the_survivors_of_earlier_ones():
    grid = [[0.9 + 0.001 * (s % 3), 0.95 + 0.001 * (s % 2), 0.6 + 0.001 * (s % 2)] for s in range(20)]
    race = plan([["c0"], ["c1", "c2"]], _values(grid), SEEDS, Racing(), maximize=True)
    assert race.entries["c0"].seeds == 3  # alone in its pool: kept with the first seeds
    assert race.entries["c2"].state == "dropped" and "worse than c1" in race.entries["c2"].reason
    assert race.entries["c1"].state == "kept"


def _run(study, root, executor="sequential", jobs=1):
    return run_study(study, results_root=root, data_root="unused", jobs=jobs, executor=executor,
                     show_progress=False, stream=io.StringIO())


RACE = {"space": {"learning_rate": [0.003, 0.1, 0.3]},
        "fixed": {"epochs": 1, "hidden_size": 16, "batch_size": 32, "momentum": 0.9},  # as the study was made: momentum 0.9 was the default
        "seeds": Racing(start=3, max=6)}


def _tables(root, name="tiny"):
    trials = pd.read_csv(root / name / "trials.csv")
    racing = pd.read_csv(root / name / "racing.csv")
    return trials, racing


def test_a_raced_grid_trains_each_configuration_on_the_first_seeds_it_was_given(tmp_path):
    summary = _run(tiny_study(**RACE), tmp_path)
    trials, racing = _tables(tmp_path)
    got = trials.groupby("trial")["seed"].apply(lambda s: sorted(s))
    for r in racing.itertuples():
        assert got[r.trial] == list(range(r.seeds))
    assert set(racing["state"]) <= {"kept", "dropped"} and summary.trained == len(trials) < 3 * 6
    assert (racing["state"] == "dropped").any()
    r = load(tmp_path / "tiny")
    assert r.budget() == (len(trials), 3 * 6, "(configuration, seed, epoch)")  # 1 epoch each, of 3 x 6 x 1
    dropped = set(racing.loc[racing["state"] == "dropped", "trial"])
    c = r.comparisons.set_index("trial").loc[sorted(dropped)]
    assert (c["verdict"] == "worse").all() and c["reason"].str.match(r"dropped by the seed race at [36] seeds, worse than").all()
    assert r.summary.set_index("trial").loc[sorted(dropped), "race_state"].eq("dropped").all()


@pytest.mark.parametrize("how", [pytest.param({"executor": "local", "jobs": 2}, marks=pytest.mark.slow),
                                 {"vectorize": True}])
def test_workers_and_vectorize_make_the_same_race(tmp_path, how):
    _run(tiny_study(**RACE), tmp_path / "a")
    study = tiny_study(**RACE, vectorize=how.pop("vectorize", False))
    _run(study, tmp_path / "b", **how)
    (ta, ra), (tb, rb) = _tables(tmp_path / "a"), _tables(tmp_path / "b")
    assert ra.equals(rb)
    key = ["trial", "seed"]
    assert ta.sort_values(key)[key].reset_index(drop=True).equals(tb.sort_values(key)[key].reset_index(drop=True))


def test_bayesian_search_races_each_batch(tmp_path):
    from sweeper import loguniform

    study = tiny_study(space={"learning_rate": loguniform(0.001, 0.5)}, sampler="bayes", n_trials=4,
                       concurrent_configs=2, fixed=RACE["fixed"], seeds=Racing(start=3, max=4))
    _run(study, tmp_path)
    trials, racing = _tables(tmp_path)
    assert len(racing) == 4 and set(racing["pool"]) == {0, 1} and set(racing["state"]) <= {"kept", "dropped"}
    assert len(trials) == racing["seeds"].sum()


@pytest.mark.slow
@pytest.mark.parametrize("rung", [False, True], ids=["race", "race with a rung"])
def test_racing_rarely_drops_the_best_or_a_tie(rung):
    """Over 1000 synthetic studies each (4 configurations, up to 12 seeds; bench/racing_errors.py):
    with no real differences some configuration is dropped in at most 5 %; the truly best one
    (0.5 noise sd ahead of the next) in at most 5 %; also with a pruning rung before the race,
    which shares its alpha."""
    from bench.racing_errors import run

    tie, ahead = run("tie", rung, 1000), run("best ahead", rung, 1000)
    assert tie["any"] <= 0.05, tie
    assert ahead["best"] <= 0.05, ahead
    assert ahead["spent"] < 0.9, ahead  # and racing saves seeds where there are differences


RACE_STUDY = """\
from sweeper import Racing, Split, Study
study = Study(name="race", dataset="digits", split=Split(train=400, val=200),
              fixed={"hidden_size": 16, "epochs": 1, "batch_size": 32},
              space={"learning_rate": [0.003, 0.1, 0.3], "momentum": [0.0, 0.9]},
              seeds=Racing(start=3, max=6))
"""


@pytest.mark.slow
def test_a_race_killed_mid_race_and_resumed_decides_as_an_uninterrupted_one(tmp_path):
    from tests.test_crash import KEY, METRICS, finish, kill_at_rows, run_file

    def start(results):
        return run_file(tmp_path, "race", RACE_STUDY, results)

    assert finish(start("reference"))[0] == 0
    reference, race = _tables(tmp_path / "reference", "race")
    assert (race["state"] == "dropped").any() and (race["seeds"] > 3).any()  # a race with rounds to kill in
    kill_at_rows(lambda: start("killed"), tmp_path / "killed" / "race" / "trials.csv",
                 (len(reference) // 3, 2 * len(reference) // 3))  # mid-race
    code, err = finish(start("killed"))
    assert code == 0, err
    resumed, resumed_race = _tables(tmp_path / "killed", "race")
    pd.testing.assert_frame_equal(resumed_race, race)
    pd.testing.assert_frame_equal(resumed.sort_values(KEY).reset_index(drop=True)[KEY + METRICS],
                                  reference.sort_values(KEY).reset_index(drop=True)[KEY + METRICS])
