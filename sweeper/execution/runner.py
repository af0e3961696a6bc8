"""The sweep loop: ask the sampler -> the schedule's rows -> executor -> store -> tell.

Every configuration gets the same seed list, so configurations can later be compared seed
by seed. What to train for the configurations proposed is the study's schedule's to say
(`schedule.py`: every seed, a seed race, or pruning's rungs); how the missing rows become
tasks is `trial.pack`'s (one per seed, a configuration's seeds together with `vectorize`,
configurations with one stack key together with `stack`). Rows already in the results
folder are not trained again: a re-run trains only what is missing, and replays the stored
results to the sampler in the order it asked, so random and Bayesian search propose what
they proposed before.

A sampler that learns (Bayesian search) keeps `concurrent_configs` configurations in flight,
in one of two modes. In batches (the default), it asks for that many, waits for all, and
tells their results in the order asked: its proposals do not depend on timing or on the
number of workers. In asynchronous mode (the default of executors that declare it, such as
Dask), it asks for the next configuration as soon as one finishes, so no worker waits for a
batch's slowest trial; results are told in the order they finished. The rows of trials.csv
are in that order too, so a resumed asynchronous sweep replays the same sequence and
proposes what it proposed before.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sweeper.execution.devices import resolve_device
from sweeper.execution.executors import Executor, make_executor
from sweeper.execution.progress import BestSoFar, Progress
from sweeper.execution.trial import UNSTACKED, TrialResult, TrialTask, run_trial
from sweeper.metrics import config_label
from sweeper.schedules.groups import pack, without
from sweeper.schedules.pruning import Prune
from sweeper.schedules.racing import Race
from sweeper.schedules.samplers import Proposal, make_sampler
from sweeper.schedules.schedule import Plain, Rows, Schedule
from sweeper.storage import live, provenance
from sweeper.storage.layout import checkpoint_file
from sweeper.storage.store import ResultsStore, check_writable, trial_columns
from sweeper.study.options import RunOptions
from sweeper.study.study import CHECKPOINT_SECONDS, OPTUNA_STARTUP, Study, check_metric
from sweeper.usercode import shipping
from sweeper.usercode.identity import Identity, identity_of
from sweeper.usercode.plugin import FitOptions

WORKER_RETRIES = 2  # a trial whose worker died is run again, at most this often, before it is recorded as failed
PROMOTED = "promoted"  # a rung's row of a configuration that went on (schedules/pruning.py): not a trial done


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
    where: str = ""  # where the tasks ran, as the executor says it
    first_error: str = ""  # of the first trial that failed in this run
    stacked: bool = False  # configurations trained in stacked groups (schedules/groups.py)
    unstacked: list[str] = field(default_factory=list)  # why configurations were trained one at a time instead


def run_study(study: Study, options: RunOptions | None = None, **changes: Any) -> RunSummary:
    """Run (or resume) a study with `options` (a `RunOptions`; keyword arguments change its fields)."""
    options = (options or RunOptions()).replace(**changes)
    study = options.apply(study)
    stream = options.stream or sys.stderr

    def log(msg: str) -> None:
        print(msg, file=stream, flush=True)

    pool = make_executor(options.executor, options.jobs, scheduler=options.scheduler)
    pool.preload = study.trainer.preload
    pool.start()
    try:
        used_device = resolve_device(options.device)  # a GPU asked for and missing fails here, before any training
        check_writable(options.results_root)  # before anything is loaded or trained
        trainer = study.trainer
        if options.executor != "sequential":  # tasks will be pickled: the user's modules by value, the unpicklable named
            shipping.ship(study)
        dataset = trainer.prepare(options.data_root, log, study.foreseen_configs())
        known = trainer.metric_names()
        check_metric(study.metric, known)  # the user's data tells its task only now
        # a fallback dataset's results are no version of the study's own: a folder of their own,
        # so that running again once the real data is there simply starts the real study
        fallback = f".fallback-{dataset}" if study.data is None and study.train is None and dataset != study.dataset else ""
        name = study.name + fallback + (".dry-run" if options.dry_run else "")
        store = ResultsStore(options.results_root / name)
        identity: list[Identity] = []
        stack: list[bool] = []

        def snapshot(old: Mapping[str, Any] | None) -> dict[str, Any]:
            identity.append(identity_of(old, trainer))
            stack.append(training_mode(study, old))
            return {**study.to_dict(), "stack": stack[0], "fingerprint": identity[0].fingerprint(study, trainer),
                    "identity": identity[0].to_json(), "dataset_used": dataset,
                    "planned_configs": study.planned_configs()}

        config_columns = list(study.config({}))
        store.open(snapshot, options.source, restart=options.restart or options.dry_run,
                   columns=trial_columns(config_columns + [n for n in study.space if n not in config_columns],
                                         known or []), required=[*study.fixed, *study.space, study.metric])
        run_log = provenance.begin(store, study)  # runs.jsonl: versions, command line, git commit
        if identity[0].scheme == 1 and study.sampler == "bayes" and study.bayes_startup is None:
            study = dataclasses.replace(study, bayes_startup=OPTUNA_STARTUP)  # as release 0.1 proposed
        try:
            if store.moved_aside is not None:
                log(f"old results of '{study.name}' moved to {store.moved_aside}")
            for note in store.repairs:
                log(f"repaired {note}")
            if options.retry_failed:
                store.drop(lambda r: r["status"] != "failed")
            summary = RunSummary(store.folder, dataset, study.planned_configs() * len(study.seed_list),
                                 device=used_device, where=pool.describe(), stacked=stack[0])
            _sweep(_Sweep(study, identity[0], options, store, pool, summary), stream)
            return summary
        finally:
            run_log.end()
            store.close()
    finally:
        pool.shutdown(kill=True)


def training_mode(study: Study, old: Mapping[str, Any] | None) -> bool:
    """Whether a sweep trains stacked groups: as the study (or the command line) says; left to
    the default, as its folder's rows were trained (rows written one at a time, or before
    stacking was the default, go on one at a time), and in a new folder wherever the trainer
    stacks, unless the study vectorizes."""
    if study.stack is not None:
        return study.stack
    if old is not None:
        return bool(old.get("stack"))
    return study.trainer.stacks and not study.vectorize


def _sweep(sweep: _Sweep, stream: TextIO) -> None:
    start = time.monotonic()
    live.clear(sweep.store.folder)  # what a run killed earlier left: nothing of it runs now
    shown = live.ProgressFile(sweep.store.folder, sweep.state).start()
    try:
        sweep.run()
    except KeyboardInterrupt:  # run_study's `finally` stops the workers
        sweep.progress.close()
        shown.close("interrupted")
        raise Interrupted(
            f"interrupted: {sweep.summary.trained} trials finished in this run and are saved in {sweep.store.folder}; "
            f"run the same command again to resume with the rest"
        ) from None
    except BaseException:
        shown.close("failed")
        raise
    sweep.progress.close()
    sweep.summary.seconds = time.monotonic() - start
    sweep.summary.best = sweep.best_label()
    if sweep.study.weights == "best":  # the best configuration's seeds keep their weights, the others' go
        sweep.store.keep_weights(sweep.best_trials())
    shown.close("finished")
    live.clear(sweep.store.folder)


def make_schedule(study: Study, ids: Callable[[Mapping[str, Any]], str], labels: Mapping[str, str]) -> Schedule:
    """The study's schedule: pruning (with or without a race), a race, or every seed."""
    kind: type[Schedule] = Prune if study.prune is not None else Race if study.racing is not None else Plain
    return kind(study, ids, labels)


