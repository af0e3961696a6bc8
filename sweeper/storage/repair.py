"""Damaged results folders: what can be read is kept, what cannot is moved aside, never lost.

`sweep run` itself only ever leaves a torn last line (cut off on opening, see store.py). Other
damage comes from outside: a disk that filled, a file edited by hand, a copy that went
wrong, two folders merged. For a table (trials.csv, curves.csv) each record is checked
against the file's own header (its first line: the columns are those the file was written
with) and the few columns whose type sweeper relies on; records that fail are moved, as
they were, into `<table>.damaged` next to it, and a (trial, seed) row seen before is moved
there too, keeping the first. A study.json that is not a JSON object is rebuilt from the
study.py saved beside it. Readers (`sweeper.load`, `sweep show`, `sweep report`) use the
same checks without writing anything, and say what they skipped.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.errors import ResultsError
from sweeper.storage.atomic import atomic_write
from sweeper.storage.layout import column_groups, trial_columns
from sweeper.usercode.plugin import STATUSES  # a row with another status is damaged

Restore = Callable[[str, Mapping[str, str]], "str | None"]  # (column, stored row) -> its value; None: unknown

DAMAGED_SUFFIX = ".damaged"


def _int_text(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_number(text: str) -> bool:
    if text == "":
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


# columns whose values sweeper parses; any other column may hold any text
CHECKS: dict[str, Callable[[str], bool]] = {
    "trial": lambda v: v != "",
    "seed": _int_text,
    "epoch": _int_text,
    "iteration": _int_text,
    "value": _is_number,
}


def _status_check(key: Sequence[str]) -> Callable[[str], bool]:
    return (lambda v: v in STATUSES) if "seed" in key else (lambda v: True)


@dataclass
class Table:
    """A table's header and readable records, and what was set aside, with the raw text of each."""

    path: Path
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # each kept record's text, as in the file (read leniently only)
    unreadable: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    parsed: Any = None  # the records as a DataFrame of strings, where the fast reader read them

    @property
    def damaged(self) -> int:
        return len(self.unreadable) + len(self.duplicates)

    def frame(self) -> Any:
        """The records as a pandas DataFrame of strings, in the header's columns."""
        import pandas as pd

        if self.parsed is None:
            self.parsed = pd.DataFrame(self.rows, columns=self.header, dtype=str)
        return self.parsed

    def records(self) -> list[dict[str, str]]:
        if self.parsed is not None:
            return self.parsed.to_dict("records")  # type: ignore[no-any-return]
        return [dict(zip(self.header, r, strict=True)) for r in self.rows]

    def __len__(self) -> int:
        return len(self.parsed) if self.parsed is not None else len(self.rows)

    def describe(self, moved_to: Path | None = None) -> str:
        """One line: what was wrong and, if moved, where it went."""
        parts = []
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable {_plural(len(self.unreadable), 'record')}")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate (trial, seed) {_plural(len(self.duplicates), 'row')}")
        what = " and ".join(parts)
        if moved_to is not None:
            return f"{self.path}: moved {what} to {moved_to}; the rest is kept"
        return f"{self.path}: skipped {what}; `sweep run` of the study moves them aside into {self.path.name}{DAMAGED_SUFFIX}"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def read_table(path: Path, key: Sequence[str] = ()) -> Table:
    """Parse a table; `key` names the columns of which only the first row counts (trial,
    seed for trials.csv). A sound table (the common case, and the large one: curves.csv) is
    read by pandas' C parser and checked column by column; a damaged one is read again
    record by record, leniently, to keep all that can be kept. Nothing is written."""
    return _read_fast(path, key) or _read_lenient(path, key)


def _read_fast(path: Path, key: Sequence[str]) -> Table | None:
    """The table, if every record is sound and no field is quoted (what sweep run writes but
    for error messages); None where anything is not, for the lenient reader to sort out."""
    import pandas as pd

    data = path.read_bytes()
    if b'"' in data or b"\r" in data or not data.endswith(b"\n"):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")[:-1]
    header = lines[0].split(",") if lines else []
    if not header or any(line.count(",") != len(header) - 1 for line in lines):
        return None  # a record with too few or too many fields, or a blank line
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, engine="c")
    if list(frame.columns) != header or len(frame) != len(lines) - 1:
        return None  # a header pandas renamed (duplicate names)
    for name, check in _vector_checks(key).items():
        if name in header and not bool(check(frame[name]).all()):
            return None
    if key and frame.duplicated([k for k in key if k in header]).any():
        return None
    return Table(path, header, parsed=frame)


def _vector_checks(key: Sequence[str]) -> dict[str, Callable[[Any], Any]]:
    """CHECKS on whole columns."""
    import pandas as pd

    def ints(col: Any) -> Any:
        return col.str.fullmatch(r"\s*[+-]?\d+\s*")

    def numbers(col: Any) -> Any:
        return (col == "") | pd.to_numeric(col, errors="coerce").notna() | col.str.strip().str.lower().isin(
            ["nan", "inf", "-inf", "+inf", "infinity", "-infinity"])

    checks: dict[str, Callable[[Any], Any]] = {"trial": lambda c: c != "", "seed": ints, "epoch": ints,
                                               "iteration": ints, "value": numbers}
    if "seed" in key:
        checks["status"] = lambda c: c.isin(STATUSES)
    return checks


