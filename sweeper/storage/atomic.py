"""Replacing a file of the results folder whole: a reader sees the old file or the new one,
never a part of either."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, durable: bool = True) -> None:
    """Write `data` (text as UTF-8) into a temporary file beside `path`, then rename it over
    `path`. `durable` fsyncs before the rename, so that a crash of the machine cannot leave
    the name on an empty file; a view rewritten every few seconds (progress.json), or a resume
    checkpoint the next epoch replaces anyway, does without."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