class _Sweep:
    """The state of one sweep: configurations asked and not yet told (`pending`, in ask
    order), tasks in flight (`futures`), and every stored row (`rows`). Rows are stored only
    here, by the driver."""

    def __init__(self, study: Study, identity: Identity, options: RunOptions, store: ResultsStore, pool: Executor,
                 summary: RunSummary) -> None:
        self.study, self.identity, self.store, self.pool, self.summary = study, identity, store, pool, summary
        self.trainer = study.trainer
        keep = () if study.weights == "none" else ("best", "last") if study.keep_last else ("best",)
        self.fit_options = FitOptions(1 if options.dry_run else None, options.device, options.data_root, options.debug,
                                      live=pool.live_sink(store.folder, lambda trial, seed: (trial, seed) in self.rows),
                                      checkpoint_every=study.checkpoint_every, checkpoint_seconds=CHECKPOINT_SECONDS,
                                      checkpoint_final=study.prune is not None, weights=keep,
                                      crossed=study.crossed is not None)
        self.worker_defaults = self.trainer.defaults()  # names added since the folder was made get today's default
        self.progress = Progress(study.name, summary.planned, 0, options.stream or sys.stderr, options.show_progress)
        self.sampler = make_sampler(study)
        self.labels: dict[str, str] = {}
        self.schedule = make_schedule(study, lambda config: identity.config_id(config, self.trainer), self.labels)
        self.width = study.concurrent_configs if self.sampler.learns else 10**9  # others: ask for everything at once
        asynchronous = pool.asynchronous if options.asynchronous is None else options.asynchronous
        self.asynchronous = asynchronous and self.sampler.learns and self.schedule.asynchronous
        self.rows = Rows(study.metric)
        for row in store.rows():
            self.rows.add(row)
        self.pending: list[tuple[Proposal, str, bool]] = []  # proposal, trial id, trained by an earlier proposal
        self.proposed: set[str] = set()
        self.futures: dict[Any, TrialTask] = {}
        self.lost: list[TrialTask] = []  # tasks whose worker died, to run again
        self.retries: dict[tuple[str, tuple[int, ...]], int] = {}
        self.exhausted = False
        self.counted: set[tuple[str, int]] = set()  # stored rows counted in the progress
        self.best = BestSoFar(study.direction == "maximize")  # over ok rows only
        self.row_configs: dict[str, dict[str, Any]] = {}  # trial -> its configuration as trials.csv records it
        self.tables: dict[str, Any] = {}  # the schedule's decision tables as last written
        self.resume_from: dict[tuple[str, int], tuple[str, int]] = {}  # (trial, seed) -> the checkpoint it goes on from
        self.unstackable: dict[Any, str] = {}  # stack keys whose configurations the trainer could not stack, and why

    def run(self) -> None:
        self._advance()
        while self.futures or self.lost:
            if not self.futures:  # every task of the broken pool has come back: start afresh
                self.pool.restart()
                lost, self.lost = self.lost, []
                for task in lost:
                    self._submit(task)
                self._advance()
            for batch in self.pool.batches(list(self.futures)):
                self._receive(batch)
                if not self.lost and self._advance():
                    break  # new tasks were submitted: wait for them too

    # -- the sampler's side: ask and tell ---------------------------------------------
    def _advance(self) -> bool:
        """Ask for configurations, decide what to train, and tell settled configurations,
        until the sampler is spent or waits for workers. Returns whether tasks were submitted."""
        submitted = False
        while True:
            room = self.width - len(self.pending) if self.asynchronous or not self.pending else 0
            if room > 0 and not self.exhausted:
                proposals = self.sampler.ask(room)
                self.exhausted = not proposals
                pool = [(trial, self.row_configs[trial]) for trial, shared in map(self._record, proposals) if not shared]
                self.schedule.propose(pool)
            self._store(self.schedule.update(self.rows))  # what a schedule held back and has now decided
            self._write_tables()
            submitted |= self._submit_wanted()
            ready = self._next_ready()
            if ready is None:
                return submitted
            self._tell(ready)

    def _record(self, p: Proposal) -> tuple[str, bool]:
        """A proposal's configuration id, and whether it was proposed before (a search may
        draw one twice: trained once, told to both, its rows counted again as reused)."""
        config = self.identity.resolve({**self.study.fixed, **p.params})
        trial = self.identity.config_id(config, self.trainer)
        self.labels.setdefault(trial, config_label(p.params.items()) or trial)
        shared = trial in self.proposed
        self.proposed.add(trial)
        self.pending.append((p, trial, shared))
        self.row_configs.setdefault(trial, config)
        return trial, shared

    def _next_ready(self) -> int | None:
        """Index in `pending` of the configuration to tell next, if any: in batch mode the
        first asked once it is settled, asynchronously the first finished."""
        if not self.asynchronous:
            return 0 if self.pending and self.schedule.settled(self.pending[0][1], self.rows) else None
        done = [i for i, (_, trial, _) in enumerate(self.pending) if self.schedule.settled(trial, self.rows)]
        return min(done, key=lambda i: max(self.rows.position[k] for k in self.schedule.final(self.pending[i][1])),
                   default=None)

    def _tell(self, index: int) -> None:
        """Tell the sampler a configuration's value over its seeds (`Schedule.value`): a
        lost seed counts as the metric's worst value, and where the metric has no such bound
        the configuration is told as failed: never the mean of the seeds it survived."""
        p, trial, shared = self.pending.pop(index)
        if shared:
            for key in self.schedule.final(trial):
                self._count(self.rows.rows[key], reused=True)
        self.sampler.tell(p, self.schedule.value(trial, self.rows))

    def _write_tables(self) -> None:
        """The schedule's decisions (racing.csv, pruning.csv), rewritten as they change."""
        for name, (columns, rows) in self.schedule.tables().items():
            if self.tables.get(name) != rows:
                self.store.write_table(name, columns, rows)
                self.tables[name] = rows

    # -- the workers' side: submit and receive ------------------------------------------
    def _submit_wanted(self) -> bool:
        """Submit the rows the schedule wants that are neither stored, held nor running;
        count the stored ones found from earlier runs. Returns whether tasks were submitted."""
        new = self.schedule.new_work()
        if not new:  # most calls: a row was stored and nothing new is wanted
            return False
        done = {(trial, s) for task in [*self.futures.values(), *self.lost] for trial, _ in task.members
                for s in task.seeds}
        work = []
        for item in new:
            self.row_configs.setdefault(item.trial, item.config)
            seeds = []
            for seed in item.seeds:
                key = (item.trial, seed)
                if key in self.rows:
                    if key not in self.counted:
                        self._count(self.rows.rows[key], reused=True)
                elif key not in done and not self.schedule.holds(key):
                    seeds.append(seed)
            # a configuration with nothing missing still counts in the stacked groups' cut
            work.append((item.trial, {**self.worker_defaults, **item.config}, item.seeds, tuple(seeds)))
            self.resume_from.update({(item.trial, s): (item.resume.get(s, item.trial), s) for s in item.seeds})
        tasks = pack(work, self.trainer, self.fit_options, vectorize=self.study.vectorize, stack=self.summary.stacked,
                     unstackable=frozenset(self.unstackable))
        for task in tasks:
            self._submit(self._with_checkpoints(task))
        return bool(tasks)

    def _with_checkpoints(self, task: TrialTask) -> TrialTask:
        """The task with the checkpoints it can go on from: its own trials' (a run stopped
        half-way) or, for a pruning rung, those its configuration's last rung ended with."""
        saved = []
        for trial, _ in task.members:
            for seed in task.seeds:
                for previous in (False, True):  # the last first
                    path = checkpoint_file(self.store.folder, *self.resume_from.get((trial, seed), (trial, seed)),
                                           previous=previous)
                    if path.is_file():
                        saved.append(((trial, seed), path.read_bytes()))
        return dataclasses.replace(task, resume=tuple(saved)) if saved else task

    def _submit(self, task: TrialTask) -> None:
        try:
            self.futures[self.pool.submit(run_trial, task)] = task
        except self.pool.worker_lost:  # the pool broke before its futures said so (a worker died
            self.lost.append(task)     # starting up, say): the task runs after the restart, uncharged

    def _receive(self, batch: list[Any]) -> None:
        """Store the rows of tasks that finished together (one per seed) in one write, or hand
        them to the schedule to hold; a task whose worker died is queued to run again."""
        ready: list[TrialResult] = []
        taken: set[tuple[str, int]] = set()
        for fut in batch:
            task = self.futures.pop(fut)
            results = self._results(fut, task)
            if results and results[0].status == UNSTACKED:
                self._store(ready)  # what is stored is not trained again
                ready = []
                self._one_at_a_time(task, results[0].error)
                continue
            for result in results:
                key = (result.trial, result.seed)
                if key in self.rows or key in taken or self.schedule.holds(key):
                    continue  # a stacked group trained whole again: this row was stored before
                taken.add(key)
                self.summary.trained += 1
                if self.schedule.receive(result):
                    ready.append(result)
        self._store(ready)

    def _results(self, fut: Any, task: TrialTask) -> list[TrialResult]:
        """A finished task's results; none for one whose worker died, queued to run again (at
        most WORKER_RETRIES times, then its seeds are recorded as failed)."""
        try:
            results: list[TrialResult] = fut.result()
        except self.pool.worker_lost as e:
            key = (task.trial, task.seeds)
            self.retries[key] = self.retries.get(key, 0) + 1
            if self.retries[key] <= WORKER_RETRIES:
                self.lost.append(task)
                return []
            results = [TrialResult(trial, seed, "failed", {}, 0.0,
                                   f"worker process died ({type(e).__name__}), {WORKER_RETRIES + 1} times")
                       for trial, _ in task.members for seed in task.seeds]
        except Exception as e:  # e.g. the task could not be sent to a worker
            if self.fit_options.debug:
                raise
            results = [TrialResult(trial, seed, "failed", {}, 0.0, f"{type(e).__name__}: {e}")
                       for trial, _ in task.members for seed in task.seeds]
        return results

    def _one_at_a_time(self, task: TrialTask, why: str) -> None:
        """A stacked task its trainer could not stack: its missing rows go one at a time, and so
        do those of its stack key from now on; why is said once, in the summary line."""
        self.unstackable[self.trainer.stack_key(task.config)] = why
        if why not in self.summary.unstacked:
            self.summary.unstacked.append(why)
        for one in without(task, lambda key: key in self.rows or self.schedule.holds(key)):
            self._submit(self._with_checkpoints(one))

    def _store(self, results: list[TrialResult]) -> None:
        """Write rows, in one append (the commit point), then count them: no row counts, nor
        reaches the schedule's decisions, before it is on disk."""
        if not results:
            return
        written = self.store.append_many([(r, self.row_configs[r.trial]) for r in results], self.summary.dataset)
        for result, row in zip(results, written, strict=True):
            self._stored(result, self.rows.add(row))

    def _stored(self, result: TrialResult, row: dict[str, str]) -> None:
        for which, data in result.weights.items():  # written by the driver, whatever executor trained it
            self.store.write_weights(result.trial, result.seed, which, data)
        live.finished(self.store.folder, result.trial, result.seed)
        for trial, seed in self.schedule.spent_checkpoints(result.trial, result.seed, result.status):
            live.spent(self.store.folder, trial, seed)
        self.summary.failed += result.status == "failed"
        self.summary.diverged += result.status == "diverged"
        if result.status == "failed" and not self.summary.first_error:
            self.summary.first_error = result.error
        self._count(row)

    # -- progress -------------------------------------------------------------------
    def _count(self, row: Mapping[str, Any], reused: bool = False) -> None:
        self.counted.add((row["trial"], int(row["seed"])))
        self.summary.reused += reused
        value = self.rows.value(row["trial"], int(row["seed"]))
        if row["status"] == "ok" and value is not None:
            self.best.add(row["trial"], int(row["seed"]), value)
        # a promoted row is a rung on the way to the configuration's own row: not a trial done
        self.progress.update(None if row["status"] == PROMOTED else row["status"], self.best_label())

    def state(self) -> dict[str, Any]:
        """What progress.json says of this sweep (storage/live.py). Read by that file's thread
        while the driver stores rows: it reads only values the driver has set, never a
        collection the driver changes (iterating one raised "dictionary changed size")."""
        eta = self.progress.eta_seconds()
        return {"planned": self.summary.planned, "done": self.progress.done, "trained": self.summary.trained,
                "failed": self.summary.failed, "diverged": self.summary.diverged,
                "eta_seconds": None if eta is None else round(eta, 1), "best": self.progress.best}

    def best_trials(self) -> list[str]:
        """The rows' ids of the best configuration, as the report ranks it: the best mean over
        its final rows among those that lost no seed (`compare.score`), else among all."""
        scored = []
        for trial in self.schedule.configs:
            final = self.schedule.final(trial)
            values = [self.rows.value(t, s) for t, s in final if (t, s) in self.rows]
            got = [v for v in values if v is not None]
            if got:
                lost = len(got) < len(final) or not self.schedule.settled(trial, self.rows)
                mean = sum(got) / len(got)
                scored.append((lost, -mean if self.study.direction == "maximize" else mean, trial))
        if not scored:
            return []
        best = min(scored)[2]
        return sorted({t for t, _ in self.schedule.final(best)})

    def best_label(self) -> str:
        best = self.best.best()
        if best is None:
            return ""
        trial, mean, seeds = best
        return f"{self.labels.get(trial, trial)} {self.study.metric}={mean:.4f} ({seeds} seeds)"
