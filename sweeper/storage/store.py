"""results/<study>/: trials.csv, curves.csv and the study snapshot, written to survive a kill.

trials.csv's columns follow the study: `trial, seed, status`, the configuration's
hyperparameters, `dataset`, the metrics its trainer writes, `seconds, error`, then where and
when the row was made: `started` (UTC), `host`, `device`, `worker` (a folder made before
these were recorded gains them with its first new row, older rows empty there). The header is
written when the folder is made; a row that brings a new column (a metric a user's loop
returns only now, a hyperparameter added to a grid) rewrites the file once with the column
added in its place, older rows empty there. A row whose trial failed or diverged keeps its
counts (epochs run, iterations) but no metric: a diverged model's numbers are not results.
Pruning (`schedules/pruning.py`) adds two statuses whose rows keep their metrics: `pruned` (a
configuration stopped at a rung) and `promoted` (a rung of one that went on).

Each finished trial is written as it arrives (trials that arrive together, together): its
curve rows first, then its one trials.csv row, each as a single `write` to a file opened for
appending, then `fsync`. The trials.csv
row is the commit point: on opening, a torn last line is cut off and curve rows whose trial
has no row are dropped, so a kill at any moment leaves tables that parse and hold no
duplicate after resuming. A lock (`flock`, released by the kernel when its holder dies, so
a stale lock never needs cleaning) keeps a second `sweep run` of the same study out.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sweeper.errors import ResultsError, StorageError
from sweeper.execution.trial import TrialResult
from sweeper.metrics import COUNTS
from sweeper.storage import checkpoint, repair
from sweeper.storage.atomic import atomic_write
from sweeper.storage.layout import (  # noqa: F401 (the folder's names, for readers of the store too)
    CURVE_COLUMNS,
    CURVES,
    KEEP_METRICS,
    KEY_COLUMNS,
    LOCK,
    PROVENANCE_COLUMNS,
    PRUNING,
    PRUNING_COLUMNS,
    RACING,
    RACING_COLUMNS,
    SNAPSHOT,
    SOURCE,
    TAIL_COLUMNS,
    TRIALS,
    WEIGHTS,
    column_groups,
    tail_start,
    trial_columns,
    weights_file,
)

# study.json's fields that say how a study runs or what it keeps, not what its rows mean
UNSHAPING = ("fingerprint", "seeds", "n_trials", "description", "saved", "identity", "planned_configs", "code",
             "weights", "keep_last", "checkpoint_every", "model_io", "vectorize", "stack", "timeout",
             "gpus_per_trial")


def check_writable(root: Path) -> None:
    """Fail before any training if results cannot be written under root; creates nothing
    (a sweep refused later must not leave empty folders behind)."""
    existing = next((p for p in (root, *root.absolute().parents) if p.exists()), Path("/"))
    if existing != root:
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise StorageError(f"results folder {root} is not writable ({existing} is not a writable folder); "
                               "pass --results DIR with a writable folder")
        return
    try:
        probe = root / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise StorageError(f"results folder {root} is not writable ({e.strerror}); pass --results DIR with a writable folder") from None


class ResultsStore:
    """The results folder of one study, held open (and locked) for one run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock_fd: int | None = None
        self.moved_aside: Path | None = None  # where --restart put the old results
        self.columns: list[str] = trial_columns([], [])  # trials.csv's header, once open
        self.repairs: list[str] = []  # one line for each table whose damaged records were moved aside
        self.appended = 0  # trials written by this run
        self._records: list[dict[str, str]] | None = None  # trials.csv's rows, once opened

    # -- opening ---------------------------------------------------------------------
    def open(self, snapshot: Mapping[str, Any] | Callable[[Mapping[str, Any] | None], Mapping[str, Any]],
             source: str | None, restart: bool = False, columns: Sequence[str] | None = None,
             required: Sequence[str] = (), restore: repair.Restore | None = None) -> ResultsStore:
        """Lock the folder (made if new), check and write the study's snapshot, repair the
        tables. `snapshot` may be a function of the old snapshot (None for a folder without
        rows); `columns` is the header of a new trials.csv, `required` the columns every row
        of the study has (its hyperparameters and its metric); `restore(column, row)` a
        configuration column's value in a stored row, from the study's record (None: unknown),
        to put back a column removed by hand."""
        check_writable(self.folder.parent)
        if restart and self.folder.exists():
            self._lock()
            self._unlock()
            aside = self.folder.with_name(f"{self.folder.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
            self.folder.rename(aside)
            self.moved_aside = aside
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._lock()
            trials = self._read(TRIALS, ("trial", "seed"))  # each table is read once, here
            old = self.old_snapshot(bool(trials and len(trials)))
            new = snapshot(old) if callable(snapshot) else snapshot
            self._check_snapshot(old, new)
            if old is not None and trials is not None:  # before anything is written: a refused folder stays as it was
                check_header(self.folder / TRIALS, self._checked(trials.header, self.folder / TRIALS),
                             list(columns or []), required)
                if restore is not None:
                    trials = self._restore(trials, list(columns or []), required, restore)
            self._write_snapshot(new, source)
            self._repair(list(columns) if columns is not None else trial_columns([], []), trials)
        except OSError as e:  # a full or read-only disk
            self.close()
            raise StorageError(f"cannot write to {e.filename or self.folder} ({e.strerror}); nothing was trained; "
                               "free some space or pass --results DIR on another disk") from None
        except BaseException:
            self.close()
            raise
        return self

    def _restore(self, trials: repair.Table, expected: list[str], required: Sequence[str],
                 restore: repair.Restore) -> repair.Table:
        """trials.csv with the configuration columns the study writes and its header lacks put
        back from the study's record (`repair.restore_columns`), rewritten once."""
        header, records, restored = repair.restore_columns(trials, expected, required, restore)
        if not restored:
            return trials
        buf = io.StringIO()
        w = csv.DictWriter(buf, header, lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(records)
        atomic_write(self.folder / TRIALS, buf.getvalue())
        self.repairs.append(f"{self.folder / TRIALS}: column{'s' if len(restored) > 1 else ''} "
                            f"{', '.join(f'`{c}`' for c in restored)} put back from the study's record "
                            f"({len(records)} rows)")
        return self._read(TRIALS, ("trial", "seed")) or trials

    def _read(self, name: str, key: tuple[str, ...] = ()) -> repair.Table | None:
        """A table as it is on disk, a torn last line cut off first (what a kill mid-append
        leaves); None where the file is missing or empty."""
        path = self.folder / name
        if not path.exists() or path.stat().st_size == 0:
            return None
        _cut_torn_tail(path)
        return repair.read_table(path, key)

    def lock(self) -> None:
        """Hold the folder's lock (ResultsError if a running sweep holds it)."""
        self._lock()

    def _lock(self) -> None:
        import fcntl

        try:
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except IsADirectoryError:
            raise ResultsError(f"{self.folder / LOCK} is a folder, not sweeper's lock file; remove it "
                               f"(rmdir '{self.folder / LOCK}') and run again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 100).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ResultsError(
                f"{self.folder} is in use by a running sweep ({holder}); wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        self._unlock()

    def old_snapshot(self, has_rows: bool | None = None) -> dict[str, Any] | None:
        """The study.json of a folder that holds rows, else None (nothing to stay compatible
        with); a damaged one rebuilt from the study.py saved beside it."""
        path = self.folder / SNAPSHOT
        if not (has_rows if has_rows is not None else bool(self.rows())):
            return None
        old = repair.read_snapshot(path) or repair.rebuild_snapshot(self.folder, SOURCE)
        if old is None:
            raise ResultsError(f"{path} is damaged and {self.folder / SOURCE} cannot rebuild it, so the rows there cannot "
                               "be matched to this study; pass --restart to move the old results aside and start over")
        return old

    def _check_snapshot(self, old: Mapping[str, Any] | None, snapshot: Mapping[str, Any]) -> None:
        """Refuse a folder whose rows mean something else: another fingerprint or dataset, or
        user code that changed (`identity.changes`: only what both snapshots record)."""
        from sweeper.usercode.identity import changes

        if old is None:
            return
        old = {"dataset_used": snapshot["dataset_used"], **old}  # a rebuilt snapshot cannot know it
        code = changes(old.get("code") or {}, snapshot.get("code") or {})
        if old.get("fingerprint") == snapshot["fingerprint"] and old.get("dataset_used") == snapshot["dataset_used"] \
                and not code:
            return
        snapshot = json.loads(json.dumps(snapshot, default=str))  # as study.json will hold it (tuples as lists)
        roles = set((snapshot.get("code") or {}).get("roles") or {})  # the user's functions, by role
        told = roles if old.get("code") else set()  # by `code`, more precisely than by their names
        changed = [k for k in sorted(snapshot) if k not in (*UNSHAPING, *told)
                   and old.get(k) != snapshot[k] and (k not in old or type(old[k]) is type(snapshot[k]))
                   and not (k in roles and _named(old[k]) == _named(snapshot[k]))]  # moved, or the same name
        fields = [f"{k}: {old.get(k)!r} -> {snapshot.get(k)!r}" for k in changed]
        if not code and not fields and roles and (old.get("identity") or {}).get("scheme") == 2:
            fields = [f"the source text of {', '.join(sorted(roles))}: this folder was written before sweeper told "
                      "comments and docstrings apart, and counts them"]
        detail = "; ".join((code + fields)[:3]) or "definition changed"
        raise ResultsError(
            f"{self.folder} holds results of a different version of study '{snapshot['name']}' ({detail}); "
            f"give the study a new name, or pass --restart to move the old results aside and start over"
        )

    def _write_snapshot(self, snapshot: Mapping[str, Any], source: str | None) -> None:
        atomic_write(self.folder / SNAPSHOT, json.dumps({**snapshot, "saved": time.strftime("%Y-%m-%dT%H:%M:%S")},
                                                         indent=2, default=str) + "\n")
        if source is not None:
            atomic_write(self.folder / SOURCE, source)

    def _repair(self, columns: list[str], trials: repair.Table | None = None) -> None:
        """Check the headers, set damaged records aside, drop curve rows of trials with no
        row; from the tables as read (`trials`, if given), each file parsed once."""
        curves = self._read(CURVES)
        for name, table, header_for_new in ((TRIALS, trials, columns), (CURVES, curves, CURVE_COLUMNS)):
            if table is None:
                atomic_write(self.folder / name, _csv_line(header_for_new))
        trials = trials or repair.Table(self.folder / TRIALS, list(columns))
        self.columns = self._checked(trials.header, self.folder / TRIALS)
        if curves is not None and curves.header != CURVE_COLUMNS:
            raise ResultsError(f"{self.folder / CURVES} has columns {curves.header[:4]}... that sweeper does not write; "
                               "pass --restart to move the old results aside")
        for table in (trials, curves):
            note = repair.set_aside(table) if table is not None else None
            if note:
                self.repairs.append(note)
        self._records = trials.records()
        if curves is not None and len(curves):
            frame = curves.frame()
            keep = {(r["trial"], r["seed"]) for r in self._records}
            kept = [(t, s) in keep for t, s in zip(frame["trial"], frame["seed"], strict=True)]
            if not all(kept):
                buf = io.StringIO()
                frame[kept].to_csv(buf, index=False, lineterminator="\n")
                atomic_write(self.folder / CURVES, buf.getvalue())

    @staticmethod
    def _checked(header: list[str], path: Path) -> list[str]:
        if tail_start(header) is None:
            raise ResultsError(f"{path} has columns {header[:4]}... that sweeper does not write; "
                               "pass --restart to move the old results aside")
        return header

    # -- reading and writing ----------------------------------------------------------
    def rows(self) -> list[dict[str, str]]:
        """trials.csv's rows, damaged records left out: as read when the folder was opened,
        with the rows written since."""
        if self._records is not None:
            return list(self._records)
        path = self.folder / TRIALS
        if not path.exists():
            return []
        return repair.read_table(path, ("trial", "seed")).records()

    def drop(self, keep: Any) -> int:
        """Rewrite trials.csv with only the rows for which keep(row) is true; return how many went."""
        rows = self.rows()
        kept = [r for r in rows if keep(r)]
        if len(kept) != len(rows):
            buf = io.StringIO()
            w = csv.DictWriter(buf, self.columns, lineterminator="\n")
            w.writeheader()
            w.writerows(kept)
            atomic_write(self.folder / TRIALS, buf.getvalue())
            self._repair(self.columns, self._read(TRIALS, ("trial", "seed")))
        return len(rows) - len(kept)

    def append(self, result: TrialResult, config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
        """Write one finished trial: curves, then its row (the commit point). Returns the row."""
        return self.append_many([(result, config)], dataset)[0]

    def append_many(self, finished: Sequence[tuple[TrialResult, Mapping[str, Any]]], dataset: str) -> list[dict[str, Any]]:
        """Write finished trials (each with its configuration) that arrived together: their
        curves in one append, then their rows in one (the commit point), so a batch costs two
        fsyncs, not two a row. Returns the rows, as written."""
        try:
            curves = [(r.trial, r.seed, *c) for r, _ in finished for c in r.curves]
            if curves:
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(curves)
                _append(self.folder / CURVES, buf.getvalue())
            self._widen(list({k: 0 for _, config in finished for k in config}),
                        list({k: 0 for r, _ in finished for k in r.metrics}))
        except OSError as e:
            raise self._full(e) from None
        rows = [self._row(result, config, dataset) for result, config in finished]
        buf = io.StringIO()
        csv.DictWriter(buf, self.columns, lineterminator="\n", restval="").writerows(rows)
        try:
            _append(self.folder / TRIALS, buf.getvalue())
        except OSError as e:  # the rows are not written, and the rows before them stay whole
            raise self._full(e) from None
        self.appended += len(rows)
        written = [{c: row.get(c, "") for c in self.columns} for row in rows]
        if self._records is not None:
            self._records.extend({c: "" if v is None else str(v) for c, v in w.items()} for w in written)
        return written

    @staticmethod
    def _row(result: TrialResult, config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
        metrics = {k: v for k, v in result.metrics.items() if result.status in KEEP_METRICS or k in COUNTS}
        return {"trial": result.trial, "seed": result.seed, "status": result.status, **config,
                "dataset": dataset, **metrics, "seconds": round(result.seconds, 4), "error": result.error,
                **result.provenance()}

    def write_weights(self, trial: str, seed: int, which: str, data: bytes) -> None:
        """A trial's weights (safetensors bytes), written atomically beside the tables."""
        try:
            checkpoint.save(weights_file(self.folder, trial, seed, which), data)
        except OSError as e:
            raise self._full(e) from None

    def keep_weights(self, trials: Iterable[str]) -> int:
        """Remove the weights of every trial but `trials`; how many files went."""
        keep = set(trials)
        gone = 0
        for path in (self.folder / WEIGHTS).glob("*.safetensors") if (self.folder / WEIGHTS).is_dir() else []:
            if path.name.split(".")[0] not in keep:
                path.unlink()
                gone += 1
        return gone

    def write_table(self, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Replace a table derived from trials.csv (racing.csv) in one atomic step."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        w.writerows(rows)
        atomic_write(self.folder / name, buf.getvalue())

    def _widen(self, config: list[str], metrics: list[str]) -> None:
        """Add columns that a row brings and the header lacks: rewrite trials.csv once, with
        each new column in its group (configuration, metrics, or the provenance columns of a
        folder made before them), older rows empty there."""
        have_config, have_metrics = column_groups(self.columns)
        new_config = [c for c in config if c not in have_config]
        new_metrics = [m for m in metrics if m not in have_metrics and m not in have_config]
        if not new_config and not new_metrics \
                and self.columns[-len(PROVENANCE_COLUMNS):] == PROVENANCE_COLUMNS:
            return
        rows = self.rows()
        self.columns = trial_columns(have_config + new_config, have_metrics + new_metrics)
        buf = io.StringIO()
        w = csv.DictWriter(buf, self.columns, lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(rows)
        atomic_write(self.folder / TRIALS, buf.getvalue())

    def _full(self, e: OSError) -> StorageError:
        return StorageError(
            f"cannot write to {e.filename or self.folder} ({e.strerror}); {self.appended} trials of this run were "
            f"saved in {self.folder / TRIALS} before it; free some space and run the same command again to resume")


def _named(described: Any) -> Any:
    """'build' of 'build (studies/x.py:12)': a user's function as study.json names it, without where."""
    return described.split(" (")[0] if isinstance(described, str) else described


def check_header(path: Path, header: Sequence[str], expected: Sequence[str], required: Sequence[str]) -> None:
    """A column every row of the study has, missing from a header that has one the study
    does not write in the same group (hyperparameters, metrics): a column renamed by hand.
    Refused, with the fix, rather than resumed into rows that lack it."""
    if not expected:
        return
    for have, want in zip(column_groups(header), column_groups(expected), strict=True):
        strange = [c for c in have if c not in want]
        for name in required:
            if name in want and name not in have and strange:
                guess = difflib.get_close_matches(name, strange, n=1, cutoff=0.0)[0]
                raise ResultsError(f"{path} has no column `{name}`, which every row of this study has, but has "
                                   f"`{guess}`, which the study does not write: was it renamed by hand? Rename it back "
                                   f"to `{name}` in the file's first line, or pass --restart to move the old results "
                                   "aside")


def _csv_line(values: Iterable[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(list(values))
    return buf.getvalue()


def _append(path: Path, text: str) -> None:
    """Append text in one write and fsync; if that fails (a full disk) the file is cut back to
    its length before, so it never ends in half a row."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    size = os.fstat(fd).st_size
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except OSError as e:
        try:
            os.ftruncate(fd, size)
        except OSError:
            pass  # the torn tail is cut off on the next open instead
        e.filename = e.filename or str(path)
        raise
    finally:
        os.close(fd)


def _cut_torn_tail(path: Path) -> None:
    """A kill in the middle of an append leaves a last line with no newline: remove it."""
    with path.open("rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        block = min(size, 1 << 20)
        while True:
            f.seek(size - block)
            chunk = f.read(block)
            cut = chunk.rfind(b"\n")
            if cut >= 0 or block == size:
                f.truncate(size - block + cut + 1 if cut >= 0 else 0)
                return
            block = min(size, block * 2)