def _read_lenient(path: Path, key: Sequence[str]) -> Table:
    """Record by record: a record that fails its checks is set aside, the rest kept."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if not lines:
        return Table(path, [])
    header = next(csv.reader([lines[0]]), [])
    table = Table(path, header)
    checks = [(i, CHECKS[c]) for i, c in enumerate(header) if c in CHECKS]
    checks += [(i, _status_check(key)) for i, c in enumerate(header) if c == "status"]
    positions = [header.index(c) for c in key if c in header]
    seen: set[tuple[str, ...]] = set()

    def ok(record: list[str]) -> bool:
        return len(record) == len(header) and all(f(record[i]) for i, f in checks)

    start = 1
    while start < len(lines):
        start = _read_from(lines, start, table, ok, positions, seen)
    return table


def _read_from(lines: list[str], start: int, table: Table, ok: Callable[[list[str]], bool],
               positions: list[int], seen: set[tuple[str, ...]]) -> int:
    """Read records from lines[start] on until one fails; set that one's first line aside and
    return where to go on from (a quoted field may span lines, so a stray quote must not
    swallow the rest of the file)."""
    reader = csv.reader(iter(lines[start:]), strict=True)
    at = start
    try:
        for record in reader:
            end = start + reader.line_num
            if not ok(record):
                break
            raw = "".join(lines[at:end])
            k = tuple(record[p] for p in positions)
            if positions and k in seen:
                table.duplicates.append(raw)
            else:
                seen.add(k)
                table.rows.append(record)
                table.raw.append(raw)
            at = end
        else:
            return len(lines)
    except csv.Error:
        pass
    table.unreadable.append(lines[at])
    return at + 1


def repair_table(path: Path, key: Sequence[str] = ()) -> str | None:
    """Move a table's unreadable and duplicate records into `<table>.damaged` (appended to,
    never overwritten) and rewrite the table without them. Returns the one line that says so,
    or None when the table was sound."""
    return set_aside(read_table(path, key))


def set_aside(table: Table) -> str | None:
    """`repair_table` for a table already read: its damaged records moved into
    `<table>.damaged`, the file rewritten without them; the line that says so, or None."""
    if not table.damaged:
        return None
    path = table.path
    aside = path.with_name(path.name + DAMAGED_SUFFIX)
    moved = "".join(line if line.endswith("\n") else line + "\n" for line in table.unreadable + table.duplicates)
    with aside.open("a", encoding="utf-8", newline="") as f:  # first, so that nothing is ever only in memory
        f.write(moved)
        f.flush()
        os.fsync(f.fileno())
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(table.header)
    atomic_write(path, buf.getvalue() + "".join(table.raw))
    return table.describe(moved_to=aside)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """study.json as a dict; None if it is missing, not JSON or not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def rebuild_snapshot(folder: Path, source_name: str = "study.py") -> dict[str, Any] | None:
    """What study.json held, rebuilt from the study file saved beside it; None if that is
    missing or does not load. `dataset_used` cannot be known and is left out."""
    from sweeper.errors import StudyError
    from sweeper.study.studyfile import load_study

    source = folder / source_name
    if not source.is_file():
        return None
    try:
        study = load_study(source)
    except StudyError:
        return None
    from sweeper.usercode.identity import identity_of

    identity = identity_of(None, study.trainer)  # as a new folder's: the defaults it recorded are lost with it
    return {**study.to_dict(), "fingerprint": identity.fingerprint(study, study.trainer),
            "identity": identity.to_json(), "planned_configs": study.planned_configs()}



def restore_columns(trials: Table, expected: Sequence[str], required: Sequence[str],
                    restore: Restore) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """The header and records of trials.csv with the configuration columns of `expected` that
    it lacks (taken out by hand) put back in their place, each row's value from `restore`, and
    the names put back. A required column (a hyperparameter of the study) that `restore` cannot
    tell for every row is refused: resumed without it, its old rows would be of no configuration.
    Others it cannot tell are left out: a name added since the folder was made."""
    have, metrics = column_groups(trials.header)
    records = trials.records()
    if not expected or not records:
        return trials.header, records, []
    want, restored = column_groups(expected)[0], []
    for name in (c for c in want if c not in have):
        values = [restore(name, r) for r in records]
        if any(v is None for v in values):
            if name in required:
                raise ResultsError(f"{trials.path} has no column `{name}`, which every row of this study has, and "
                                   "the study's record cannot restore it for every row: put the column back, or "
                                   "pass --restart to move the old results aside")
            continue
        for row, value in zip(records, values, strict=True):
            row[name] = value or ""
        restored.append(name)
    order = [c for c in want if c in have or c in restored] + [c for c in have if c not in want]
    return trial_columns(order, metrics), records, restored
