"""What a running sweep shows of itself in its results folder, for the live page (`sweep
serve`) and the MLflow sync to read while it runs (`engine/layout.py` names the files).

- progress.json: the driver's state (running, finished, interrupted, failed), pid, host,
  started, updated, planned, done, trained, failed, diverged, eta_seconds and best,
  rewritten atomically after every stored row and at least every 2 s by a thread of the driver.
- live/<trial>.<seed>.csv: the curve rows of a running (configuration, seed), appended at
  every epoch's end (and at most every second for a user's own loop, whose `log` calls are
  buffered), whole lines at a time. The driver deletes it once the trial's row is in
  trials.csv (its curves are then in curves.csv), and clears the folder when a run starts.

Where the rows are written depends on where the trial runs: a local worker (or the driver
itself) appends to the file directly (`FileSink`); a Dask worker, which may be on another
machine, sends them to the driver as a Dask event (`DaskSink`), and the driver writes them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper.engine.layout import CURVE_COLUMNS, LIVE, PROGRESS, PROGRESS_EVERY_S, live_file

FLUSH_EVERY_S = 1.0  # a user's loop: buffered `log` rows are written at least this often


class FileSink:
    """Appends a trial's rows to its live file (whole lines, one write each, fsynced)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def emit(self, trial: str, seed: int, rows: Sequence[Sequence[Any]], fresh: bool) -> None:
        """Append `rows` (curve rows without trial and seed); `fresh` starts the file anew
        (a trial run again after its worker died must not repeat the first attempt's rows)."""
        path = live_file(self.folder, trial, seed)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if fresh:
            writer.writerow(CURVE_COLUMNS)
        writer.writerows((trial, seed, *row) for row in rows)
        try:
            path.parent.mkdir(exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if fresh else os.O_APPEND), 0o644)
            try:
                os.write(fd, buf.getvalue().encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass  # a view of a running trial, never a reason to fail it


class DaskSink:
    """Sends a trial's rows from a Dask worker to the driver as an event on `topic`."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def emit(self, trial: str, seed: int, rows: Sequence[Sequence[Any]], fresh: bool) -> None:
        try:
            from distributed import get_worker

            get_worker().log_event(self.topic, {"trial": trial, "seed": seed, "rows": [list(r) for r in rows],
                                                "fresh": fresh})
        except (ImportError, ValueError):  # not on a Dask worker (a task run in the driver): nothing to tell
            pass


class Reporter:
    """What a task's trainer calls with a model's new curve rows: `report(c, seed, rows)` for
    the task's c-th configuration (its trial id from `trials`). Rows are buffered and written
    with `flush=True` (the built-in trainer, at every epoch's end) or at least every
    FLUSH_EVERY_S (a user's loop, at each `log` call), and with `flush()` at the task's end."""

    def __init__(self, sink: Any, trials: Sequence[str]) -> None:
        self.sink, self.trials = sink, list(trials)
        self.started: set[tuple[str, int]] = set()
        self.buffer: dict[tuple[str, int], list[Sequence[Any]]] = {}
        self.last = time.monotonic()

    def __call__(self, c: int, seed: int, rows: Sequence[Sequence[Any]], flush: bool = False) -> None:
        if rows:
            self.buffer.setdefault((self.trials[c], seed), []).extend(rows)
        if flush or time.monotonic() - self.last >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        for (trial, seed), rows in self.buffer.items():
            fresh = (trial, seed) not in self.started
            self.started.add((trial, seed))
            self.sink.emit(trial, seed, rows, fresh)
        self.buffer.clear()
        self.last = time.monotonic()


def clear(folder: Path) -> None:
    """Remove the live files a previous run left (it was killed: nothing of it runs now)."""
    shutil.rmtree(folder / LIVE, ignore_errors=True)


def finished(folder: Path, trial: str, seed: int) -> None:
    """A trial's row is in trials.csv: its live file goes."""
    try:
        live_file(folder, trial, seed).unlink()
    except OSError:
        pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ProgressFile:
    """progress.json, kept by the driver: `update` after every stored row, a thread at least
    every PROGRESS_EVERY_S, `close(state)` at the end."""

    def __init__(self, folder: Path, snapshot: Callable[[], Mapping[str, Any]]) -> None:
        self.path, self.snapshot = folder / PROGRESS, snapshot
        self.base = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="sweeper-progress", daemon=True)

    def start(self) -> ProgressFile:
        self.update()
        self.thread.start()
        return self

    def update(self, state: str = "running") -> None:
        data = {"state": state, **self.base, "updated": _now(), **self.snapshot()}
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        with self.lock:
            try:
                tmp.write_text(json.dumps(data, default=str))
                os.replace(tmp, self.path)
            except OSError:
                pass  # the tables are what matters; a full disk is reported by the store

    def _beat(self) -> None:
        while not self.stopped.wait(PROGRESS_EVERY_S):
            self.update()

    def close(self, state: str) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=PROGRESS_EVERY_S * 2)
        self.update(state)


def dask_listener(client: Any, topic: str, folder: Path, done: Callable[[str, int], bool]) -> Callable[[], None]:
    """Write what Dask workers send on `topic` into the live files, except for trials whose
    row is already stored (`done`: an event may arrive late); returns the unsubscribe call."""
    sink = FileSink(folder)

    def handler(event: Any) -> None:
        _, msg = event if isinstance(event, tuple) else (None, event)
        if isinstance(msg, Mapping) and not done(msg["trial"], int(msg["seed"])):
            sink.emit(msg["trial"], int(msg["seed"]), msg["rows"], bool(msg.get("fresh")))

    client.subscribe_topic(topic, handler)
    return lambda: client.unsubscribe_topic(topic)

