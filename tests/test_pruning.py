"""Pruning over epochs: rungs decided seed by seed, the same with any workers and after a resume."""

import dataclasses
import io

import pandas as pd
import pytest

import sweeper
from sweeper import Pruned, Rungs, Study, StudyError, load
from sweeper.execution.runner import Interrupted, run_study
from sweeper.schedules.pruning import decide, plan
from tests.conftest import tiny_study

QUALITY = {0.01: 0.2, 0.03: 0.45, 0.1: 0.7, 0.3: 0.8, 1.0: 0.75, 3.0: 0.1}
STOP_AFTER_FIRST_RUNG = False  # set by the resume test: training beyond the first rung is interrupted


EPOCHS_TRAINED: list[int] = []  # epochs each call trained: a survivor goes on from its rung


def train(config, seed, log):
    """A loop whose length is config["epochs"]: accuracy climbs towards the learning rate's
    quality, with a seed's own offset (the same at every epoch, as a seed's data order). It
    goes on from its last checkpoint (a rung's end), as Rungs(continues=True) promises."""
    if STOP_AFTER_FIRST_RUNG and config["epochs"] > 1:
        raise KeyboardInterrupt
    offset = ((seed * 7919 + int(config["learning_rate"] * 1000)) % 13 - 6) / 300
    state = log.resume()
    start, acc = (state["epoch"], state["acc"]) if state else (0, 0.0)
    for epoch in range(start + 1, config["epochs"] + 1):
        acc = QUALITY[config["learning_rate"]] * (1 - 0.5 ** epoch) + offset
        log(epoch=epoch, val_acc=acc)
        log.checkpoint(epoch=epoch, acc=acc)
        assert not log.should_stop()
    EPOCHS_TRAINED.append(config["epochs"] - start)
    return {"val_acc": acc}


def study(**overrides):
    fields = dict(name="pr", train=train, fixed={"epochs": 9}, space={"learning_rate": list(QUALITY)}, seeds=4,
                  prune=Rungs(resource="epochs", rungs=(1, 3), keep=1 / 3, continues=True))
    fields.update(overrides)
    return Study(**fields)


def _run(s, root, **kwargs):
    options = {"executor": "sequential", "jobs": 1, **kwargs}
    return run_study(s, results_root=root, data_root="unused", show_progress=False, stream=io.StringIO(), **options)


def _tables(root, name="pr"):
    trials = pd.read_csv(root / name / "trials.csv")
    key = ["trial", "seed"]
    rows = trials.sort_values(key)[[*key, "status", "epochs", "val_acc"]].reset_index(drop=True)
    return rows, pd.read_csv(root / name / "pruning.csv")


def test_a_rung_keeps_the_top_fraction_and_what_the_test_cannot_call_worse():
    seeds = [0, 1, 2, 3]
    values = {"a": {s: 0.9 + s / 100 for s in seeds}, "b": {s: 0.89 + s / 100 for s in seeds},
              "c": {s: 0.5 + s / 100 for s in seeds}, "d": {s: 0.9 - (s % 2) / 10 for s in seeds}}
    gone = dict(decide(list(values), values, seeds, Rungs(keep=0.25), True, (0.0, 1.0)))
    assert set(gone) == {"b", "c"}  # d is noisy: outside the top quarter, but not shown worse
    assert "worse than a on 4 seeds" in gone["c"]
    two = dict(decide(list(values), {t: {s: v[s] for s in (0, 1)} for t, v in values.items()}, [0, 1],
                      Rungs(keep=0.5), True, (0.0, 1.0)))
    assert two == {}  # below 3 seeds nothing can be shown behind: a rung decides only with enough seeds


def test_a_rung_waits_for_every_seed_then_is_a_function_of_the_values():
    rungs, seeds = Rungs(rungs=(1,), keep=0.5), [0, 1, 2]
    values = {("a", 1): {0: 0.9, 1: 0.91, 2: 0.92}, ("b", 1): {0: 0.3, 1: 0.31}}
    steps = plan(["a", "b"], values, seeds, rungs, 4, True, (0.0, 1.0))
    assert [(s.rung, s.state) for s in steps.values()] == [(0, "running"), (0, "running")]
    values[("b", 1)][2] = 0.32
    steps = plan(["a", "b"], values, seeds, rungs, 4, True, (0.0, 1.0))
    assert [(s.rung, s.state) for s in steps.values()] == [(1, "running"), (0, "pruned")]
    assert steps["b"].reason.startswith("at epochs=1: outside the top 50% and worse than a on 3 seeds")


