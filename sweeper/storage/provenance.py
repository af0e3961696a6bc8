"""results/<study>/runs.jsonl: one JSON line per run of a study, saying who made its rows.

A line is written when the run has opened its folder, before anything trains, and completed
when the run ends, however it ends: so a run that was killed still has its line, with
`finished` null. Each line holds when the run started and finished (UTC), how it ended
(`finished`, `interrupted`, or the error that stopped it) and how many rows it wrote, the
command line, the host, the versions of sweeper, torch, Python and NumPy, and the git commit
of the study's folder with a dirty flag (whether tracked files differ from that commit),
where the folder is in a git repository and git is installed. Where each row was trained is
in trials.csv itself (`started`, `host`, `device`, `worker`).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from sweeper.storage.atomic import atomic_write

RUNS = "runs.jsonl"
GIT_TIMEOUT_S = 5


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def versions() -> dict[str, str | None]:
    """sweeper's, torch's, Python's and NumPy's versions (None for one not installed)."""
    out: dict[str, str | None] = {}
    for name, distribution in (("sweeper", "seedsweep"), ("torch", "torch"), ("numpy", "numpy")):
        try:
            out[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out["sweeper"] is None:  # run from a checkout that is not installed
        out["sweeper"] = getattr(sys.modules.get("sweeper"), "__version__", None)
    out["python"] = platform.python_version()
    return out


def git_state(folder: Path) -> dict[str, Any] | None:
    """{"commit", "dirty", "folder"} of the git repository holding `folder`; None where it is in
    none, or git is missing or too slow to answer."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True,
                              timeout=GIT_TIMEOUT_S, stdin=subprocess.DEVNULL).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty, "folder": str(folder)}


class RunLog:
    """This run's line of runs.jsonl, from `begin` to `end`."""

    def __init__(self, store: Any, entry: dict[str, Any]) -> None:
        self.store, self.entry = store, entry
        self.path = Path(store.folder) / RUNS

    @classmethod
    def begin(cls, store: Any, study: Any) -> RunLog:
        """Write this run's line (unfinished) into the open results folder `store`."""
        where = study.where().rpartition(":")[0]
        folder = Path(where).resolve().parent if where else Path.cwd()
        entry = {"run": uuid.uuid4().hex[:12], "started": now(), "finished": None, "status": "running",
                 "rows": 0, "command": list(sys.argv), "cwd": os.getcwd(), "host": socket.gethostname(),
                 **versions(), "git": git_state(folder)}
        log = cls(store, entry)
        try:
            with log.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        except OSError:
            pass  # a full disk: the first row written says so, as one clear error
        return log

    def end(self) -> None:
        """Complete this run's line: when and how it ended (from the exception in flight, if
        any) and how many rows it wrote."""
        error = sys.exc_info()[1]
        status = "finished" if error is None else "interrupted" if isinstance(error, KeyboardInterrupt) \
            or type(error).__name__ == "Interrupted" else f"stopped by {type(error).__name__}: {error}"
        self.entry.update(finished=now(), status=status, rows=int(getattr(self.store, "appended", 0)))
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            mine = json.dumps(self.entry)
            kept = [mine if _run_of(line) == self.entry["run"] else line for line in lines]
            atomic_write(self.path, "\n".join(kept) + "\n", durable=False)
        except OSError:
            pass  # a full disk: the line stays as `begin` wrote it, unfinished


def _run_of(line: str) -> str | None:
    try:
        return json.loads(line).get("run")
    except (ValueError, AttributeError):
        return None


def begin(store: Any, study: Any) -> RunLog:
    """Start this run's line of runs.jsonl in `store`'s folder (see the module's docstring)."""
    return RunLog.begin(store, study)
