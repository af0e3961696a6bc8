"""What a running sweep leaves in its results folder besides the tables, read by the live page
(`sweep serve`) and by the MLflow sync while it runs.

- `progress.json`: the driver's state, rewritten atomically after every stored row and at
  least every 2 s: state (running, finished, interrupted, failed), pid, host, started,
  updated, planned, done, trained, failed, diverged, eta_seconds, best.
- `live/<trial>.<seed>.csv`: the curve rows of a running (configuration, seed), in
  curves.csv's columns, appended at each evaluation and deleted once the trial's row is in
  trials.csv (its curves are then in curves.csv).

Everything here tolerates a sweep writing at the same time: a live file that vanished
between listing and reading, a torn last line, and a trial that is for a moment both in
curves.csv and in its live file (curves.csv wins once trials.csv has its row).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from sweeper.storage.layout import CURVE_COLUMNS, LIVE, LOCK, PROGRESS, PROGRESS_EVERY_S

STALE_AFTER_S = 5 * PROGRESS_EVERY_S  # the driver rewrites progress.json at least that often: 5 missed writes, gone
STATES = ("running", "finished", "interrupted", "failed")


@dataclass(frozen=True)
class DriverState:
    """A sweep's state as the page tells it: progress.json's fields, and whether a driver that
    says "running" still is one (`stale`: its last word is old and the folder's lock is free)."""

    state: str  # running, finished, interrupted, failed, stopped (a driver killed without a word), or unknown
    progress: dict[str, Any]
    age_s: float | None  # seconds since `updated`
    stale: bool


def read_progress(folder: Path) -> dict[str, Any] | None:
    """progress.json as a dict, or None when it is missing or not (yet) JSON."""
    try:
        data = json.loads((folder / PROGRESS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def lock_held(folder: Path) -> bool | None:
    """Whether a sweep holds the folder's lock: a shared, non-blocking flock on `.lock`, opened
    read-only and released at once (a driver holds it exclusively). None: no lock file, or
    one that cannot be opened. Called only for a driver that looks gone, so that a sweep
    starting at that very moment almost never finds the lock briefly taken."""
    import fcntl

    try:
        fd = os.open(folder / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def driver_state(folder: Path, now: float | None = None) -> DriverState:
    """The sweep's state from progress.json. A "running" driver whose last update is older
    than STALE_AFTER_S and whose lock is free was killed without a word (kill -9, a lost
    machine): it is "stopped". A driver on another machine may hold a lock this one cannot
    see (network file systems); its `updated` is then the only evidence."""
    progress = read_progress(folder)
    if progress is None:
        return DriverState("unknown", {}, None, False)
    state = str(progress.get("state", "unknown"))
    age = _age(progress.get("updated"), time.time() if now is None else now)
    stale = state == "running" and (age is None or age > STALE_AFTER_S) and lock_held(folder) is not True
    return DriverState("stopped" if stale else state if state in STATES else "unknown", progress, age, stale)


def _age(stamp: Any, now: float) -> float | None:
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, now - when.timestamp())


def live_files(folder: Path) -> list[Path]:
    """The live curve files of the running (configuration, seed) trials, by name."""
    try:
        return sorted(p for p in (folder / LIVE).iterdir() if p.suffix == ".csv" and not p.name.startswith("."))
    except OSError:
        return []


def read_live_file(path: Path) -> list[tuple[str, int, int, int, str, str, float]]:
    """One live file's rows (trial, seed, epoch, iteration, split, metric, value); a torn
    last line, rows that do not parse and a file that vanished give no rows."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    text = data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace")
    rows = []
    reader = csv.reader(io.StringIO(text))
    if next(reader, None) != CURVE_COLUMNS:
        return []
    for r in reader:
        try:
            rows.append((r[0], int(r[1]), int(r[2]), int(r[3]), r[4], r[5], float(r[6])))
        except (ValueError, IndexError):
            continue
    return rows


def read_live(folder: Path, finished: Iterable[tuple[str, int]] = ()) -> pd.DataFrame:
    """The curve rows of the running trials (curves.csv's columns), leaving out every
    (trial, seed) in `finished` (those with a row in trials.csv: curves.csv has them)."""
    done = set(finished)
    rows = [r for p in live_files(folder) for r in read_live_file(p) if (r[0], r[1]) not in done]
    return curve_frame(rows)


_DTYPES = {"trial": str, "seed": "int64", "epoch": "int64", "iteration": "int64", "split": str, "metric": str,
           "value": "float64"}


def curve_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=CURVE_COLUMNS).astype(_DTYPES)


def running(live: pd.DataFrame) -> pd.DataFrame:
    """One row per running (trial, seed): its last epoch and iteration so far."""
    if live.empty:
        return pd.DataFrame(columns=["trial", "seed", "epoch", "iteration"])
    return live.groupby(["trial", "seed"], as_index=False)[["epoch", "iteration"]].max()


class CurvesTail:
    """curves.csv read incrementally: each `read()` parses only the whole lines appended since
    the last one (pandas' C parser), and starts over when the file was replaced or cut back
    (a repair on the next `sweep run` rewrites it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frame = curve_frame([])
        self._offset = 0
        self._inode: tuple[int, int] | None = None

    def read(self) -> pd.DataFrame:
        try:
            st = self.path.stat()
        except OSError:
            self.__init__(self.path)  # type: ignore[misc]  # gone: nothing to show
            return self.frame
        if (st.st_dev, st.st_ino) != self._inode or st.st_size < self._offset:
            self.frame, self._offset, self._inode = curve_frame([]), 0, (st.st_dev, st.st_ino)
        if st.st_size == self._offset:
            return self.frame
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(st.st_size - self._offset)
        chunk = chunk[: chunk.rfind(b"\n") + 1]  # a row still being written waits for the next read
        if not chunk:
            return self.frame
        first = self._offset == 0
        self._offset += len(chunk)
        new = pd.read_csv(io.BytesIO(chunk), header=0 if first else None, names=CURVE_COLUMNS,
                          dtype={"trial": str, "split": str, "metric": str}, on_bad_lines="skip",
                          keep_default_na=False, na_values={"value": ["", "nan", "NaN"]})
        for col in ("seed", "epoch", "iteration", "value"):
            new[col] = pd.to_numeric(new[col], errors="coerce")
        new = new.dropna(subset=["seed", "epoch", "iteration"]).astype(_DTYPES)
        self.frame = pd.concat([self.frame, new], ignore_index=True) if len(self.frame) else new.reset_index(drop=True)
        return self.frame
