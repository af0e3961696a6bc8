"""The sweep loop: ask the sampler -> train each configuration once per seed -> store -> tell.

Every configuration gets the same seed list, so configurations can later be compared seed
by seed. With `vectorize` a configuration's missing seeds go to one worker as one task and
are trained together; they still come back, and are stored, as one row per seed. Rows
already in the results folder are not trained again: a re-run trains only what is
missing, and replays the stored results to the sampler in the order it asked, so random
and Bayesian search propose what they proposed before.

Bayesian search asks for `concurrent_configs` configurations at a time and tells their
results in the order asked, which keeps its proposals independent of timing and of the
number of workers.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from sweeper.errors import DataError, SweeperError
from sweeper.executors import Executor, make_executor
from sweeper.progress import Progress
from sweeper.samplers import Proposal, make_sampler
from sweeper.store import ResultsStore
from sweeper.study import Study, config_id
from sweeper.trial import DataSpec, TrialResult, TrialTask, run_trial

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


def default_data_root() -> str:
    return os.environ.get("SWEEPER_DATA_DIR") or "data"


def resolve_data(study: Study, data_root: str, log: Callable[[str], None]) -> DataSpec:
    """The data a study's trials will use: its dataset, or loudly its fallback. Checks that
    the files exist and the split fits before any training starts."""
    from sweeper.train import data as datasets

    spec = DataSpec(study.dataset, data_root, study.split, study.task)
    try:
        datasets.prepare(study.dataset, data_root)
    except DataError as e:
        if study.fallback is None:
            raise
        datasets.prepare(study.fallback, data_root)
        fallback_split = datasets.scaled_for(study.split, datasets.train_size(study.fallback, data_root))
        spec = DataSpec(study.fallback, data_root, fallback_split, study.task)
        s = fallback_split
        log(f"WARNING: {e}\nWARNING: study '{study.name}' runs on its fallback dataset {study.fallback} "
            f"(train={s.train}, val={s.val}) instead of {study.dataset}; every row records dataset={study.fallback}")
    datasets.load(spec)  # fails now, not in every trial, if the split does not fit
    return spec


def run_study(study: Study, *, results_root: Path, data_root: str, jobs: int, executor: str = "local",
              dry_run: bool = False, retry_failed: bool = False, restart: bool = False,
              source: str | None = None, show_progress: bool = True, stream: TextIO | None = None,
              executor_options: dict[str, Any] | None = None, device: str = "auto") -> RunSummary:
    from sweeper.train.data import resolve_device

    stream = stream or sys.stderr
    resolve_device(device)  # a GPU asked for and missing fails here, before any training

    def log(msg: str) -> None:
        print(msg, file=stream, flush=True)

    name = study.name + (".dry-run" if dry_run else "")
    spec = resolve_data(study, data_root, log)
    store = ResultsStore(Path(results_root) / name)
    snapshot = {**study.to_dict(), "fingerprint": study.fingerprint(), "dataset_used": spec.dataset}
    store.open(snapshot, source, restart=restart or dry_run)
    if getattr(store, "moved_aside", None):
        log(f"old results of '{study.name}' moved to {store.moved_aside}")
    try:
        if retry_failed:
            store.drop(lambda r: r["status"] != "failed")
        pool = make_executor(executor, jobs, **(executor_options or {}))
        try:
            summary = _sweep(study, spec, store, pool, dry_run, show_progress, stream, device)
            summary.device = resolve_device(device)
            return summary
        finally:
            pool.shutdown(kill=True)
    finally:
        store.close()


def _sweep(study: Study, spec: DataSpec, store: ResultsStore, pool: Executor, dry_run: bool,
           show_progress: bool, stream: TextIO, device: str) -> RunSummary:
    seeds = study.seed_list
    stored = {(r["trial"], int(r["seed"])): r for r in store.rows()}
    summary = RunSummary(store.folder, spec.dataset, study.planned_configs() * len(seeds))
    progress = Progress(study.name, summary.planned, 0, stream, show_progress)
    scores: dict[str, list[float]] = {}  # trial -> metric of each ok seed
    labels: dict[str, str] = {}
    sampler = make_sampler(study)
    batch_size = study.concurrent_configs if study.sampler == "bayes" else 10**9
    start = time.monotonic()

    def done_row(row: dict[str, Any]) -> None:
        if row["status"] == "ok":
            scores.setdefault(row["trial"], []).append(float(row[study.metric]))
        progress.update(row["status"], best_label())

    def best_label() -> str:
        done = {t: statistics.fmean(v) for t, v in scores.items() if v and not any(math.isnan(x) for x in v)}
        if not done:
            return ""
        pick = max if study.direction == "maximize" else min
        best = pick(done, key=lambda t: done[t])
        return f"{labels.get(best, best)} {study.metric}={done[best]:.4f} ({len(scores[best])} seeds)"

    try:
        while True:
            proposals = sampler.ask(batch_size)
            if not proposals:
                break
            batch: list[tuple[Proposal, str]] = []
            futures: dict[Any, TrialTask] = {}
            for p in proposals:
                config = study.config(p.params)
                trial = config_id(config)
                labels[trial] = " ".join(f"{k}={v}" for k, v in p.params.items()) or trial
                if any(t == trial for _, t in batch):  # proposed twice: train once, tell both
                    batch.append((p, trial))
                    continue
                batch.append((p, trial))
                missing = []
                for seed in seeds:
                    if (trial, seed) in stored:
                        summary.reused += 1
                        done_row(stored[(trial, seed)])
                    else:
                        missing.append(seed)
                groups = [missing] if study.vectorize else [[seed] for seed in missing]
                for group in filter(None, groups):
                    task = TrialTask(trial, tuple(group), config, spec, study.eval_every, 1 if dry_run else None,
                                     study.vectorize, device)
                    futures[pool.submit(run_trial, task)] = task
            _collect(pool, futures, store, spec.dataset, summary, stored, done_row)
            for p, trial in batch:
                ok = [float(stored[(trial, s)][study.metric]) for s in seeds if stored[(trial, s)]["status"] == "ok"]
                ok = [v for v in ok if not math.isnan(v)]
                sampler.tell(p, statistics.fmean(ok) if ok else None)
    except KeyboardInterrupt:
        progress.close()
        pool.shutdown(kill=True)
        raise Interrupted(
            f"interrupted: {summary.trained} trials finished in this run and are saved in {store.folder}; "
            f"run the same command again to resume with the rest"
        ) from None
    progress.close()
    summary.seconds = time.monotonic() - start
    summary.best = best_label()
    return summary


def _collect(pool: Executor, futures: dict[Any, TrialTask], store: ResultsStore, dataset: str,
             summary: RunSummary, stored: dict[tuple[str, int], Any], done_row: Callable[..., None]) -> None:
    """Wait for the futures, storing each result (one per seed of a task) as it arrives. A
    worker that dies breaks the whole pool, so every task it had not finished is run again
    on fresh workers (at most WORKER_RETRIES times) and recorded as failed after that."""
    retries: dict[tuple[str, tuple[int, ...]], int] = {}
    while futures:
        lost: list[TrialTask] = []
        for fut in pool.as_completed(list(futures)):
            task = futures.pop(fut)
            key = (task.trial, task.seeds)
            try:
                results: list[TrialResult] = fut.result()
            except pool.worker_lost as e:
                retries[key] = retries.get(key, 0) + 1
                if retries[key] <= WORKER_RETRIES:
                    lost.append(task)
                    continue
                results = _failed(task, f"worker process died ({type(e).__name__}), {WORKER_RETRIES + 1} times")
            except Exception as e:  # e.g. the task could not be sent to a worker
                results = _failed(task, f"{type(e).__name__}: {e}")
            for result in results:
                row = store.append(result, task.config, dataset)
                stored[(result.trial, result.seed)] = {k: str(v) for k, v in row.items()}
                summary.trained += 1
                summary.failed += result.status == "failed"
                summary.diverged += result.status == "diverged"
                done_row(stored[(result.trial, result.seed)])
        if lost:
            pool.restart()
            for task in lost:
                futures[pool.submit(run_trial, task)] = task


def _failed(task: TrialTask, error: str) -> list[TrialResult]:
    return [TrialResult(task.trial, seed, "failed", {}, 0.0, error) for seed in task.seeds]
