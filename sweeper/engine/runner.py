"""The sweep loop: ask the sampler -> train each configuration once per seed -> store -> tell.

Every configuration gets the same seed list, so configurations can later be compared seed
by seed. With `vectorize` a configuration's missing seeds go to one worker as one task and
are trained together; they still come back, and are stored, as one row per seed. With
`stack`, configurations that the trainer can train as one model (the same `stack_key`, the
same missing seeds) go to the workers in as many tasks as there are workers. Rows
already in the results folder are not trained again: a re-run trains only what is
missing, and replays the stored results to the sampler in the order it asked, so random
and Bayesian search propose what they proposed before.

Bayesian search keeps `concurrent_configs` configurations in flight, in one of two modes.
In batches (the default), it asks for that many, waits for all, and tells their results in
the order asked: its proposals do not depend on timing or on the number of workers. In
asynchronous mode (the default with the Dask executor), it asks for the next configuration
as soon as one finishes, so no worker waits for a batch's slowest trial; results are told
in the order they finished. The rows of trials.csv are in that order too, so a resumed
asynchronous sweep replays the same sequence and proposes what it proposed before.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sweeper.engine.devices import resolve_device
from sweeper.engine.executors import Executor, make_executor
from sweeper.engine.identity import Identity, identity_of
from sweeper.engine.plugin import FitOptions
from sweeper.engine.progress import Progress
from sweeper.engine.pruning import PROMOTED, PRUNED, Step
from sweeper.engine.pruning import plan as prune_plan
from sweeper.engine.racing import Plan, plan, score
from sweeper.engine.samplers import Proposal, Sampler, make_sampler
from sweeper.engine.store import (
    KEEP_METRICS,
    PRUNING,
    PRUNING_COLUMNS,
    RACING,
    RACING_COLUMNS,
    ResultsStore,
    check_writable,
    trial_columns,
)
from sweeper.engine.study import OPTUNA_STARTUP, Study, check_metric
from sweeper.engine.trial import TrialResult, TrialTask, run_trial
from sweeper.metrics import COUNTS, config_label, range_of

WORKER_RETRIES = 2  # a trial whose worker died is run again, at most this often, before it is recorded as failed


class Interrupted(Exception):
    """The user stopped the sweep (Ctrl-C); finished trials are saved."""


@dataclass
class RunSummary:
    folder: Path
    dataset: str
    planned: int  # configuration x seed trials the study asks for
    trained: int = 0  # trials run now
    reused: int = 0  # trials found in the results folder
    failed: int = 0
    diverged: int = 0
    seconds: float = 0.0
    best: str = ""
    device: str = "cpu"
    first_error: str = ""  # of the first trial that failed in this run


def default_data_root() -> str:
    return os.environ.get("SWEEPER_DATA_DIR") or "data"  # builtin.data.DEFAULT_ROOT, created on demand


def run_study(study: Study, *, results_root: Path, data_root: str, jobs: int, executor: str = "local",
              dry_run: bool = False, retry_failed: bool = False, restart: bool = False,
              source: str | None = None, show_progress: bool = True, stream: TextIO | None = None,
              executor_options: dict[str, Any] | None = None, asynchronous: bool | None = None,
              device: str = "cpu", debug: bool = False) -> RunSummary:
    """Run (or resume) a study; `asynchronous` None means: asynchronous with the Dask executor;
    `device` is cpu, cuda or auto (a GPU where the worker has one); `debug` lets an exception
    in training propagate (with the sequential executor: into a debugger)."""
    stream = stream or sys.stderr

    def log(msg: str) -> None:
        print(msg, file=stream, flush=True)

    pool = make_executor(executor, jobs, **(executor_options or {}))
    pool.start()
    try:
        used_device = resolve_device(device)  # a GPU asked for and missing fails here, before any training
        check_writable(Path(results_root))  # before anything is loaded or trained
        trainer = study.trainer
        dataset = trainer.prepare(data_root, log, study.foreseen_configs())
        known = trainer.metric_names()
        check_metric(study.metric, known)  # the user's data tells its task only now
        # a fallback dataset's results are no version of the study's own: a folder of their own,
        # so that running again once the real data is there simply starts the real study
        fallback = f".fallback-{dataset}" if study.data is None and study.train is None and dataset != study.dataset else ""
        name = study.name + fallback + (".dry-run" if dry_run else "")
        store = ResultsStore(Path(results_root) / name)
        identity: list[Identity] = []

        def snapshot(old: Mapping[str, Any] | None) -> dict[str, Any]:
            identity.append(identity_of(old, trainer))
            return {**study.to_dict(), "fingerprint": identity[0].fingerprint(study, trainer),
                    "identity": identity[0].to_json(), "dataset_used": dataset,
                    "planned_configs": study.planned_configs()}

        config_columns = list(study.config({}))
        store.open(snapshot, source, restart=restart or dry_run,
                   columns=trial_columns(config_columns + [n for n in study.space if n not in config_columns],
                                         known or []))
        if identity[0].scheme == 1 and study.sampler == "bayes" and study.bayes_startup is None:
            study = dataclasses.replace(study, bayes_startup=OPTUNA_STARTUP)  # as release 0.1 proposed
        try:
            if store.moved_aside is not None:
                log(f"old results of '{study.name}' moved to {store.moved_aside}")
            for note in store.repairs:
                log(f"repaired {note}")
            if retry_failed:
                store.drop(lambda r: r["status"] != "failed")
            asynchronous = executor == "dask" if asynchronous is None else asynchronous
            options = FitOptions(1 if dry_run else None, device, data_root, debug)
            summary = _sweep(study, identity[0], dataset, options, store, pool, asynchronous, show_progress, stream)
            summary.device = used_device
            return summary
        finally:
            store.close()
    finally:
        pool.shutdown(kill=True)


def _sweep(study: Study, identity: Identity, dataset: str, options: FitOptions, store: ResultsStore, pool: Executor,
           asynchronous: bool, show_progress: bool, stream: TextIO) -> RunSummary:
    summary = RunSummary(store.folder, dataset, study.planned_configs() * len(study.seed_list))
    progress = Progress(study.name, summary.planned, 0, stream, show_progress)
    sweep = _Sweep(study, identity, dataset, options, store, pool, make_sampler(study), summary, progress, asynchronous)
    start = time.monotonic()
    try:
        sweep.run()
    except KeyboardInterrupt:  # run_study's `finally` stops the workers
        progress.close()
        raise Interrupted(
            f"interrupted: {summary.trained} trials finished in this run and are saved in {store.folder}; "
            f"run the same command again to resume with the rest"
        ) from None
    progress.close()
    summary.seconds = time.monotonic() - start
    summary.best = sweep.best_label()
    return summary


class _Sweep:
    """The state of one sweep: configurations asked and not yet told (`pending`, in ask
    order), trials in flight (`futures`), and every stored row with its position in
    trials.csv (`stored`, `position`). Rows are stored only here, by the driver."""

    def __init__(self, study: Study, identity: Identity, dataset: str, options: FitOptions, store: ResultsStore,
                 pool: Executor, sampler: Sampler, summary: RunSummary, progress: Progress, asynchronous: bool) -> None:
        self.study, self.identity, self.dataset, self.options = study, identity, dataset, options
        self.store, self.pool, self.sampler = store, pool, sampler
        self.summary, self.progress = summary, progress
        self.trainer = study.trainer
        self.worker_defaults = self.trainer.defaults()  # names added since the folder was made get today's default
        self.seeds = study.seed_list
        bayes = study.sampler == "bayes"
        self.width = study.concurrent_configs if bayes else 10**9  # grid and random: ask for everything at once
        self.racing = study.racing
        self.asynchronous = asynchronous and bayes and self.racing is None  # a race decides in rounds: in batches
        self.stored: dict[tuple[str, int], dict[str, Any]] = {}
        self.position: dict[tuple[str, int], int] = {}
        self._rows = itertools.count()
        for row in store.rows():
            self._keep(row)
        self.pending: list[tuple[Proposal, str, bool]] = []  # proposal, trial id, trained by an earlier proposal
        self.futures: dict[Any, TrialTask] = {}
        self.lost: list[TrialTask] = []  # tasks whose worker died, to run again
        self.stackable: list[TrialTask] = []  # with `stack`: configurations to group before submitting
        self.retries: dict[tuple[str, tuple[int, ...]], int] = {}
        self.exhausted = False
        self.scores: dict[str, dict[int, float]] = {}  # trial -> seed -> metric, ok rows only
        self.labels: dict[str, str] = {}
        self.row_configs: dict[str, dict[str, Any]] = {}  # trial -> its configuration as trials.csv records it
        self.pools: list[list[str]] = []  # racing: the configurations of each ask, in order
        self.race = Plan()
        self.memo: dict[Any, Any] = {}  # racing: each decided round's drops (stored values never change)
        self.configs: dict[str, dict[str, Any]] = {}  # racing: trial -> its full configuration
        self.counted: set[tuple[str, int]] = set()  # racing: stored rows already counted as reused
        self.prune = study.prune
        self.order: list[str] = []  # pruning: the configurations, in the order proposed
        self.rung_of: dict[str, tuple[str, int]] = {}  # pruning: a rung's trial id -> (configuration, budget)
        self.held: dict[tuple[str, int], TrialResult] = {}  # pruning: results of a rung not yet decided
        self.steps: dict[str, Step] = {}  # pruning: each configuration's rung and state

    def run(self) -> None:
        self._advance()
        while self.futures or self.lost:
            if not self.futures:  # every task of the broken pool has come back: start afresh
                self.pool.restart()
                lost, self.lost = self.lost, []
                for task in lost:
                    self._submit(task)
                self._advance()
            for fut in self.pool.as_completed(list(self.futures)):
                self._receive(fut)
                if not self.lost and self._advance():
                    break  # new tasks were submitted: wait for them too

    # -- the sampler's side: ask and tell ---------------------------------------------
    def _advance(self) -> bool:
        """Tell finished configurations and ask for new ones, until the sampler is spent or
        waits for workers. Returns whether tasks were submitted."""
        submitted = False
        while True:
            room = self.width - len(self.pending) if self.asynchronous or not self.pending else 0
            if room > 0 and not self.exhausted:
                proposals = self.sampler.ask(room)
                self.exhausted = not proposals
                for p in proposals:
                    submitted |= self._start(p)
                self._submit_stacks()
                if self.racing is not None and proposals:
                    self.pools.append([trial for _, trial, _ in self.pending[-len(proposals):]])
            if self.racing is not None:
                submitted |= self._race()
            if self.prune is not None:
                submitted |= self._prune()
            ready = self._next_ready()
            if ready is None:
                return submitted
            self._tell(ready)

    def _start(self, p: Proposal) -> bool:
        config = self.identity.resolve({**self.study.fixed, **p.params})
        trial = self.identity.config_id(config, self.trainer)
        self.labels[trial] = config_label(p.params.items()) or trial
        shared = any(t == trial for _, t, _ in self.pending)  # proposed twice: train once, tell both
        self.pending.append((p, trial, shared))
        if shared:
            return False
        if self.racing is not None or self.prune is not None:  # `_race` or `_prune` decides what to train
            self.configs[trial] = config
            self.order.append(trial)
            return False
        missing = []
        for seed in self.seeds:
            if (trial, seed) in self.stored:
                self._count(self.stored[(trial, seed)], reused=True)
            else:
                missing.append(seed)
        worker_config = {**self.worker_defaults, **config}
        if missing and self.study.stack and self.trainer.stack_key(worker_config) is not None:
            self.row_configs.setdefault(trial, config)
            self.stackable.append(TrialTask(trial, tuple(missing), worker_config, self.trainer, self.options))
            return True
        groups = [tuple(missing)] if self.study.vectorize else [(seed,) for seed in missing]
        for group in filter(None, groups):  # vectorized: one task trains all the missing seeds together
            self._submit(TrialTask(trial, group, worker_config, self.trainer, self.options), config)
        return bool(missing)

    def _submit_stacks(self) -> None:
        """Submit the configurations waiting in `stackable`: those with the same stack key and
        missing seeds in one task per worker (configurations split as evenly as they go, and
        seeds too where there are fewer configurations than workers)."""
        kinds: dict[Any, list[TrialTask]] = {}
        for task in self.stackable:
            kinds.setdefault((self.trainer.stack_key(task.config), task.seeds), []).append(task)
        self.stackable = []
        workers = max(1, getattr(self.pool, "jobs", 1))
        for tasks in kinds.values():
            parts = min(len(tasks), workers)
            seeds = tasks[0].seeds
            seed_parts = min(len(seeds), -(-workers // parts))
            for i in range(parts):
                chunk = tasks[i * len(tasks) // parts:(i + 1) * len(tasks) // parts]
                for j in range(seed_parts):
                    some = seeds[j * len(seeds) // seed_parts:(j + 1) * len(seeds) // seed_parts]
                    self._submit(dataclasses.replace(chunk[0], seeds=some,
                                                     group=tuple((t.trial, t.config) for t in chunk[1:])))

    def _next_ready(self) -> int | None:
        """Index in `pending` of the configuration to tell next, if any: in batch mode the
        first asked once all its seeds are stored, asynchronously the first finished."""
        if not self.asynchronous:
            return 0 if self.pending and self._finished(self.pending[0][1]) else None
        done = [i for i, (_, trial, _) in enumerate(self.pending) if self._finished(trial)]
        return min(done, key=lambda i: max(self.position[(self.pending[i][1], s)] for s in self.seeds), default=None)

    def _finished(self, trial: str) -> bool:
        if self.racing is not None:
            return trial in self.race.entries and self.race.settled(trial)
        if self.prune is not None:
            return trial in self.steps and self.steps[trial].state != "running"
        return all((trial, s) in self.stored for s in self.seeds)

    def _tell(self, index: int) -> None:
        """Tell the sampler a configuration's mean over its seeds; a diverged or failed seed
        counts as the metric's worst value (0 accuracy), and where the metric has no such
        bound the configuration is told as failed: never the mean of the seeds it survived."""
        p, trial, shared = self.pending.pop(index)
        if self.prune is not None:  # grid and random search only: they learn nothing from a value
            self.sampler.tell(p, None if self.steps[trial].state == PRUNED else score(
                {s: _value(self.stored[(trial, s)], self.study.metric) for s in self.seeds},
                self.study.direction == "maximize", range_of(self.study.metric)))
            return
        seeds = self.seeds[:self.race.wanted(trial)] if self.racing is not None else self.seeds
        rows = [self.stored[(trial, s)] for s in seeds]
        if shared:
            for row in rows:
                self._count(row, reused=True)
        self.sampler.tell(p, score({s: _value(r, self.study.metric) for s, r in zip(seeds, rows, strict=True)},
                                   self.study.direction == "maximize", range_of(self.study.metric)))

    # -- racing: which seeds to train next -------------------------------------------
    def _race(self) -> bool:
        """Replay the race from the stored rows and submit the seeds it asks for that are
        neither stored nor running. Returns whether tasks were submitted."""
        assert self.racing is not None
        values = {t: {s: _value(self.stored[(t, s)], self.study.metric) for s in self.seeds if (t, s) in self.stored}
                  for pool in self.pools for t in pool}
        race = plan(self.pools, values, self.seeds, self.racing, self.study.direction == "maximize",
                    range_of(self.study.metric), self.labels, self.memo, lone_stops=self.study.sampler != "bayes")
        if _record(race) != _record(self.race):  # racing.csv: a record of the decisions, rewritten as they change
            self.store.write_table(RACING, RACING_COLUMNS, [(r[0], self.labels.get(r[0], r[0]), *r[1:])
                                                            for r in _record(race)])
        self.race = race
        running = {(task.trial, s) for task in [*self.futures.values(), *self.lost] for s in task.seeds}
        submitted = False
        for trial, entry in race.entries.items():
            missing = []
            for seed in self.seeds[:entry.seeds]:
                if (trial, seed) in self.stored:
                    if (trial, seed) not in self.counted:
                        self.counted.add((trial, seed))
                        self._count(self.stored[(trial, seed)], reused=True)
                elif (trial, seed) not in running:
                    missing.append(seed)
            groups = [tuple(missing)] if self.study.vectorize else [(seed,) for seed in missing]
            for group in filter(None, groups):
                config = self.configs[trial]
                self._submit(TrialTask(trial, group, {**self.worker_defaults, **config}, self.trainer, self.options),
                             config)
                submitted = True
        return submitted

    # -- pruning: which rung to train next --------------------------------------------
    def _rung_id(self, trial: str, budget: int) -> str:
        assert self.prune is not None
        if budget == self.study.full_budget:
            return trial
        config = {**self.configs[trial], self.prune.resource: budget}
        rung = self.identity.config_id(config, self.trainer)
        self.rung_of[rung] = (trial, budget)
        return rung

    def _prune(self) -> bool:
        """Replay the rungs from the stored rows and the held results; write the rows of
        rungs now decided (in configuration and seed order); submit what the rungs ask for
        that is neither stored, held nor running. Returns whether tasks were submitted."""
        assert self.prune is not None
        metric, full = self.study.metric, self.study.full_budget
        levels = self.prune.levels(full)
        values: dict[tuple[str, int], dict[int, float | None]] = {}
        for t in self.order:
            for budget in levels:
                rung, got = self._rung_id(t, budget), {}
                for s in self.seeds:
                    if (rung, s) in self.stored:
                        got[s] = _value(self.stored[(rung, s)], metric)
                    elif (rung, s) in self.held:
                        result = self.held[(rung, s)]
                        got[s] = None if result.status != "ok" else _number(result.metrics.get(metric))
                values[(t, budget)] = got
        steps = prune_plan(self.order, values, self.seeds, self.prune, full, self.study.direction == "maximize",
                           range_of(metric), self.labels)
        self._write_decided(steps, levels)
        if _steps(steps) != _steps(self.steps):
            self.store.write_table(PRUNING, PRUNING_COLUMNS, [
                (t, self.labels.get(t, t), e.rung + 1, levels[e.rung], e.state, e.reason,
                 self._rung_id(t, levels[e.rung])) for t, e in steps.items()])
        self.steps = steps
        running = {(task.trial, s) for task in [*self.futures.values(), *self.lost] for s in task.seeds}
        submitted = False
        for t, step in steps.items():
            for key in [(self._rung_id(t, b), s) for b in levels[:step.rung + 1] for s in self.seeds]:
                if key in self.stored and key not in self.counted:  # found in the results folder
                    self.counted.add(key)
                    self._count(self.stored[key], reused=True)
            rung, missing = self._rung_id(t, levels[step.rung]), []
            for s in self.seeds:
                if (rung, s) in self.stored:
                    continue
                if step.state == "running" and (rung, s) not in self.held and (rung, s) not in running:
                    missing.append(s)
            config = {**self.configs[t], self.prune.resource: levels[step.rung]}
            groups = [tuple(missing)] if self.study.vectorize else [(s,) for s in missing]
            for group in filter(None, groups):
                self._submit(TrialTask(rung, group, {**self.worker_defaults, **config}, self.trainer, self.options),
                             config)
                submitted = True
        return submitted

    def _write_decided(self, steps: dict[str, Step], levels: list[int]) -> None:
        """Store the held results of decided rungs: `pruned` where the configuration stopped
        there, `promoted` where it went on (a seed the user's loop pruned stays `pruned`)."""
        for t in self.order:
            step = steps[t]
            for index, budget in enumerate(levels[:-1]):
                decided = index < step.rung or (index == step.rung and step.state == PRUNED)
                rung = self._rung_id(t, budget)
                for s in self.seeds:
                    if not decided or (rung, s) not in self.held:
                        continue
                    result = self.held.pop((rung, s))
                    lost = "" if result.status == "ok" else f"{result.status} at {self.prune and self.prune.resource}" \
                                                            f"={budget}: {result.error}"
                    status = PRUNED if index == step.rung or result.status == PRUNED else PROMOTED
                    kept = dataclasses.replace(result, status=status, error=lost,
                                               metrics=result.metrics if result.status == "ok" else {
                                                   k: v for k, v in result.metrics.items() if k in COUNTS})
                    row = self._keep(self.store.append(kept, self.row_configs[rung], self.dataset))
                    self.counted.add((rung, s))
                    self._count(row)

    # -- the workers' side: submit and receive ------------------------------------------
    def _submit(self, task: TrialTask, row_config: dict[str, Any] | None = None) -> None:
        self.row_configs.setdefault(task.trial, row_config or task.config)
        try:
            self.futures[self.pool.submit(run_trial, task)] = task
        except self.pool.worker_lost:  # the pool broke before its futures said so (a worker died
            self.lost.append(task)     # starting up, say): the task runs after the restart, uncharged

    def _receive(self, fut: Any) -> None:
        """Store a finished task's rows (one per seed); a task whose worker died is queued to
        run again (at most WORKER_RETRIES times, then its seeds are recorded as failed)."""
        task = self.futures.pop(fut)
        try:
            results: list[TrialResult] = fut.result()
        except self.pool.worker_lost as e:
            key = (task.trial, task.seeds)
            self.retries[key] = self.retries.get(key, 0) + 1
            if self.retries[key] <= WORKER_RETRIES:
                self.lost.append(task)
                return
            results = [TrialResult(trial, seed, "failed", {}, 0.0,
                                   f"worker process died ({type(e).__name__}), {WORKER_RETRIES + 1} times")
                       for trial, _ in task.members for seed in task.seeds]
        except Exception as e:  # e.g. the task could not be sent to a worker
            if self.options.debug:
                raise
            results = [TrialResult(trial, seed, "failed", {}, 0.0, f"{type(e).__name__}: {e}")
                       for trial, _ in task.members for seed in task.seeds]
        for result in results:
            if self.prune is not None and result.trial in self.rung_of:  # a rung below the full budget
                self.held[(result.trial, result.seed)] = result
                self.summary.trained += 1
                continue
            row = self._keep(self.store.append(result, self.row_configs[result.trial], self.dataset))
            self.counted.add((result.trial, result.seed))
            self.summary.trained += 1
            self.summary.failed += result.status == "failed"
            if result.status == "failed" and not self.summary.first_error:
                self.summary.first_error = result.error
            self.summary.diverged += result.status == "diverged"
            self._count(row)

    def _keep(self, row: dict[str, Any]) -> dict[str, Any]:
        key = (row["trial"], int(row["seed"]))
        self.stored[key] = {k: str(v) for k, v in row.items()}
        self.position[key] = next(self._rows)
        return self.stored[key]

    # -- progress -------------------------------------------------------------------
    def _count(self, row: dict[str, Any], reused: bool = False) -> None:
        self.summary.reused += reused
        if row["status"] == "ok":
            self.scores.setdefault(row["trial"], {})[int(row["seed"])] = float(row[self.study.metric])
        # a promoted row is a rung on the way to the configuration's own row: not a trial done
        self.progress.update(None if row["status"] == PROMOTED else row["status"], self.best_label())

    def best_label(self) -> str:
        means = {t: statistics.fmean(v.values()) for t, v in self.scores.items() if v}
        done = {t: m for t, m in means.items() if not math.isnan(m)}
        if not done:
            return ""
        pick = max if self.study.direction == "maximize" else min
        best = pick(done, key=lambda t: done[t])
        return f"{self.labels.get(best, best)} {self.study.metric}={done[best]:.4f} ({len(self.scores[best])} seeds)"


def _value(row: Mapping[str, Any], metric: str) -> float | None:
    """A stored row's metric; None for a seed that diverged or failed (or wrote no number)."""
    try:
        value = float(row[metric]) if row["status"] in KEEP_METRICS else math.nan
    except (KeyError, ValueError):
        value = math.nan
    return None if math.isnan(value) else value


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _steps(steps: Mapping[str, Step]) -> list[tuple[Any, ...]]:
    return [(e.trial, e.rung, e.state, e.reason) for e in steps.values()]


def _record(race: Plan) -> list[tuple[Any, ...]]:
    return [(e.trial, e.pool, e.seeds, e.state, e.round, e.reason) for e in race.entries.values()]