def test_pruned_rows_keep_their_curves_and_are_never_ranked_as_complete(tmp_path):
    _run(study(), tmp_path)
    rows, pruning = _tables(tmp_path)
    assert set(pruning["state"]) == {"pruned", "complete"}
    pruned = pruning[pruning["state"] == "pruned"]
    assert len(pruned) >= 3
    stopped = rows[rows["trial"].isin(pruned["rung_trial"])]
    assert (stopped["status"] == "pruned").all() and len(stopped) == 4 * len(pruned)
    assert set(stopped["epochs"]) <= {1, 3} and stopped["val_acc"].notna().all()
    curves = pd.read_csv(tmp_path / "pr" / "curves.csv")
    assert set(pruned["rung_trial"]) <= set(curves["trial"])
    assert (rows.loc[rows["epochs"] == 9, "status"] == "ok").all()
    promoted = rows[rows["status"] == "promoted"]
    assert len(promoted) > 0 and set(promoted["epochs"]) <= {1, 3}
    r = load(tmp_path / "pr")
    s = r.summary.set_index("trial")
    assert s.loc[pruned["rung_trial"], "rank"].isna().all() and (s.loc[pruned["rung_trial"], "n_pruned"] == 4).all()
    assert set(s.index) == set(pruning["rung_trial"])  # promoted rows are not configurations of their own
    c = r.comparisons.set_index("trial")
    assert (c.loc[pruned["rung_trial"], "verdict"] == "pruned").all()
    assert c.loc[pruned["rung_trial"], "reason"].str.startswith("pruned at epochs=").all()
    best = c.index[c["verdict"] == "best"][0]
    assert s.loc[best, "label"] == "learning_rate=0.3"
    spent, full, unit = r.budget()
    assert (full, unit) == (6 * 4 * 9, "(configuration, seed, epochs)")
    # a survivor went on from its rung: a (configuration, seed) spent its furthest rung, not their sum
    every = pd.read_csv(tmp_path / "pr" / "trials.csv")
    assert spent == every.groupby(["learning_rate", "seed"])["epochs"].max().sum() < full


def test_a_survivor_goes_on_from_its_rung_and_the_study_never_spends_more_than_its_full_design(tmp_path):
    EPOCHS_TRAINED.clear()
    _run(study(), tmp_path)
    rows = pd.read_csv(tmp_path / "pr" / "trials.csv")
    furthest = rows.groupby(["learning_rate", "seed"])["epochs"].max()
    assert sum(EPOCHS_TRAINED) == furthest.sum() <= 6 * 4 * 9  # every epoch trained once: 1, then 2 more, then 6
    assert sorted(set(EPOCHS_TRAINED)) == [1, 2, 6]
    whole = study(prune=None, name="whole")  # the same configurations trained in full give the same full rows
    _run(whole, tmp_path)
    full = pd.read_csv(tmp_path / "whole" / "trials.csv").set_index(["trial", "seed"])["val_acc"]
    kept = rows[rows["status"] == "ok"].set_index(["trial", "seed"])["val_acc"]
    assert kept.equals(full.loc[kept.index])


def test_a_loop_that_cannot_go_on_from_its_rung_is_refused_before_it_runs():
    with pytest.raises(StudyError) as e:
        study(prune=Rungs(resource="epochs", rungs=(1, 3)))
    assert "trains 1 + 3 + 9 epochs for its 9, more than the study without pruning" in str(e.value)
    assert "log.resume()" in str(e.value) and "continues=True" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.slow
def test_two_workers_decide_as_one(tmp_path):
    _run(study(), tmp_path / "a")
    _run(study(), tmp_path / "b", executor="local", jobs=2)
    (ta, pa), (tb, pb) = _tables(tmp_path / "a"), _tables(tmp_path / "b")
    assert pa.equals(pb) and ta.equals(tb)


def test_a_run_stopped_after_the_first_rung_resumes_to_the_same_decisions(tmp_path, monkeypatch):
    _run(study(), tmp_path / "whole")
    monkeypatch.setattr(sys_module(), "STOP_AFTER_FIRST_RUNG", True)
    with pytest.raises(Interrupted):
        _run(study(), tmp_path / "resumed")
    first, _ = _tables(tmp_path / "resumed")
    assert set(first["epochs"]) == {1} and set(first["status"]) <= {"pruned", "promoted"}
    monkeypatch.setattr(sys_module(), "STOP_AFTER_FIRST_RUNG", False)
    summary = _run(study(), tmp_path / "resumed")
    assert summary.reused == len(first)
    (ta, pa), (tb, pb) = _tables(tmp_path / "whole"), _tables(tmp_path / "resumed")
    assert pa.equals(pb) and ta.equals(tb)


def sys_module():
    import sys

    return sys.modules[__name__]


