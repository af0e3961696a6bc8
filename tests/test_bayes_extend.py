"""Bayesian search a user can extend and trust: raising `n_trials` or the seeds trains only
what is new (also in a folder made when the default start-up depended on `n_trials`), and the
start-up proposes every value of every categorical before the model guides."""

from __future__ import annotations

import dataclasses
import io
import json
import time

import pandas as pd
import pytest

from sweeper import Racing, Study, StudyError
from sweeper.execution.runner import run_study
from sweeper.schedules.samplers import make_sampler
from sweeper.study.space import choice, uniform

OPTIMIZERS = ("sgd", "adam", "rmsprop", "adamw")


def train(config, seed, log):
    """A cheap stand-in for training: adam is best, and x near 0.3."""
    return {"val_acc": 0.5 + 0.3 * (config["opt"] == "adam") - (config["x"] - 0.3) ** 2 + 0.001 * seed}


def bayes(n_trials: int = 20, **fields) -> Study:
    return Study(**{"name": "extend", "train": train, "sampler": "bayes", "n_trials": n_trials, "seeds": 2,
                    "space": {"opt": choice(*OPTIMIZERS), "x": uniform(0.0, 1.0)}, **fields})


def _run(study: Study, tmp_path, **options):
    return run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO(), **options)


@pytest.mark.parametrize("kind", ["tpe", "gp"])
def test_the_start_up_tries_every_value_of_a_categorical(kind):
    study = bayes(bayes_sampler=kind, sampler_seed=3)
    sampler = make_sampler(study)
    asked = []
    for _ in range(study.startup_trials):
        (proposal,) = sampler.ask(1)
        asked.append(proposal.params["opt"])
        sampler.tell(proposal, train(proposal.params, 0, None)["val_acc"])
    assert study.startup_trials == 10 and set(asked) == set(OPTIMIZERS)
    assert max(asked.count(o) for o in OPTIMIZERS) - min(asked.count(o) for o in OPTIMIZERS) <= 1  # least-used first


def test_the_start_up_replays_the_same_proposals_for_the_same_sampler_seed():
    def proposals(seed):
        sampler = make_sampler(bayes(sampler_seed=seed))
        out = []
        for _ in range(12):
            (p,) = sampler.ask(1)
            sampler.tell(p, 0.5)
            out.append(p.params)
        return out

    assert proposals(0) == proposals(0) and proposals(0) != proposals(1)


def test_raising_n_trials_and_seeds_trains_only_what_is_new(tmp_path):
    first = _run(bayes(20), tmp_path)
    assert first.trained == 40
    ids = pd.read_csv(first.folder / "trials.csv")["trial"].tolist()
    more = _run(bayes(60), tmp_path)
    assert (more.trained, more.reused) == (80, 40)
    rows = pd.read_csv(more.folder / "trials.csv")
    assert rows["trial"].tolist()[:40] == ids and rows["trial"].nunique() == 60
    assert set(rows["opt"][:20]) == set(OPTIMIZERS)  # every optimizer within the start-up
    seeds = _run(bayes(60), tmp_path, seeds=3)
    assert (seeds.trained, seeds.reused) == (60, 120)


def test_a_folder_made_when_the_start_up_followed_n_trials_resumes_and_grows(tmp_path):
    """A folder of identity scheme 3 whose study left bayes_startup to the default of its day
    (min(10, max(3, n_trials // 5)) = 4 for 20): it opens, replays, grows, and remembers its start-up."""
    made = _run(bayes(20, bayes_startup=4), tmp_path)  # what the old default proposed, and fingerprinted
    snapshot_file = made.folder / "study.json"
    snapshot = json.loads(snapshot_file.read_text())
    snapshot["bayes_startup"] = None
    snapshot["identity"] = {"scheme": 3, "defaults": snapshot["identity"]["defaults"]}
    snapshot_file.write_text(json.dumps(snapshot))
    ids = pd.read_csv(made.folder / "trials.csv")["trial"].tolist()
    assert _run(bayes(20), tmp_path).trained == 0
    grown = _run(bayes(60), tmp_path)
    assert (grown.trained, grown.reused) == (80, 40)
    assert pd.read_csv(made.folder / "trials.csv")["trial"].tolist()[:40] == ids
    assert json.loads(snapshot_file.read_text())["identity"]["startup"] == 4
    assert _run(bayes(60), tmp_path).trained == 0  # its n_trials is 60 now; its start-up still 4


def slow(config, seed, log):
    time.sleep(0.05)
    return train(config, seed, log)


@pytest.mark.parametrize("sampler", ["bayes", "random"])
def test_a_timeout_stops_proposing_and_a_later_run_goes_on(tmp_path, sampler):
    study = bayes(30, train=slow, seeds=1, sampler=sampler, timeout=0.5)
    stopped = _run(study, tmp_path)
    assert stopped.timed_out and 0 < stopped.trained < 30
    rows = pd.read_csv(stopped.folder / "trials.csv")
    assert (rows["status"] == "ok").all()  # what ran when time was up finished
    assert study.fingerprint() == bayes(30, train=slow, seeds=1, sampler=sampler).fingerprint()  # not the identity
    rest = _run(dataclasses.replace(study, timeout=None), tmp_path)
    assert not rest.timed_out and (rest.trained, rest.reused) == (30 - stopped.trained, stopped.trained)
    assert pd.read_csv(rest.folder / "trials.csv")["trial"].tolist()[:len(rows)] == rows["trial"].tolist()


def test_a_timeout_must_be_a_positive_number_of_seconds():
    with pytest.raises(StudyError, match=r"field `timeout` = -1 is not allowed; it must be None or a number of seconds"):
        bayes(timeout=-1)


def test_racing_seeds_with_bayesian_search_tells_each_configuration_when_its_race_settles(tmp_path):
    def noisy(config, seed, log):
        return {"val_acc": train(config, 0, log)["val_acc"] + 0.01 * ((seed * 7) % 5)}

    study = bayes(8, train=noisy, seeds=Racing(start=3, max=6))
    first = _run(study, tmp_path)
    rows = pd.read_csv(first.folder / "trials.csv")
    seeds = rows.groupby("trial")["seed"].count()
    assert len(seeds) == 8 and set(seeds) == {3, 6}  # every configuration proposed; the race cut some at 3 seeds
    assert first.trained == len(rows) < 8 * 6
    assert _run(study, tmp_path).trained == 0  # the race and the sampler replay the same
