"""Synthetic trials tables and results folders whose truth is known, for the report tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sweeper.builtin.hparams import HPARAMS
from sweeper.storage.store import CURVE_COLUMNS, trial_columns

METRIC_COLUMNS = ["train_loss", "train_acc", "val_loss", "val_acc", "best_val_acc", "best_epoch", "epochs_run",
                  "iterations"]
TRIAL_COLUMNS = trial_columns(list(HPARAMS), METRIC_COLUMNS)


def trials_table(values: np.ndarray, statuses: np.ndarray | None = None, metric: str = "val_acc") -> pd.DataFrame:
    """A minimal trials table: values[seed, config] of `metric`, configuration c has x = c."""
    seeds, configs = values.shape
    status = np.full(values.shape, "ok", dtype=object) if statuses is None else statuses
    return pd.DataFrame({
        "trial": [f"c{c}" for s in range(seeds) for c in range(configs)],
        "seed": [s for s in range(seeds) for _ in range(configs)],
        "status": status.ravel(),
        "x": [c for _ in range(seeds) for c in range(configs)],
        metric: np.where(status == "ok", values, np.nan).ravel(),
    })


def null_studies(rng: np.random.Generator, reps: int, seeds: int, configs: int, shift: Sequence[float] = ()) -> np.ndarray:
    """reps x seeds x configs of a metric: a per-seed offset shared by all configurations (as a
    seed's data order and initialisation are) plus independent noise; configuration c's
    true mean is shift[c] (0 when not given)."""
    means = np.zeros(configs)
    means[: len(shift)] = shift
    offsets = rng.normal(0, 3.0, size=(reps, seeds, 1))
    return 0.9 + 0.02 * (offsets + rng.normal(size=(reps, seeds, configs)) + means)


def write_results(folder: Path, space: dict[str, list], seeds: int = 3, sampler: str = "grid",
                  metric: str = "val_acc", epochs: int = 2, iterations_per_epoch: int = 4,
                  fail: Sequence[tuple[int, int, str]] = (), rng_seed: int = 0) -> Path:
    """A results folder as `sweep run` writes it, for a study searching `space` (a grid over
    the given values, or those values in order as random-search proposals); `fail` lists
    (config index, seed, status) to record as failed or diverged."""
    rng = np.random.default_rng(rng_seed)
    names = list(space)
    combos = _product([space[n] for n in names]) if sampler == "grid" else list(zip(*space.values(), strict=True))
    configs = [dict(zip(names, combo, strict=True)) for combo in combos]
    bad = {(c, s): status for c, s, status in fail}
    trials, curves = [], []
    for c, searched in enumerate(configs):
        quality = 0.8 + 0.1 * np.tanh(sum(float(v) if not isinstance(v, str) else len(v) for v in searched.values()))
        for s in range(seeds):
            config = {n: h.default for n, h in HPARAMS.items()} | {"epochs": epochs} | searched
            status = bad.get((c, s), "ok")
            acc = float(np.clip(quality + rng.normal(0, 0.01), 0, 1))
            row = {"trial": f"cfg{c:03d}", "seed": s, "status": status, **config, "dataset": "digits",
                   "train_loss": 1 - acc + 0.05, "train_acc": min(1.0, acc + 0.03), "val_loss": 1 - acc, "val_acc": acc,
                   "best_val_acc": acc, "best_epoch": epochs, "epochs_run": epochs,
                   "iterations": epochs * iterations_per_epoch, "seconds": 1.0, "error": ""}
            if status != "ok":
                row.update({k: "" for k in METRIC_COLUMNS})
                row["error"] = "loss became NaN or infinite" if status == "diverged" else "RuntimeError: boom"
            trials.append(row)
            if status == "ok":
                curves += _curves(f"cfg{c:03d}", s, acc, epochs, iterations_per_epoch)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(trials, columns=TRIAL_COLUMNS).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(curves, columns=CURVE_COLUMNS).to_csv(folder / "curves.csv", index=False)
    study = {"name": folder.name, "sampler": sampler, "metric": metric,
             "direction": "minimize" if metric.endswith("loss") else "maximize",
             "space": {n: repr(list(v)) for n, v in space.items()}, "fixed": {"epochs": epochs},
             "seeds": list(range(seeds)), "n_trials": None if sampler == "grid" else len(configs),
             "planned_configs": len(configs), "dataset_used": "digits", "description": "synthetic"}
    (folder / "study.json").write_text(json.dumps(study))
    return folder


def _product(lists: list[list]) -> list[tuple]:
    import itertools

    return list(itertools.product(*lists))


def _curves(trial: str, seed: int, acc: float, epochs: int, per_epoch: int) -> list[tuple]:
    rows = []
    for e in range(1, epochs + 1):
        for i in range((e - 1) * per_epoch + 1, e * per_epoch + 1):
            rows.append((trial, seed, e, i, "train", "batch_loss", 2.3 / i))
        frac = e / epochs
        rows += [(trial, seed, e, e * per_epoch, "train", "loss", 1.5 - frac), (trial, seed, e, e * per_epoch, "train", "acc", acc * frac + 0.03),
                 (trial, seed, e, e * per_epoch, "val", "loss", 1.6 - frac), (trial, seed, e, e * per_epoch, "val", "acc", acc * frac)]
    return rows


def write_progress(folder: Path, state: str = "running", age_s: float = 0.0, **fields) -> dict:
    """progress.json as a running driver writes it, last updated `age_s` seconds ago."""
    import os
    import socket
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    trials = pd.read_csv(folder / "trials.csv") if (folder / "trials.csv").exists() else pd.DataFrame()
    progress = {"state": state, "pid": os.getpid(), "host": socket.gethostname(),
                "started": (now - timedelta(seconds=60)).isoformat(), "updated": (now - timedelta(seconds=age_s)).isoformat(),
                "planned": 12, "done": len(trials), "trained": len(trials), "failed": 0, "diverged": 0,
                "eta_seconds": 42.0, "best": "learning_rate=0.1 val_acc=0.9000 (3 seeds)"} | fields
    tmp = folder / ".progress.json.tmp"
    tmp.write_text(json.dumps(progress))
    tmp.replace(folder / "progress.json")
    return progress


def write_live(folder: Path, trial: str, seed: int, epochs: Sequence[int], per_epoch: int = 4, acc: float = 0.8,
               torn: bool = False) -> Path:
    """live/<trial>.<seed>.csv of a running (configuration, seed) that has finished `epochs`:
    training and validation loss and accuracy at each epoch's end, as curves.csv holds them;
    `torn` leaves half a row at the end, as a read in the middle of an append sees."""
    path = folder / "live" / f"{trial}.{seed}.csv"
    path.parent.mkdir(exist_ok=True)
    rows = [r for e in epochs for r in _curves(trial, seed, acc, max(epochs), per_epoch) if r[2] == e and r[5] != "batch_loss"]
    text = ",".join(CURVE_COLUMNS) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    path.write_text(text + (f"{trial},{seed},9,3" if torn else ""))
    return path
