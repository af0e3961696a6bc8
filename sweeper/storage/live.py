"""What a running sweep shows of itself in its results folder, for the live page (`sweep
serve`) and the MLflow sync to read while it runs (`storage/layout.py` names the files).

- progress.json: the driver's state (running, finished, interrupted, failed), pid, host,
  started, updated, planned, done, trained, failed, diverged, eta_seconds and best,
  rewritten atomically after every stored row and at least every 2 s by a thread of the driver.
- live/<trial>.<seed>.csv: the curve rows of a running (configuration, seed), appended at
  every epoch's end (and at most every second for a user's own loop, whose `log` calls are
  buffered), whole lines at a time. The driver deletes it once the trial's row is in
  trials.csv (its curves are then in curves.csv), and clears the folder when a run starts.
- checkpoints/<trial>.<seed>.safetensors: a running trial's state at its last epoch's end,
  to resume from if the sweep is stopped; removed once the trial's row is stored.

Where the rows are written depends on where the trial runs: a local worker (or the driver
itself) appends to the file directly (`FileSink`); a Dask worker, which may be on another
machine, sends them to the driver as a Dask event (`DaskSink`), and the driver writes them.
"""

from __future__ import annotations

import contextlib
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

from sweeper.storage import checkpoint
from sweeper.storage.atomic import atomic_write
from sweeper.storage.layout import CURVE_COLUMNS, LIVE, PROGRESS, PROGRESS_EVERY_S, checkpoint_file, live_file

FLUSH_EVERY_S = 1.0  # a user's loop: buffered `log` rows are written at least this often


class FileSink:
    """Writes a trial's rows and checkpoints into the results folder, from the process that
    trains it (a local worker, or the driver)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def emit(self, trial: str, seed: int, rows: Sequence[Sequence[Any]], fresh: bool) -> None:
        """Append `rows` (curve rows without trial and seed) to the trial's live file, whole
        lines in one write; `fresh` starts the file anew (a trial run again after its worker
        died, or resumed, must not repeat the rows of the attempt before)."""
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
                os.write(fd, buf.getvalue().encode())  # whole lines in one write; a view, not worth an fsync
            finally:
                os.close(fd)
        except OSError:
            pass  # a view of a running trial, never a reason to fail it

    def checkpoint(self, trial: str, seed: int, data: bytes) -> None:
        """A trial's resume state (storage/checkpoint.py bytes); the one before it is kept as
        the previous one, and the one before that goes."""
        path = checkpoint_file(self.folder, trial, seed)
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, checkpoint_file(self.folder, trial, seed, previous=True))
        checkpoint.save(path, data, durable=False)


class DaskSink:
    """Sends a trial's rows and checkpoints from a Dask worker, which may be on another
    machine, to the driver as events on `topic`; the driver writes them (`dask_listener`)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def _send(self, msg: dict[str, Any]) -> None:
        try:
            from distributed import get_worker

            get_worker().log_event(self.topic, msg)
        except (ImportError, ValueError):  # not on a Dask worker (a task run in the driver): nothing to tell
            pass

    def emit(self, trial: str, seed: int, rows: Sequence[Sequence[Any]], fresh: bool) -> None:
        self._send({"trial": trial, "seed": seed, "rows": [list(r) for r in rows], "fresh": fresh})

    def checkpoint(self, trial: str, seed: int, data: bytes) -> None:
        self._send({"trial": trial, "seed": seed, "checkpoint": data})


