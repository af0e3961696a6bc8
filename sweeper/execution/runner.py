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
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sweeper.execution.devices import DevicePlan, plan_for, resolve_device
from sweeper.execution.executors import Executor, make_executor
from sweeper.execution.progress import Progress
from sweeper.execution.trial import UNSTACKED, TrialResult, TrialTask, run_trial
from sweeper.metrics import best, config_label, range_of
from sweeper.schedules.groups import pack, without
from sweeper.schedules.pruning import Prune
from sweeper.schedules.racing import Race
from sweeper.schedules.samplers import Proposal, make_sampler
from sweeper.schedules.schedule import Plain, Rows, Schedule
from sweeper.storage import live, provenance
from sweeper.storage.layout import checkpoint_file
from sweeper.storage.store import ResultsStore, check_writable, trial_columns
from sweeper.study.options import RunOptions, default_jobs
from sweeper.study.study import CHECKPOINT_SECONDS, Study, check_metric
from sweeper.usercode import shipping
from sweeper.usercode.identity import Identity, identity_of
from sweeper.usercode.plugin import FitOptions

BEST_EVERY_S = 0.25  # the progress line's best so far is worked out at most this often
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
    failed: int = 0  # of the trials trained now
    diverged: int = 0
    earlier_failed: int = 0  # of the rows found from earlier runs
    earlier_diverged: int = 0
    seconds: float = 0.0
    best: str = ""
    device: str = "cpu"
    where: str = ""  # where the tasks ran, as the executor says it
    first_error: str = ""  # of the first trial that failed in this run
    timed_out: bool = False  # the study's `timeout` stopped its proposals: a later run goes on
    stacked: bool = False  # configurations trained in stacked groups (schedules/groups.py)
    unstacked: list[str] = field(default_factory=list)  # why configurations were trained one at a time instead


def run_study(study: Study, options: RunOptions | None = None, **changes: Any) -> RunSummary:
    """Run (or resume) a study with `options` (a `RunOptions`; keyword arguments change its fields)."""
    options = (options or RunOptions()).replace(**changes)
    study = options.apply(study)
    stream = options.stream or sys.stderr

    def log(msg: str) -> None:
        print(msg, file=stream, flush=True)

    plan = device_plan(study, options)  # which worker trains on which GPU: before the workers start
    pool = make_executor(options.executor, plan.workers, scheduler=options.scheduler)
    pool.devices = plan.devices if plan.gpus and plan.pinned else ()
    pool.gpu_share = plan.share if options.device != "cpu" else None  # what a Dask task asks of a GPU worker
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
        builtin_data = study.data is None and study.train is None and study.lightning is None and study.objective is None
        fallback = f".fallback-{dataset}" if builtin_data and dataset != study.dataset else ""
        name = study.name + fallback + (".dry-run" if options.dry_run else "")
        store = ResultsStore(options.results_root / name)
        snapshot = _Snapshot(study, dataset)
        config_columns = list(study.config({}))
        store.open(snapshot, options.source, restart=options.restart or options.dry_run,
                   columns=trial_columns(config_columns + [n for n in study.space if n not in config_columns],
                                         known or []), required=[*study.fixed, *study.space, study.metric],
                   restore=column_restorer(study, snapshot))
        run_log = provenance.begin(store, study)  # runs.jsonl: versions, command line, git commit
        study = snapshot.identity.proposing(study)  # an older folder's Bayesian start-up, as it proposed then
        try:
            if store.moved_aside is not None:
                log(f"old results of '{study.name}' moved to {store.moved_aside}")
            for note in store.repairs:
                log(f"repaired {note}")
            if options.retry_failed:
                store.drop(lambda r: r["status"] != "failed")
            summary = RunSummary(store.folder, dataset, study.planned_configs() * len(study.seed_list),
                                 device=used_device, where=pool.describe(), stacked=snapshot.stack)
            if trainer.unstacks and study.stack is None:
                summary.unstacked.append(trainer.unstacks)
            _sweep(_Sweep(study, snapshot.identity, options, store, pool, summary), stream)
            return summary
        finally:
            run_log.end()
            store.close()
    finally:
        pool.shutdown(kill=True)


class _Snapshot:
    """study.json of a run as a function of the folder's old one (`ResultsStore.open` calls it
    once), keeping what the old one decides: the identity scheme and whether the sweep stacks."""

    identity: Identity
    stack: bool

    def __init__(self, study: Study, dataset: str) -> None:
        self.study, self.dataset = study, dataset

    def __call__(self, old: Mapping[str, Any] | None) -> dict[str, Any]:
        study, trainer = self.study, self.study.trainer
        self.identity, self.stack = identity_of(old, trainer), training_mode(study, old)
        return {**study.to_dict(), "stack": self.stack, "fingerprint": self.identity.fingerprint(study, trainer),
                "identity": self.identity.to_json(), "dataset_used": self.dataset,
                "planned_configs": study.planned_configs()}


def device_plan(study: Study, options: RunOptions) -> DevicePlan:
    """Which worker trains on which device (execution/devices.py): local workers are pinned,
    one per GPU slot unless --jobs says otherwise; --gpus-per-trial overrides the study's."""
    share = study.gpus_per_trial if options.gpus_per_trial is None else options.gpus_per_trial
    return plan_for(options.device, options.jobs, share, pinned=options.executor == "local", cores=default_jobs())


