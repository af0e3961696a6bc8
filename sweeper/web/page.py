"""The data of the live page (`sweep serve`), as JSON-ready dicts, from one results root.

Nothing is read from outside the root: a study is looked up among the folders listed under
it (a name is never joined to a path), and every file is resolved first, so a link that
leads out of the root is refused. The tables are computed on the server, once per change of
the files they come from (their size and modification time), in a background thread, so
a request never waits for statistics: the page gets the latest table, and a note while a
newer one is computed. Curves are sent on demand, per configuration, as a mean and a band
over seeds, with the epochs of seeds still running (their live files).
"""

from __future__ import annotations

import threading
import time
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweeper.analysis import report_data, show
from sweeper.analysis.results import Results, list_studies, read_snapshot, read_trials
from sweeper.metrics import label_of, range_of
from sweeper.storage import live_reader as live
from sweeper.storage.store import CURVES, PRUNING, RACING, SNAPSHOT, TRIALS

MAX_TABLE = 200  # rows of the ranked table sent to the page
MAX_PARALLEL = 500  # configurations drawn in the parallel coordinates
MAX_RUNNING_PANELS = 6  # configurations with running seeds shown beside the best ones
FILES = (TRIALS, CURVES, SNAPSHOT, RACING, PRUNING, live.PROGRESS)


class Refused(Exception):
    """A request for something that is not a study of the root, or a file outside it."""


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, with every link resolved, lies within `root`."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a loop of links
        return False


