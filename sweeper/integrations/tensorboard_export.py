"""A results folder as TensorBoard event files: one run per (configuration, seed).

    DIR/<study>/<trial>-seed<seed>/events.out.tfevents.*

Each run holds its curves as scalars (`val_acc`, `train_batch_loss`, ... against the
iteration) and, for TensorBoard's HParams tab, the configuration with the final values of
the trial's metrics. Written with torch's `SummaryWriter` (PyTorch's own TensorBoard
writer; it needs the `tensorboard` package for its protocol buffers). Exporting again
rewrites each run's events file, so a run never holds a point twice; runs already written
from a finished trial are skipped (their `.sweeper-final` marker says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sweeper.analysis.results import read_snapshot, read_trials
from sweeper.errors import SweeperError
from sweeper.storage import live_reader as live
from sweeper.storage.store import CURVES, TRIALS, column_groups

FINAL_MARK = ".sweeper-final"  # in a run's folder: written from a finished trial, nothing will change


@dataclass
class Exported:
    folder: Path  # DIR/<study>
    written: int  # runs written now
    skipped: int  # runs already final


def export(folder: Path, out: Path) -> Exported:
    """Write (or update) the event files of every (configuration, seed) of a results folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError:
        raise SweeperError("--tensorboard needs TensorBoard: pip install 'seedsweep[tensorboard]'") from None
    study = read_snapshot(folder)
    with (folder / TRIALS).open(encoding="utf-8") as f:
        config, _ = column_groups(f.readline().strip().split(","))
    trials = read_trials(folder / TRIALS, study)
    done = set(zip(trials["trial"], trials["seed"], strict=True))
    curves = pd.concat([live.CurvesTail(folder / CURVES).read(), live.read_live(folder, done)], ignore_index=True)
    by_key = dict(iter(curves.groupby(["trial", "seed"])))
    target = out / folder.name
    written = skipped = 0
    rows = trials.to_dict("records") + [{"trial": t, "seed": s, "status": "running"}
                                        for t, s in by_key if (t, s) not in done]
    for row in rows:
        run = target / f"{row['trial']}-seed{int(row['seed'])}"
        if (run / FINAL_MARK).exists():
            skipped += 1
            continue
        run.mkdir(parents=True, exist_ok=True)
        for old in run.glob("events.out.tfevents.*"):
            old.unlink()
        key = (row["trial"], int(row["seed"]))
        with SummaryWriter(log_dir=str(run)) as writer:
            _write(writer, hparams, row, config, by_key.get(key, curves.iloc[:0]))
        if row["status"] != "running":
            (run / FINAL_MARK).write_text(str(row["status"]) + "\n")
        written += 1
    return Exported(target, written, skipped)


def _write(writer: Any, hparams: Any, row: dict[str, Any], config: list[str], curves: pd.DataFrame) -> None:
    keys = set()
    for (split, metric), g in curves.groupby(["split", "metric"], sort=True):
        key = f"{split}_{metric}" if split else str(metric)
        keys.add(key)
        for step, value in zip(g["iteration"], g["value"], strict=True):
            writer.add_scalar(key, float(value), int(step))
    step = int(curves["iteration"].max()) if len(curves) else 0
    finals = {k: float(v) for k, v in row.items() if k not in config and k != "seed" and _number(v)}
    for k, v in finals.items():
        if k not in keys:  # a curve's last point is its final value already
            writer.add_scalar(k, v, step)
    params = {k: _hparam(row[k]) for k in config if k in row and _hparam(row[k]) is not None}
    params["seed"] = int(row["seed"])
    params["status"] = str(row["status"])
    for summary in hparams(params, finals):
        writer.file_writer.add_summary(summary)


def _hparam(v: Any) -> Any:
    """A value TensorBoard's HParams plugin takes: a bool, number or string (None: empty)."""
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    return v if isinstance(v, (bool, int, float, str)) else str(v)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
