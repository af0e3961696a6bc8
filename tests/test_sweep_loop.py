"""The sweep loop against an executor that trains nothing and misbehaves on purpose.

Bayesian search with many workers: asynchronous mode keeps `concurrent_configs`
configurations in flight and never proposes one that is already running; batch mode stays
independent of timing; both resume without training anything twice. Workers that die: their
trials run again, and a trial that keeps killing its worker becomes a failed row.

The executor makes each trial's result up from its configuration and completes futures in
a shuffled order, as a cluster's timing would.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import io
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sweeper.execution.executors import EXECUTORS, Executor
from sweeper.execution.runner import Interrupted, RunSummary, run_study
from sweeper.execution.trial import TrialResult, TrialTask
from sweeper.schedules.samplers import BayesSearch
from sweeper.study.space import loguniform
from sweeper.study.study import Split, Study

SPACE = {"hidden_size": [8, 16, 32], "batch_size": [16, 32]}  # 6 configurations: repeats are likely


def bayes_study(**fields: Any) -> Study:
    defaults: dict[str, Any] = dict(name="async_bayes", dataset="digits", split=Split(train=1000, val=300),
                                    sampler="bayes", n_trials=14, stack=False,  # one configuration per task
                                    space=SPACE, seeds=2, concurrent_configs=3)
    return Study(**{**defaults, **fields})


class WorkerDied(Exception):
    pass


class ShuffledExecutor(Executor):
    """Completes its futures one at a time, in an order drawn from `order_seed`, and records
    which configurations were in flight whenever a task was submitted.

    A task whose seed is in `deadly` kills its worker that many times. With `breaks`, the
    executor is then broken like a process pool (every waiting task fails with it, submit
    refuses) until `restart`; without, only that task fails, as on a Dask cluster. With
    `dies_starting`, a worker dies while `start` starts them: the pool is broken before any
    future says so, and submit raises, as loky's does.
    """

    worker_lost = (WorkerDied,)
    workers = 4

    def describe(self) -> str:
        return "in a shuffled order"

    def __init__(self, order_seed: int, interrupt_after: int | None = None,
                 deadly: dict[int, int] | None = None, breaks: bool = True, dies_starting: bool = False) -> None:
        self.rng = random.Random(order_seed)
        self.waiting: dict[cf.Future, TrialTask] = {}
        self.submits: list[tuple[TrialTask, set[str], int]] = []  # task, trials in flight, completions so far
        self.interrupt_after = interrupt_after
        self.completed = 0
        self.deadly = Counter(deadly or {})
        self.breaks, self.broken = breaks, False
        self.dies_starting = dies_starting
        self.restarts = 0

    def start(self) -> None:
        self.broken = self.dies_starting

    def submit(self, fn: Callable[[Any], Any], task: TrialTask) -> cf.Future:
        if self.broken and self.dies_starting:
            raise WorkerDied()
        assert not self.broken, "submitted to a broken executor"
        self.submits.append((task, {t.trial for t in self.waiting.values()}, self.completed))
        assert all((t.trial, t.seeds) != (task.trial, task.seeds) for t in self.waiting.values()), "trained twice at once"
        fut: cf.Future = cf.Future()
        self.waiting[fut] = task
        return fut

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        mine = [f for f in futures if f in self.waiting]
        self.rng.shuffle(mine)
        for fut in mine:
            if self.completed == self.interrupt_after:
                raise KeyboardInterrupt
            task = self.waiting.pop(fut)
            if self.broken or self.deadly[task.seeds[0]] > 0:
                self.deadly[task.seeds[0]] -= not self.broken
                self.broken = self.breaks
                fut.set_exception(WorkerDied())
            else:
                fut.set_result(fake_result(task))
            self.completed += 1
            yield fut

    def restart(self) -> None:
        assert not self.waiting, "restarted with tasks in flight"
        self.broken = False
        self.restarts += 1


def fake_result(task: TrialTask) -> list[TrialResult]:
    """A score that prefers 16 hidden units, batch 32 and learning rate 0.1, with a little noise per seed."""
    c = task.config
    score = (1 - abs(math.log2(c["hidden_size"] / 16)) / 4 - (c["batch_size"] == 16) / 8
             - abs(math.log10(c["learning_rate"] / 0.1)) / 10)
    return [TrialResult(task.trial, seed, "ok", {"val_acc": score + seed / 1000}, 0.0) for seed in task.seeds]


def refills_while_busy(pool: ShuffledExecutor) -> bool:
    """Whether a task was submitted after a trial finished while other trials were still in flight."""
    return any(before and done > done_earlier
               for (_, _, done_earlier), (_, before, done) in itertools.pairwise(pool.submits))


def run(study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pool: ShuffledExecutor,
        asynchronous: bool, results: str = "results") -> RunSummary:
    class Fixed(ShuffledExecutor):  # what make_executor makes: this very pool
        def __new__(cls, jobs: int, scheduler: str | None = None) -> ShuffledExecutor:  # type: ignore[misc]
            return pool

    monkeypatch.setitem(EXECUTORS, "shuffled", Fixed)
    return run_study(study, results_root=tmp_path / results, data_root=str(tmp_path), jobs=4,
                     executor="shuffled", show_progress=False, stream=io.StringIO(), asynchronous=asynchronous)


def rows(tmp_path: Path, results: str = "results") -> list[dict[str, str]]:
    with (tmp_path / results / "async_bayes" / "trials.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_bayes_never_proposes_a_configuration_that_is_running() -> None:
    sampler = BayesSearch(bayes_study(n_trials=40))
    rng = random.Random(0)
    running = sampler.ask(4)
    for _ in range(36):
        assert len({tuple(sorted(p.params.items())) for p in running}) == len(running), running
        done = running.pop(rng.randrange(len(running)))
        sampler.tell(done, rng.random())
        running += sampler.ask(1)
    assert sampler.ask(1) == []


def test_async_mode_keeps_the_width_in_flight_and_never_waits_for_a_batch(tmp_path, monkeypatch) -> None:
    study = bayes_study()
    pool = ShuffledExecutor(order_seed=1)
    summary = run(study, tmp_path, monkeypatch, pool, asynchronous=True)

    in_flight = [len(before | {task.trial}) for task, before, _ in pool.submits]
    assert max(in_flight) == study.concurrent_configs
    assert refills_while_busy(pool)
    keys = Counter((r["trial"], r["seed"]) for r in rows(tmp_path))
    assert max(keys.values()) == 1
    assert summary.trained == len(keys) == len(pool.submits)
    assert summary.trained + summary.reused == summary.planned == 14 * 2


def test_batch_mode_waits_for_each_batch(tmp_path, monkeypatch) -> None:
    pool = ShuffledExecutor(order_seed=1)
    run(bayes_study(), tmp_path, monkeypatch, pool, asynchronous=False)
    assert not refills_while_busy(pool)


def test_batch_mode_proposals_do_not_depend_on_completion_order(tmp_path, monkeypatch) -> None:
    trained = []
    for order_seed in (1, 2):
        run(bayes_study(), tmp_path, monkeypatch, ShuffledExecutor(order_seed), False, results=f"r{order_seed}")
        trained.append(sorted((r["trial"], r["seed"]) for r in rows(tmp_path, f"r{order_seed}")))
    assert trained[0] == trained[1]


@pytest.mark.parametrize("asynchronous", [True, False])
def test_a_resumed_sweep_proposes_what_it_proposed_before(tmp_path, monkeypatch, asynchronous) -> None:
    # a continuous space: a proposal that differs from the first run's is a new configuration to train
    study = bayes_study(space={"learning_rate": loguniform(1e-3, 1.0)}, n_trials=16)
    with pytest.raises(Interrupted):
        run(study, tmp_path, monkeypatch, ShuffledExecutor(3, interrupt_after=9), asynchronous)
    first = run(study, tmp_path, monkeypatch, ShuffledExecutor(4), asynchronous)
    assert first.reused > 0
    again = run(study, tmp_path, monkeypatch, ShuffledExecutor(5), asynchronous)
    assert again.trained == 0 and again.reused == again.planned
    assert max(Counter((r["trial"], r["seed"]) for r in rows(tmp_path)).values()) == 1


def test_a_space_smaller_than_the_width_trains_each_configuration_once(tmp_path, monkeypatch) -> None:
    study = bayes_study(space={"hidden_size": [8, 16]}, n_trials=6, concurrent_configs=4)
    pool = ShuffledExecutor(order_seed=0)
    summary = run(study, tmp_path, monkeypatch, pool, asynchronous=True)
    assert summary.trained == 2 * 2
    assert summary.trained + summary.reused == summary.planned


@pytest.mark.parametrize("asynchronous", [True, False])
@pytest.mark.parametrize("breaks", [True, False])
def test_trials_of_a_dead_worker_run_again_and_each_row_is_written_once(tmp_path, monkeypatch, asynchronous,
                                                                        breaks) -> None:
    pool = ShuffledExecutor(order_seed=2, deadly={1: 2}, breaks=breaks)  # seed 1 kills its worker twice, then trains
    summary = run(bayes_study(), tmp_path, monkeypatch, pool, asynchronous)
    assert pool.restarts >= 1
    table = rows(tmp_path)
    assert max(Counter((r["trial"], r["seed"]) for r in table).values()) == 1
    assert {r["status"] for r in table} == {"ok"}
    assert summary.trained + summary.reused == summary.planned and summary.failed == 0


@pytest.mark.parametrize("breaks", [True, False])
def test_a_trial_that_keeps_killing_its_worker_becomes_a_failed_row(tmp_path, monkeypatch, breaks) -> None:
    study = bayes_study(sampler="grid", n_trials=None, seeds=[0, 1])
    pool = ShuffledExecutor(order_seed=0, deadly={1: 100}, breaks=breaks)
    summary = run(study, tmp_path, monkeypatch, pool, asynchronous=False)
    table = rows(tmp_path)
    assert len({(r["trial"], r["seed"]) for r in table}) == len(table) == 6 * 2
    failed = [r for r in table if r["status"] == "failed"]
    assert all("worker process died (WorkerDied), 3 times" in r["error"] for r in failed)
    assert len(failed) == summary.failed
    assert all(r["status"] == "failed" for r in table if r["seed"] == "1")
    if not breaks:  # the worker's death is pinned on the task that caused it; others are not touched
        assert {r["seed"] for r in failed} == {"1"} and len(failed) == 6


def test_a_pool_that_broke_while_starting_is_restarted_and_nothing_is_charged(tmp_path, monkeypatch) -> None:
    pool = ShuffledExecutor(order_seed=0, dies_starting=True)
    summary = run(bayes_study(sampler="grid", n_trials=None), tmp_path, monkeypatch, pool, asynchronous=False)
    assert pool.restarts == 1
    table = rows(tmp_path)
    assert len(table) == len({(r["trial"], r["seed"]) for r in table}) == 6 * 2
    assert {r["status"] for r in table} == {"ok"} and summary.failed == 0