class Channel:
    """A task's way to the results folder while it trains, handed to its trainer as
    `FitOptions.channel`, for the task's configurations (c indexes `trials`):

    - `rows(c, seed, rows, flush=False)`: new curve rows, buffered and written with
      `flush=True` (the built-in trainer, at every epoch's end) or at least every
      FLUSH_EVERY_S (a user's loop, at each `log` call), and by `flush()` at the task's end;
    - `save(c, seed, state)`: the state to resume from if the trial is stopped (a dict of
      tensors and JSON values, storage/checkpoint.py), replacing the one before;
    - `resume(c, seed)`: the state saved last by an earlier attempt, or None;
      `resumes(c, seed)`: the states it saved last and before that, the last first (a stacked
      group goes on from an epoch every one of its models has whole).

    `resume` holds ((trial, seed), bytes) pairs, a trial's last checkpoint before its previous
    one, or a mapping of one checkpoint each.
    """

    def __init__(self, sink: Any, trials: Sequence[str],
                 resume: Mapping[tuple[str, int], bytes] | Sequence[tuple[tuple[str, int], bytes]] | None = None) -> None:
        self.sink, self.trials = sink, list(trials)
        pairs = resume.items() if isinstance(resume, Mapping) else (resume or ())
        self.saved: dict[tuple[str, int], list[bytes]] = {}
        for key, data in pairs:
            self.saved.setdefault(key, []).append(data)
        self.started: set[tuple[str, int]] = set()
        self.buffer: dict[tuple[str, int], list[Sequence[Any]]] = {}
        self.last = time.monotonic()

    def member(self, c: int) -> _Member:
        """This channel as the c-th configuration sees it when it is trained on its own (its
        trainer speaks of itself as configuration 0)."""
        return _Member(self, c)

    def rows(self, c: int, seed: int, rows: Sequence[Sequence[Any]], flush: bool = False) -> None:
        if rows:
            self.buffer.setdefault((self.trials[c], seed), []).extend(rows)
        if flush or time.monotonic() - self.last >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        for (trial, seed), rows in self.buffer.items():
            fresh = (trial, seed) not in self.started
            self.started.add((trial, seed))
            if self.sink is not None:
                self.sink.emit(trial, seed, rows, fresh)
        self.buffer.clear()
        self.last = time.monotonic()

    def save(self, c: int, seed: int, state: Mapping[str, Any]) -> None:
        if self.sink is not None:
            self.sink.checkpoint(self.trials[c], seed, checkpoint.dumps(state))

    def resume(self, c: int, seed: int) -> dict[str, Any] | None:
        states = self.resumes(c, seed)
        return states[0] if states else None

    def resumes(self, c: int, seed: int) -> list[dict[str, Any]]:
        states = []
        for data in self.saved.get((self.trials[c], seed), ()):
            try:
                states.append(checkpoint.loads(data))
            except Exception:  # cut short by a crash of the machine: the one before, or afresh
                continue
        return states


class _Member:
    """A Channel seen by one configuration of a group trained one at a time."""

    def __init__(self, channel: Channel, c: int) -> None:
        self.channel, self.c = channel, c

    def rows(self, c: int, seed: int, rows: Sequence[Sequence[Any]], flush: bool = False) -> None:
        self.channel.rows(self.c, seed, rows, flush)

    def save(self, c: int, seed: int, state: Mapping[str, Any]) -> None:
        self.channel.save(self.c, seed, state)

    def resume(self, c: int, seed: int) -> dict[str, Any] | None:
        return self.channel.resume(self.c, seed)

    def resumes(self, c: int, seed: int) -> list[dict[str, Any]]:
        return self.channel.resumes(self.c, seed)

    def flush(self) -> None:
        self.channel.flush()


def clear(folder: Path) -> None:
    """Remove the live files a previous run left (it was killed: nothing of it runs now)."""
    shutil.rmtree(folder / LIVE, ignore_errors=True)


def finished(folder: Path, trial: str, seed: int) -> None:
    """A trial's row is in trials.csv: its live file goes."""
    with contextlib.suppress(OSError):
        live_file(folder, trial, seed).unlink()


def spent(folder: Path, trial: str, seed: int) -> None:
    """A checkpoint no trial will go on from any more goes, with the one before it."""
    for previous in (False, True):
        with contextlib.suppress(OSError):
            checkpoint_file(folder, trial, seed, previous).unlink()


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
        with self.lock:
            try:
                atomic_write(self.path, json.dumps(data, default=str), durable=False)
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
        if not isinstance(msg, Mapping) or done(msg["trial"], int(msg["seed"])):
            return
        if "checkpoint" in msg:
            sink.checkpoint(msg["trial"], int(msg["seed"]), msg["checkpoint"])
        else:
            sink.emit(msg["trial"], int(msg["seed"]), msg["rows"], bool(msg.get("fresh")))

    client.subscribe_topic(topic, handler)
    return lambda: client.unsubscribe_topic(topic)

