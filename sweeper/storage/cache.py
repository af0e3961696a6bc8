"""Tables worked out from a results folder, kept in it so that the commands that read it again are quick.

    results/<study>/.cache/<name>.csv    the table
    results/<study>/.cache/<name>.json   {"key": ..., "table": the CSV's hash, "dtypes": {column: dtype}}

The key is a hash of what the table was worked out from (trials.csv's bytes, the method's
version: the caller says); a table whose key differs, or that cannot be read back as it was
written, is not used, and the caller works it out again. Data, never code: CSV and JSON. A
folder that cannot be written to is read without a cache.
"""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import pandas as pd

from sweeper.storage.atomic import atomic_write

CACHE = ".cache"
FORMAT = 1  # of the two files; another is not read


def key(*parts: bytes | str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def read(folder: Path, name: str, wanted: str) -> pd.DataFrame | None:
    """The table `name` if it was stored with key `wanted` and reads back whole; else None."""
    try:
        meta = json.loads((folder / CACHE / f"{name}.json").read_text())
        if meta.get("format") != FORMAT or meta.get("key") != wanted:
            return None
        text = (folder / CACHE / f"{name}.csv").read_text()
        return _parse(text, meta["dtypes"]) if meta.get("table") == key(text) else None
    except (OSError, ValueError, KeyError, TypeError):  # missing, damaged or foreign: worked out again
        return None


def write(folder: Path, name: str, wanted: str, table: pd.DataFrame) -> None:
    """Store `table` under key `wanted`, if it reads back exactly as it is and the folder can be written to."""
    dtypes = {str(c): str(t) for c, t in table.dtypes.items()}
    text = table.to_csv(index=False)
    try:
        pd.testing.assert_frame_equal(_parse(text, dtypes), table.reset_index(drop=True))
    except (AssertionError, ValueError, TypeError):  # a column CSV cannot carry as it is: no cache
        return
    try:
        (folder / CACHE).mkdir(exist_ok=True)
        atomic_write(folder / CACHE / f"{name}.csv", text, durable=False)
        atomic_write(folder / CACHE / f"{name}.json", json.dumps({"format": FORMAT, "key": wanted, "table": key(text), "dtypes": dtypes}),
                     durable=False)  # written last: a cut-short write leaves a key that matches no table
    except OSError:  # a read-only folder: read without a cache
        return


def _parse(text: str, dtypes: dict[str, str]) -> pd.DataFrame:
    strings = {c: t for c, t in dtypes.items() if t in ("str", "string", "object")}
    table = pd.read_csv(StringIO(text), dtype={c: "str" for c in strings}, keep_default_na=False,
                        na_values={c: [""] for c in dtypes if c not in strings})
    if list(table.columns) != list(dtypes):
        raise ValueError("the table's columns are not the ones recorded")
    return table.astype({c: t for c, t in dtypes.items() if c not in strings})