class Root:
    """The results root the page serves: its studies, each with its cached data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._studies: dict[str, StudyPage] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return [p.name for p in list_studies(self.root) if inside(self.root, p)]

    def study(self, name: str) -> StudyPage:
        if name not in self.names():
            raise Refused(f"no study {name!r} under the results folder")
        with self._lock:
            if name not in self._studies:
                self._studies[name] = StudyPage(self.root, self.root / name)
            return self._studies[name]

    def overview(self) -> list[dict[str, Any]]:
        return [self.study(n).headline() for n in self.names()]


class StudyPage:
    """One study's page data, cached by the files' sizes and modification times."""

    def __init__(self, root: Path, folder: Path) -> None:
        self.root, self.folder = root, folder
        self.curves = live.CurvesTail(folder / CURVES)
        self._lock = threading.Lock()
        self._trials: tuple[Any, pd.DataFrame] | None = None
        self._table: dict[str, Any] | None = None
        self._table_key: Any = None
        self._computing: Any = None
        self._not_before = 0.0
        self._stored_metrics: tuple[int, set[str]] = (-1, set())

    # -- files ---------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        path = self.folder / name
        if not inside(self.root, path):
            raise Refused(f"{name} of {self.folder.name} leads outside the results folder")
        return path

    def stamp(self, names: tuple[str, ...] = FILES) -> tuple[Any, ...]:
        out: list[tuple[str, int | None, int | None]] = []
        for name in names:
            try:
                st = self.path(name).stat()
                out.append((name, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((name, None, None))
        return tuple(out)

    def snapshot(self) -> dict[str, Any]:
        self.path(SNAPSHOT)
        return read_snapshot(self.folder)

    def check(self) -> None:
        """Refuse a study any of whose files leads outside the root."""
        for name in FILES:
            self.path(name)

    def live_files(self) -> list[Path]:
        return [p for p in live.live_files(self.folder) if inside(self.root, p)]

    def trials(self) -> pd.DataFrame:
        """trials.csv, read again only when it changed."""
        key = self.stamp((TRIALS, SNAPSHOT))
        with self._lock:
            if self._trials is None or self._trials[0] != key:
                self._trials = (key, read_trials(self.path(TRIALS), self.snapshot()))
            return self._trials[1]

    # -- what the page shows -------------------------------------------------------------
    def headline(self) -> dict[str, Any]:
        """The study's line in the list of studies: progress, state, ETA, best so far."""
        self.check()
        driver = live.driver_state(self.folder)
        p = driver.progress
        trials = self.trials()
        study = self.snapshot()
        counted = trials[trials["status"] != "promoted"] if "status" in trials else trials
        planned = p.get("planned") or _planned(study)
        return {"name": self.folder.name, "state": driver.state, "stale": driver.stale, "age_s": driver.age_s,
                "done": p.get("done", len(counted)), "planned": planned, "failed": p.get("failed", int(
                    (counted["status"] == "failed").sum())), "diverged": p.get("diverged", int(
                    (counted["status"] == "diverged").sum())), "eta_seconds": p.get("eta_seconds"),
                "best": p.get("best", ""), "started": p.get("started"), "updated": p.get("updated"),
                "host": p.get("host"), "pid": p.get("pid"), "metric": study.get("metric", "val_acc"),
                "description": study.get("description", "")}

    def state(self) -> dict[str, Any]:
        """Everything but the curves: headline, running trials, the ranked table."""
        live_rows = self.live_rows()
        run = live.running(live_rows)
        return {**self.headline(), "running": run.to_dict("records"), "table": self.table(),
                "curve_metrics": self.curve_metrics(live_rows)}

    def live_rows(self) -> pd.DataFrame:
        trials = self.trials()
        done = set(zip(trials["trial"], trials["seed"], strict=True))
        rows = [r for p in self.live_files() for r in live.read_live_file(p) if (r[0], r[1]) not in done]
        return live.curve_frame(rows)

    def curve_metrics(self, live_rows: pd.DataFrame) -> list[str]:
        stored = self.curves.read()
        if self._stored_metrics[0] != len(stored):  # curves.csv only grows between repairs
            self._stored_metrics = (len(stored), _pairs([stored]))
        found = self._stored_metrics[1] | _pairs([live_rows])
        study_metric = self.snapshot().get("metric", "val_acc")
        return sorted(found, key=lambda k: (k != study_metric, "batch" in k, k))

    # -- the ranked table ----------------------------------------------------------------
    def table(self) -> dict[str, Any]:
        """The latest ranked table; starts computing a newer one when the files changed, at most
        once per three times the last computation took (a large study under a running sweep)."""
        key = self.stamp((TRIALS, SNAPSHOT, RACING, PRUNING))
        with self._lock:
            start = key != self._table_key and self._computing is None and time.monotonic() >= self._not_before
            if start:
                self._computing = key
                threading.Thread(target=self._compute, args=(key,), daemon=True).start()
            table = dict(self._table or {"columns": [], "rows": [], "configurations": 0})
            table["pending"] = self._computing is not None or key != self._table_key
            return table

    def _compute(self, key: Any) -> None:
        began = time.monotonic()
        try:
            results = Results(self.folder, self.snapshot(), self.trials(), live.curve_frame([]))
            if not results.trials.empty:  # means first: the verdicts of a large study take longer
                self._publish(key, _table(results, verdicts=False), final=False)
            self._publish(key, _table(results, verdicts=True), final=True)
        except Exception as e:  # a half-written study.json, a table in the middle of a repair: say so, try again
            self._publish(key, {"columns": [], "rows": [], "configurations": 0, "error": str(e)}, final=True)
        finally:
            with self._lock:
                self._computing = None
                self._not_before = time.monotonic() + 2 * (time.monotonic() - began)

    def _publish(self, key: Any, table: dict[str, Any], final: bool) -> None:
        with self._lock:
            self._table = table
            if final:
                self._table_key = key

    # -- curves ------------------------------------------------------------------------------
    def curves_of(self, metric: str, extra: list[str] | None = None) -> dict[str, Any]:
        """Mean and band over seeds of one curve (`val_acc`, `train_batch_loss`) for the best
        configurations, those with running seeds and the `extra` ones asked for; finished
        seeds from curves.csv, running ones from their live files."""
        split, measure = (metric.split("_", 1) + [""])[:2] if metric.split("_", 1)[0] in ("train", "val", "test") \
            else ("", metric)
        self.check()
        finished = self.trials()
        live_rows = self.live_rows()
        table = self._table or {"rows": []}
        ranked = [r["trial"] for r in table["rows"]] or list(dict.fromkeys(finished["trial"]))  # no table yet
        best = ranked[:report_data.MAX_PANELS]
        chosen = best + [t for t in dict.fromkeys(live_rows["trial"]) if t not in best][:MAX_RUNNING_PANELS]
        chosen += [t for t in dict.fromkeys(extra or []) if t not in chosen]
        keys = set(zip(finished["trial"], finished["seed"], strict=True))
        stored = self.curves.read()
        stored = stored[stored["trial"].isin(chosen) & (stored["split"] == split) & (stored["metric"] == measure)]
        stored = stored[[k in keys for k in zip(stored["trial"], stored["seed"], strict=True)]]
        both = pd.concat([stored, live_rows[live_rows["trial"].isin(chosen)]], ignore_index=True)
        labels = {r["trial"]: (r["label"], r["rank"]) for r in table["rows"]}
        panels = pd.DataFrame({"trial": chosen, "label": [labels.get(t, (f"configuration {t}", None))[0] for t in chosen],
                               "rank": [labels.get(t, ("", None))[1] for t in chosen]})
        data = report_data.learning_curves(both, panels.assign(rank=pd.to_numeric(panels["rank"])), split, measure,
                                           limit=len(chosen))
        axis = report_data.curve_axis(data)
        running = live.running(live_rows).groupby("trial")["seed"].apply(list).to_dict()
        out = []
        for trial, d in data.groupby("trial", sort=False):
            out.append({"trial": trial, "label": d["label"].iloc[0], "rank": _int(d["rank"].iloc[0]),
                        "running_seeds": running.get(trial, []), "x": d[axis].tolist(),
                        "mean": _floats(d["mean"]), "low": _floats(d["ci_low"]), "high": _floats(d["ci_high"]),
                        "n": d["n"].astype(int).tolist(), "window": int(d["window"].iloc[0])})
        low, high = range_of(metric)
        return {"metric": metric, "label": label_of(metric), "axis": axis,
                "axis_label": report_data.axis_label(axis, self.snapshot()), "panels": out,
                "range": [None if np.isinf(low) else low, None if np.isinf(high) else high]}


