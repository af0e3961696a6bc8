"""A results folder in MLflow: a parent run per study, a nested run per (configuration, seed).

`sync(folder, uri)` makes MLflow agree with the folder and can be called any number of
times: `sweep export --mlflow URI` calls it once, `sweep run --mlflow URI` every second while
the sweep runs (`Follower`) and once at the end. Nothing is kept on the side: runs are found
by their tags (`sweeper.study`, the folder's identity; `sweeper.trial`, `sweeper.seed`), and a
run says itself how far it was logged (`sweeper.synced`: the last step logged from the live
file, or "final"), so a resumed sweep, a second export or a second process adds no run and
no point twice.

Each nested run gets the configuration as parameters, its curves as metrics (`val_acc`,
`train_batch_loss`, ... with the iteration as step), its final values for the metrics that
have no curve (`best_val_acc`, `test_acc`, `seconds`), and `sweeper.status` (running, ok,
failed, diverged, pruned, promoted). The parent holds the study's settings.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sweeper.analysis.results import read_snapshot, read_trials
from sweeper.errors import SweeperError
from sweeper.storage import live_reader as live
from sweeper.storage.store import CURVES, TRIALS, column_groups

STUDY, ROLE, TRIAL, SEED, STATUS, SYNCED = ("sweeper.study", "sweeper.role", "sweeper.trial", "sweeper.seed",
                                            "sweeper.status", "sweeper.synced")
FINAL = "final"
BATCH = 1000  # MLflow's limit of metrics per log_batch call
PARALLEL = 8  # runs logged side by side
MLFLOW_DONE = {"ok": "FINISHED", "pruned": "FINISHED", "promoted": "FINISHED", "failed": "FAILED",
               "diverged": "FAILED"}


@dataclass
class Counts:
    created: int = 0  # nested runs made by this call
    finished: int = 0  # nested runs given their final values by this call
    runs: int = 0  # nested runs of the study in MLflow after this call


def client(uri: str) -> Any:
    # MLflow prints a link for every run it ends (and asks the server for the run to do it)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise SweeperError("--mlflow needs MLflow: pip install 'seedsweep[mlflow]'") from None
    return MlflowClient(tracking_uri=uri)


def identity(study: dict[str, Any], folder: Path) -> str:
    """The study folder's identity in MLflow: its name and the study's fingerprint."""
    return f"{folder.name}/{study.get('fingerprint', '?')}"


def sync(folder: Path, uri: str, mlflow: Any = None) -> Counts:
    """Bring MLflow at `uri` up to date with the results folder; returns what it did."""
    return Syncer(folder, mlflow or client(uri)).sync()


class Syncer:
    """One folder and one tracking server; remembers the runs it has seen between calls
    (the next process finds them again by their tags)."""

    def __init__(self, folder: Path, mlflow: Any) -> None:
        self.folder, self.mlflow = folder, mlflow
        self.parent: str | None = None
        self.experiment = ""
        self.runs: dict[tuple[str, int], tuple[str, str]] = {}  # (trial, seed) -> (run id, synced)
        self.curves = live.CurvesTail(folder / CURVES)  # read incrementally: this runs every second

    def sync(self) -> Counts:
        study = read_snapshot(self.folder)
        ident = identity(study, self.folder)
        if self.parent is None:
            self.parent = self._parent(study, ident)
            self.runs = dict(self._children())
        counts = Counts()
        config, _ = column_groups(_header(self.folder / TRIALS))
        trials = read_trials(self.folder / TRIALS, study)
        done = set(zip(trials["trial"], trials["seed"], strict=True))
        todo = [r for r in trials.to_dict("records") if self.runs.get((r["trial"], int(r["seed"])), ("", ""))[1] != FINAL]
        # the running seeds' new epochs first: what a user watches; finished seeds' whole curves
        # after. Each run's calls go in order, the runs side by side (a stacked group's seeds
        # all have a new epoch at once, and one call waits mostly on the server)
        running = []
        for key, rows in live.read_live(self.folder, done).groupby(["trial", "seed"]):
            run, created = self._run((key[0], int(key[1])), ident, "running")
            counts.created += created
            running.append((run, (key[0], int(key[1])), rows))
        self._each(lambda item: self._live(*item), running)
        curves = self.curves.read()
        wanted = curves[curves["trial"].isin({r["trial"] for r in todo})]
        by_key = {k: g for k, g in wanted.groupby(["trial", "seed"])}
        ending = []
        for row in todo:
            key = (row["trial"], int(row["seed"]))
            run, created = self._run(key, ident, row["status"])
            counts.created += created
            ending.append((run, row, config, by_key.get(key, curves.iloc[:0]), not created))
        self._each(lambda item: self._finish(*item), ending)
        for run, row, *_ in ending:
            self.runs[(row["trial"], int(row["seed"]))] = (run, FINAL)
            counts.finished += 1
        state = live.driver_state(self.folder).state
        if state != "running":
            self.mlflow.set_terminated(self.parent, "FINISHED" if state in ("finished", "unknown") else "KILLED")
        counts.runs = len(self.runs)
        return counts

    def _each(self, call: Callable[[Any], None], items: list[Any]) -> None:
        """`call` on every item, up to PARALLEL at a time; the first error is raised."""
        if len(items) < 2:
            for item in items:
                call(item)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(PARALLEL, len(items))) as pool:
            for _ in pool.map(call, items):
                pass

    # -- finding and making runs -------------------------------------------------------------
    def _parent(self, study: dict[str, Any], ident: str) -> str:
        found = self.mlflow.get_experiment_by_name(self.folder.name)
        self.experiment = experiment = found.experiment_id if found else self.mlflow.create_experiment(self.folder.name)
        found = self.mlflow.search_runs([experiment], f"tags.`{STUDY}` = '{ident}' and tags.`{ROLE}` = 'study'")
        if found:
            return str(found[0].info.run_id)
        run = self.mlflow.create_run(experiment, run_name=self.folder.name, tags={STUDY: ident, ROLE: "study"})
        settings = {"sampler": study.get("sampler"), "metric": study.get("metric"), "seeds": study.get("seeds"),
                    "direction": study.get("direction"), **{f"fixed.{k}": v for k, v in study.get("fixed", {}).items()},
                    **{f"space.{k}": v for k, v in study.get("space", {}).items()}}
        self._log(run.info.run_id, [], {k: str(v) for k, v in settings.items() if v is not None})
        return str(run.info.run_id)

    def _children(self) -> Iterator[tuple[tuple[str, int], tuple[str, str]]]:
        token = None
        while True:
            page = self.mlflow.search_runs([self.experiment], f"tags.`mlflow.parentRunId` = '{self.parent}'",
                                           max_results=1000, page_token=token)
            for run in page:
                tags = run.data.tags
                if TRIAL in tags and SEED in tags:
                    yield (tags[TRIAL], int(tags[SEED])), (run.info.run_id, tags.get(SYNCED, ""))
            token = page.token
            if not token:
                return

    def _run(self, key: tuple[str, int], ident: str, status: str) -> tuple[str, bool]:
        """The nested run of (trial, seed), made if new; and whether it was made now."""
        if key in self.runs:
            return self.runs[key][0], False
        tags = {"mlflow.parentRunId": self.parent, STUDY: ident, TRIAL: key[0], SEED: str(key[1]), STATUS: status}
        run = self.mlflow.create_run(self.experiment, run_name=f"{key[0]} seed {key[1]}", tags=tags)
        self.runs[key] = (run.info.run_id, "")
        return str(run.info.run_id), True

    # -- logging -----------------------------------------------------------------------------
    def _live(self, run: str, key: tuple[str, int], rows: pd.DataFrame) -> None:
        """The running seed's new curve points: those past the step its run says it has."""
        synced = self.runs[key][1]
        last = int(synced) if synced.isdigit() else -1
        new = rows[rows["iteration"] > last]
        if new.empty:
            return
        step = str(int(new["iteration"].max()))
        self._log(run, _points(new), tags={SYNCED: step})
        self.runs[key] = (run, step)

    def _finish(self, run: str, row: dict[str, Any], config: list[str], curves: pd.DataFrame, logged: bool) -> None:
        """A finished seed: its configuration, the curve points not yet logged, its final
        values, its status; then it is marked final and never touched again."""
        keys = {_key(s, m) for s, m in zip(curves["split"], curves["metric"], strict=True)}  # a curve's last
        step = int(curves["iteration"].max()) if len(curves) else 0                           # point is its final value
        if logged:  # points logged live, or by a sync that stopped half-way: log only the others
            curves = curves[~_already(self.mlflow, run, curves)]
        finals = {k: float(v) for k, v in row.items() if k not in config and k not in keys and k != "seed" and _number(v)}
        params = {k: str(row[k]) for k in config if row.get(k) is not None and str(row[k]) not in ("", "nan", "<NA>")}
        tags = {STATUS: str(row["status"]), SYNCED: FINAL, **({"sweeper.error": str(row["error"])[:5000]}
                                                             if row.get("error") else {})}
        stamp = _now()
        from mlflow.entities import Metric

        self._log(run, _points(curves) + [Metric(k, v, stamp, step) for k, v in finals.items()], params, tags)
        self.mlflow.set_terminated(run, MLFLOW_DONE.get(str(row["status"]), "FINISHED"))

    def _log(self, run: str, metrics: list[Any], params: dict[str, str] | None = None,
             tags: dict[str, str] | None = None) -> None:
        """Everything in as few calls as MLflow's limits allow (1000 metrics, 100 parameters
        and 100 tags a call); the tags go with the last call, so a run marked as logged is."""
        from mlflow.entities import Param, RunTag

        p = [Param(k, v[:6000]) for k, v in (params or {}).items()]
        t = [RunTag(k, v) for k, v in (tags or {}).items()]
        calls = max(1, -(-len(metrics) // BATCH), -(-len(p) // 100))
        for i in range(calls):
            self.mlflow.log_batch(run, metrics=metrics[i * BATCH:(i + 1) * BATCH], params=p[i * 100:(i + 1) * 100],
                                  tags=t if i == calls - 1 else [])


def _points(curves: pd.DataFrame) -> list[Any]:
    from mlflow.entities import Metric

    stamp = _now()
    return [Metric(_key(s, m), float(v), stamp, int(i)) for s, m, v, i in
            zip(curves["split"], curves["metric"], curves["value"], curves["iteration"], strict=True) if v == v]


def _now() -> int:
    return int(time.time() * 1000)


def _already(mlflow: Any, run: str, curves: pd.DataFrame) -> pd.Series:
    """Which curve points the run already has (same metric and step)."""
    have: set[tuple[str, int]] = set()
    for key in {_key(s, m) for s, m in zip(curves["split"], curves["metric"], strict=True)}:
        have |= {(key, int(m.step)) for m in mlflow.get_metric_history(run, key)}
    points = zip(curves["split"], curves["metric"], curves["iteration"], strict=True)
    return pd.Series([(_key(s, m), int(i)) in have for s, m, i in points], index=curves.index, dtype=bool)


def _key(split: str, metric: str) -> str:
    return f"{split}_{metric}" if split else str(metric)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return f.readline().strip().split(",")


class Follower:
    """`sweep run --mlflow`: syncs the folder of this process's sweep every `every` seconds in
    a background thread, and once more when stopped. The folder is the one whose progress.json
    names this process (a study whose dataset fell back writes to another folder)."""

    def __init__(self, candidates: Callable[[], list[Path]], uri: str, pid: int, every: float = 1.0) -> None:
        self.candidates, self.uri, self.pid, self.every = candidates, uri, pid, every
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._syncer: Syncer | None = None
        self._thread = threading.Thread(target=self._loop, name="mlflow-sync", daemon=True)

    def start(self) -> Follower:
        client(self.uri)  # fail now, in the driver, if MLflow is missing
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._once()

    def _once(self, folder: Path | None = None) -> None:
        try:
            if self._syncer is None:
                folder = folder or next((f for f in self.candidates()
                                         if (live.read_progress(f) or {}).get("pid") == self.pid), None)
                if folder is None:
                    return
                self._syncer = Syncer(folder, client(self.uri))
            self._syncer.sync()
        except Exception as e:  # a server that is down for a moment must not stop the sweep
            self.errors.append(f"{type(e).__name__}: {e}")

    def stop(self, folder: Path | None) -> list[str]:
        """Stop following; sync once more (`folder`: the sweep's, where it is known). Returns
        the errors met."""
        self._stop.set()
        self._thread.join()
        self._once(folder)
        return self.errors
