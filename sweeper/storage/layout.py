"""The files of a results folder, their names and columns: what `sweep run` writes and every
reader (`sweeper.load`, `sweep show`, the report, a live page) reads. See `store.py` for how
they are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

TRIALS = "trials.csv"
CURVES = "curves.csv"
SNAPSHOT = "study.json"
SOURCE = "study.py"
LOCK = ".lock"
RACING = "racing.csv"  # a seed race's decisions, derived from trials.csv (see `schedules/racing.py`)
RACING_COLUMNS = ["trial", "label", "pool", "seeds", "state", "round", "reason"]
PRUNING = "pruning.csv"  # pruning's decisions, derived from trials.csv (see `schedules/pruning.py`)
PRUNING_COLUMNS = ["trial", "label", "rung", "budget", "state", "reason", "rung_trial"]  # rung_trial: the rows' id
KEY_COLUMNS = ["trial", "seed", "status"]  # then the configuration, "dataset", the metrics, then:
TAIL_COLUMNS = ["seconds", "error"]
PROVENANCE_COLUMNS = ["started", "host", "device", "worker"]  # after the tail: see `execution/trial.py`'s `_where`
KEEP_METRICS = ("ok", "pruned", "promoted")  # statuses whose rows keep their metrics (pruning's rungs)
CURVE_COLUMNS = ["trial", "seed", "epoch", "iteration", "split", "metric", "value"]


def trial_columns(config: Sequence[str], metrics: Sequence[str]) -> list[str]:
    return [*KEY_COLUMNS, *config, "dataset", *metrics, *TAIL_COLUMNS, *PROVENANCE_COLUMNS]


def tail_start(header: Sequence[str]) -> int | None:
    """Where `seconds, error` start in a trials.csv header (followed by the provenance
    columns, or by nothing in a folder made before them); None if it is none of sweeper's."""
    for tail in ([*TAIL_COLUMNS, *PROVENANCE_COLUMNS], TAIL_COLUMNS):
        if list(header[len(header) - len(tail):]) == tail and list(header[:len(KEY_COLUMNS)]) == KEY_COLUMNS \
                and "dataset" in header[len(KEY_COLUMNS):len(header) - len(tail)]:
            return len(header) - len(tail)
    return None


def column_groups(header: Sequence[str]) -> tuple[list[str], list[str]]:
    """The configuration's and the metrics' columns of a trials.csv header."""
    middle = list(header[len(KEY_COLUMNS):tail_start(header)])
    cut = middle.index("dataset")
    return middle[:cut], middle[cut + 1:]
PROGRESS = "progress.json"  # the running driver's state, rewritten at least every PROGRESS_EVERY_S (storage/live.py)
PROGRESS_EVERY_S = 2.0
LIVE = "live"  # live/<trial>.<seed>.csv: a running trial's curve rows, until its row is in trials.csv


CHECKPOINTS = "checkpoints"  # checkpoints/<trial>.<seed>.safetensors: a running trial's state, to resume from
WEIGHTS = "weights"  # weights/<trial>.<seed>.<best|last>.safetensors: a trial's kept weights


def live_file(folder: Path, trial: str, seed: int) -> Path:
    return folder / LIVE / f"{trial}.{seed}.csv"


def checkpoint_file(folder: Path, trial: str, seed: int, previous: bool = False) -> Path:
    """A running trial's last checkpoint, or (`previous`) the one before it, kept until the
    last is whole: a stacked group's models are saved one file each, and a kill between two
    of them leaves the group's previous epoch whole in these."""
    return folder / CHECKPOINTS / f"{trial}.{seed}{'.previous' if previous else ''}.safetensors"


def weights_file(folder: Path, trial: str, seed: int, which: str = "best") -> Path:
    return folder / WEIGHTS / f"{trial}.{seed}.{which}.safetensors"