def _table(results: Results, verdicts: bool) -> dict[str, Any]:
    summary = results.summary
    comparisons = results.comparisons if verdicts else _pending(summary)
    shown = report_data.display_table(summary, comparisons, results.metric, limit=MAX_TABLE)
    order = report_data.ranked(summary, MAX_TABLE)["trial"].tolist()
    rows = [{"trial": t, "label": r["configuration"], "rank": _int(pd.to_numeric(r["rank"], errors="coerce")),
             "cells": [str(v) for v in r.values]} for t, (_, r) in zip(order, shown.iterrows(), strict=True)]
    budget = results.budget_line() if show.decided(results) else ""
    extra = []
    for name, frame in (("seed race", results.racing), ("pruning", results.pruning)):
        if frame is not None and "state" in frame:
            counts = frame["state"].value_counts()
            extra.append(f"{name}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    columns, rows = _lead(results, list(shown.columns), rows, order)
    return {"columns": columns, "rows": rows, "configurations": len(summary), "verdicts": verdicts,
            "budget": budget, "decisions": extra, "answer": show.answer(results) if verdicts else None,
            **(_glance(results) if verdicts else {})}


LEAD = ("rank", "mean [95% CI]", "verdict", "why")  # the columns a reader needs first, then the hyperparameters


def _lead(results: Results, columns: list[str], rows: list[dict[str, Any]],
          order: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The table reordered to fit a screen: rank, mean and interval, verdict and why first, then
    one column per hyperparameter that varies (instead of the one long configuration string),
    then the rest; `hyperparameters` counts the columns that are hyperparameters."""
    lead = [c for key in LEAD for c in columns if c == key or (key.startswith("mean") and c.endswith(key)
                                                                and c.startswith(results.metric))]
    rest = [c for c in columns if c not in lead and c != "configuration"]
    summary = results.summary.set_index("trial")
    varied = [n for n in results.searched if n in summary and summary[n].nunique(dropna=False) > 1]
    where = {c: i for i, c in enumerate(columns)}
    for row in rows:
        values = summary.loc[row["trial"], varied] if row["trial"] in summary.index else pd.Series(dtype=object)
        hps = ["" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v) for v in values]
        row["cells"] = [row["cells"][where[c]] for c in lead] + hps + [row["cells"][where[c]] for c in rest]
    return lead + varied + rest, rows


def _glance(results: Results) -> dict[str, Any]:
    """The importance bars and the parallel coordinates the page draws (`sweeper.analysis.landscape`)."""
    from sweeper.analysis import importance, landscape

    table = results.importance() if results.searched else pd.DataFrame(columns=importance.COLUMNS)
    bars = [{"source": r.source, "share": _float(r.share), "low": _float(r.ci_low), "high": _float(r.ci_high),
             "kind": r.kind} for r in landscape.importance_bars(table).itertuples()] if len(table) else []
    data = landscape.parallel(results.summary, results.searched, results.metric, results.study)
    axes = list(dict.fromkeys(data["axis"]))
    lines = []
    for trial, d in islice(data.groupby("trial", sort=False), MAX_PARALLEL) if len(axes) > 1 else []:
        d = d.set_index("axis").loc[axes]
        last = d.iloc[-1]
        lines.append({"trial": trial, "y": _floats(d["position"]), "text": d["value"].tolist(), "low": _float(last["ci_low"]),
                      "high": _float(last["ci_high"]), "lost": int(last["n_lost"]), "ok": int(last["n_ok"])})
    return {"importance": {"bars": bars, "line": importance.line(table), "note": table.attrs.get("note", "")},
            "parallel": {"axes": axes, "lines": lines, "maximize": results.direction == "maximize"}}


def _float(x: Any) -> float | None:
    return None if x is None or pd.isna(x) or not np.isfinite(float(x)) else round(float(x), 6)


def _pending(summary: pd.DataFrame) -> pd.DataFrame:
    """A comparisons table with nothing decided yet, while the paired tests are computed."""
    nan = np.full(len(summary), np.nan)
    return pd.DataFrame({"trial": summary["trial"], "difference": nan, "diff_ci_low": nan, "diff_ci_high": nan,
                         "p_adjusted": nan, "verdict": "(computing)", "reason": "", "seeds_needed": nan})


def _pairs(frames: list[pd.DataFrame]) -> set[str]:
    pairs = pd.concat([f[["split", "metric"]] for f in frames]).drop_duplicates()
    return {f"{s}_{m}" if s else m for s, m in zip(pairs["split"], pairs["metric"], strict=True)}


def _planned(study: dict[str, Any]) -> int | None:
    from sweeper.analysis.results import planned_configs

    configs = planned_configs(study)
    return None if configs is None else configs * len(study.get("seeds", []))


def _int(x: Any) -> int | None:
    return None if x is None or pd.isna(x) else int(x)


def _floats(s: pd.Series) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in s.to_numpy(float)]
