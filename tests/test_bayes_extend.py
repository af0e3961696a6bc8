"""Bayesian search a user can extend and trust: raising `n_trials` or the seeds trains only
what is new (also in a folder made when the default start-up depended on `n_trials`), and the
start-up proposes every value of every categorical before the model guides."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from sweeper import Study
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