def test_a_loop_that_raises_pruned_records_a_pruned_seed(tmp_path):
    def stops(config, seed, log):
        log(epoch=1, val_acc=0.5)
        if config["lr"] == 2 and seed == 0:
            raise Pruned("plateau")
        return {"val_acc": 0.9 if config["lr"] == 2 else 0.6 + seed / 100}

    _run(Study(name="pr", train=stops, space={"lr": [1, 2]}, seeds=3), tmp_path)
    trials = pd.read_csv(tmp_path / "pr" / "trials.csv")
    row = trials[trials["status"] == "pruned"].iloc[0]
    assert (row["lr"], row["seed"], row["error"]) == (2, 0, "pruned by train(): plateau")
    s = load(tmp_path / "pr").summary.set_index("label")
    assert s.loc["lr=1", "rank"] == 1 and s.loc["lr=2", "rank"] == 2  # the higher mean of 2 seeds ranks after


@pytest.mark.parametrize("make, message", [
    (lambda: Rungs(rungs=(3, 1)), "`rungs` = (3, 1) must be increasing integers >= 1"),
    (lambda: Rungs(keep=1.5), "`keep` = 1.5 must be a fraction between 0 and 1"),
    (lambda: study(prune=Rungs(rungs=(1, 9))), "every rung must be below the study's `epochs` = 9"),
    (lambda: study(fixed={}, space={"learning_rate": [0.1], "epochs": [3, 9]}), "`epochs` is searched"),
    (lambda: study(fixed={}), "the study has no `epochs`; put the full budget in `fixed`"),
    (lambda: study(sampler="bayes", space={"learning_rate": sweeper.loguniform(0.01, 1)}, n_trials=4,
                   seeds=sweeper.Racing(start=3, max=6)),
     "the race after the rungs would be decided again as new proposals arrive"),
    (lambda: tiny_study(prune=Rungs(rungs=(1, 2))), "every rung must be below the study's `epochs` = 2"),
    (lambda: study(seeds=2), "a rung decides by a paired test, which needs 3 seeds; the study gives 2"),
    (lambda: study(prune="1,3"), "field `prune` = '1,3' must be None or Rungs("),
])
def test_bad_prune_settings_are_one_line(make, message):
    with pytest.raises(StudyError) as e:
        make()
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.slow
def test_the_built_in_trainer_prunes_exactly_and_vectorized_decides_the_same(tmp_path):
    """A rung retrains from scratch: a survivor's 1-epoch row is its full run's first epoch."""
    s = tiny_study(fixed={"hidden_size": 16, "epochs": 3, "batch_size": 32}, seeds=3,
                   space={"learning_rate": [0.003, 0.3], "momentum": [0.0, 0.9]},
                   prune=Rungs(rungs=(1,), keep=0.5, alpha=0.2))
    _run(s, tmp_path / "a")
    _run(dataclasses.replace(s, vectorize=True), tmp_path / "b")
    pa, pb = (pd.read_csv(tmp_path / x / "tiny" / "pruning.csv") for x in "ab")
    assert pa.equals(pb) and set(pa["state"]) == {"pruned", "complete"}
    trials = pd.read_csv(tmp_path / "a" / "tiny" / "trials.csv")
    curves = pd.read_csv(tmp_path / "a" / "tiny" / "curves.csv")
    assert trials.groupby("status")["epochs_run"].max().to_dict() == {"ok": 3, "promoted": 1, "pruned": 1}
    first = curves.query("epoch == 1 and split == 'val' and metric == 'acc'").set_index(["trial", "seed"])["value"]
    full = {(r.learning_rate, r.momentum, r.seed): r.trial for r in trials[trials["status"] == "ok"].itertuples()}
    for r in trials[trials["status"] == "promoted"].itertuples():
        assert r.val_acc == pytest.approx(first[(full[(r.learning_rate, r.momentum, r.seed)], r.seed)])
    r = load(tmp_path / "a" / "tiny")
    # a survivor went on from its rung's checkpoint: its full rows resumed at epoch 1, and the
    # study spent every (configuration, seed)'s furthest epochs, within the full design
    assert (trials.loc[trials["status"] == "ok", "resumed_epoch"] == 1).all()
    furthest = trials.groupby(["learning_rate", "momentum", "seed"])["epochs_run"].max().sum()
    assert r.budget() == (furthest, 4 * 3 * 3, "(configuration, seed, epoch)") and furthest <= 4 * 3 * 3
    assert not list((tmp_path / "a" / "tiny" / "checkpoints").glob("*"))  # none left once the study is done


def test_a_random_search_prunes_too(tmp_path):
    s = study(sampler="random", n_trials=5, space={"learning_rate": sweeper.choice(*QUALITY)})
    _run(s, tmp_path)
    rows, pruning = _tables(tmp_path)
    assert 3 <= len(pruning) <= 5 and set(pruning["state"]) == {"pruned", "complete"}
    assert set(rows["status"]) == {"ok", "pruned", "promoted"}