def column_restorer(study: Study, snapshot: _Snapshot) -> Callable[[str, Mapping[str, str]], str | None]:
    """A configuration column's value in a stored row, from the study's own record (its fixed
    values over the defaults study.json recorded; a grid's values by the row's trial id), as
    trials.csv writes it; None where the record cannot tell (a searched value off a grid).
    `snapshot` holds the folder's identity once the store has read study.json."""
    grid: dict[str, dict[str, Any]] = {}

    def value(name: str, row: Mapping[str, str]) -> str | None:
        if name not in study.space:
            config = snapshot.identity.resolve(dict(study.fixed))
        else:
            if not grid and study.is_grid:
                for params in study.grid():
                    full = snapshot.identity.resolve({**study.fixed, **params})
                    grid[snapshot.identity.config_id(full, study.trainer)] = full
            config = grid.get(row.get("trial", ""), {})
        if name not in config:
            return None
        return "" if config[name] is None else str(config[name])

    return value


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
    sweep.summary.best = sweep.progress.best = sweep.best_label()
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
        timeout = options.timeout if options.timeout is not None else study.timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        timed = self.deadline is not None and not self.sampler.learns  # asked as workers free up, so a timeout can stop it
        # others: ask for everything at once
        self.width = study.concurrent_configs if self.sampler.learns else max(1, pool.workers) if timed else 10**9
        asynchronous = pool.asynchronous if options.asynchronous is None else options.asynchronous
        self.asynchronous = (asynchronous and self.sampler.learns or timed) and self.schedule.asynchronous
        self.rows = Rows(study.metric)
        for row in store.rows():
            self.rows.add(row)
        stored = [str(r["status"]) for r in self.rows.rows.values()  # counted now, so a resumed run's first line has them
                  if r["status"] != PROMOTED and int(r["seed"]) in set(study.seed_list)]
        self.progress.count_stored(stored)
        summary.earlier_failed, summary.earlier_diverged = stored.count("failed"), stored.count("diverged")
        self.pending: list[tuple[Proposal, str, bool]] = []  # proposal, trial id, trained by an earlier proposal
        self.proposed: set[str] = set()
        self.futures: dict[Any, TrialTask] = {}
        self.lost: list[TrialTask] = []  # tasks whose worker died, to run again
        self.retries: dict[tuple[str, tuple[int, ...]], int] = {}
        self.exhausted = False
        self.counted: set[tuple[str, int]] = set()  # stored rows counted in the progress
        self._best_at = -1e9  # when the progress line's best was last worked out (time.monotonic)
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
            if room > 0 and not self.exhausted and self.deadline is not None and time.monotonic() >= self.deadline:
                self.exhausted = self.summary.timed_out = True  # what runs finishes; nothing new is proposed
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
        self.sampler.tell(p, self.schedule.value(trial, self.rows), self.schedule.pruned_at(trial, self.rows))

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
        # a promoted row is a rung on the way to the configuration's own row: not a trial done
        if not reused and self.progress.done == self.progress.done_before:  # the first of this run: the round it began
            self.progress.evidence = sum(len(t.members) * len(t.seeds) for t in self.futures.values()) + 1
        # stored rows were counted at the start; a promoted row is a rung on the way to its configuration's own row
        self.progress.update(None if reused or row["status"] == PROMOTED else row["status"], self._best_now())

    def _best_now(self) -> str | None:
        """The progress line's best, worked out at most every BEST_EVERY_S (a pass over every
        configuration: at 4,000 of them, once a row would be the driver's largest cost) and
        for the sweep's last row; None keeps the one shown."""
        now = time.monotonic()
        if now - self._best_at < BEST_EVERY_S and self.progress.done + 1 < self.progress.total:
            return None
        self._best_at = now
        return self.best_label()

    def state(self) -> dict[str, Any]:
        """What progress.json says of this sweep (storage/live.py). Read by that file's thread
        while the driver stores rows: it reads only values the driver has set, never a
        collection the driver changes (iterating one raised "dictionary changed size")."""
        eta = self.progress.eta_seconds()
        return {"planned": self.summary.planned, "done": self.progress.done, "trained": self.summary.trained,
                "failed": self.progress.failed, "diverged": self.progress.diverged,
                "eta_seconds": None if eta is None else round(eta, 1), "best": self.progress.best}

    def best_trial(self) -> str | None:
        """The best configuration of the rows stored so far, by the rule the summary ranks by
        (`sweeper.metrics.best`): the progress line names it, and its seeds keep their weights."""
        return best(self.rows.outcomes, self.study.direction == "maximize", range_of(self.study.metric))

    def best_trials(self) -> list[str]:
        trial = self.best_trial()
        return [] if trial is None else [trial]

    def best_label(self) -> str:
        trial = self.best_trial()
        if trial is None:
            return ""
        values = self.rows.outcomes[trial]
        got = [v for v in values.values() if v is not None]
        lost = f", {len(values) - len(got)} lost" if len(got) < len(values) else ""
        return f"{self.labels.get(trial, trial)} {self.study.metric}={statistics.fmean(got):.4f} ({len(got)} seeds{lost})"
