"""A study's results folder as pandas DataFrames with proper dtypes: what `sweeper.load` gives.

    >>> r = sweeper.load("lr_momentum")          # or "results/lr_momentum", or "studies/lr_momentum.py"
    >>> r.trials.groupby(["learning_rate", "momentum"]).val_acc.mean()
    >>> r.summary.sort_values("rank").head()      # one row per configuration, mean and 95 % CI
    >>> r.comparisons                             # each configuration against the best one

`status` and the categorical hyperparameters are pandas categoricals, `shuffle` and
`nesterov` booleans, counts integers (nullable where a failed trial has none).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from sweeper.builtin import hparams
from sweeper.engine import repair
from sweeper.engine.store import CURVE_COLUMNS, CURVES, SNAPSHOT, TRIAL_COLUMNS, TRIALS
from sweeper.errors import ResultsError

STATUSES = ["ok", "failed", "diverged"]
SPLITS = ["train", "val", "test"]
CURVE_METRICS = ["loss", "acc", "batch_loss", "lr"]
CHOICES = {"model": hparams.MODELS, "optimizer": hparams.OPTIMIZERS,
           "normalization": hparams.NORMALIZATIONS, "init": hparams.INITS}
COUNT_COLUMNS = ["best_epoch", "epochs_run", "iterations"]
ASIDE = re.compile(r"\.(dry-run|old-\d{8}-\d{6})$")  # folders `sweep run` writes beside the real one


@dataclass
class Results:
    """One study's results: its definition (`study`, from study.json) and its tables."""

    folder: Path
    study: dict[str, Any]
    trials: pd.DataFrame
    curves: pd.DataFrame
    notes: list[str] = field(default_factory=list)  # what could not be read and was left out

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def metric(self) -> str:
        return str(self.study.get("metric", "val_acc"))

    @property
    def direction(self) -> str:
        return str(self.study.get("direction") or ("minimize" if self.metric.endswith("loss") else "maximize"))

    @property
    def searched(self) -> list[str]:
        """The searched hyperparameters, in the order the study lists them."""
        return [n for n in self.study.get("space", {}) if n in self.trials]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per configuration (see `sweeper.analysis.stats.summarize`)."""
        from sweeper.analysis import stats

        if self.trials.empty:  # no row yet (the first seconds of a run): the columns, with no row
            return stats.summarize(_placeholder(self.trials), self.searched, self.metric, self.direction).iloc[:0]
        return stats.summarize(self.trials, self.searched, self.metric, self.direction)

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        """Every configuration against the best one, paired by seed (see `sweeper.analysis.stats.compare_to_best`)."""
        from sweeper.analysis import stats

        return stats.compare_to_best(self.trials, self.summary, self.metric, self.direction)

    def planned(self) -> int | None:
        """Trials the study asks for: configurations x seeds (None when it cannot be told)."""
        configs = planned_configs(self.study)
        return None if configs is None else configs * len(self.study.get("seeds", []))


def _placeholder(trials: pd.DataFrame) -> pd.DataFrame:
    """One failed row in an empty table's columns, for tables whose columns follow the rows."""
    return trials.reindex([0]).assign(trial="", seed=0, status=pd.Categorical(["failed"], STATUSES))


def load(path_or_name: str | Path, results: str | Path = "results") -> Results:
    """Load a study's results: a results folder, a study name under `results`, or a study file."""
    return read_folder(find(path_or_name, results))


def find(path_or_name: str | Path, results: str | Path = "results") -> Path:
    """The results folder meant by a folder path, a study file (.py) or a study name."""
    path = Path(path_or_name)
    if path.is_dir() and (path / TRIALS).exists():
        return path
    if path.suffix == ".py":
        from sweeper.engine.studyfile import load_study

        path = Path(load_study(path).name)
    folder = Path(results) / path.name if len(path.parts) == 1 else path
    if not (folder / TRIALS).exists():
        known = ", ".join(p.name for p in list_studies(Path(results))) or "none"
        raise ResultsError(f"no results for '{path_or_name}' (looked for {folder / TRIALS}); "
                           f"studies under {results}/: {known}; run `sweep run STUDY.py` first or pass --results DIR")
    return folder


def list_studies(results: Path, include_aside: bool = False) -> list[Path]:
    """Results folders under `results`, by name; dry runs and set-aside folders only if asked."""
    if not results.is_dir():
        return []
    found = [p for p in sorted(results.iterdir()) if (p / TRIALS).exists()]
    return found if include_aside else [p for p in found if not ASIDE.search(p.name)]


def read_folder(folder: Path) -> Results:
    notes: list[str] = []
    try:
        study = read_snapshot(folder, notes)
        trials = read_trials(folder / TRIALS, notes)
        curves = read_curves(folder / CURVES, notes) if (folder / CURVES).exists() else read_curves(None)
    except (OSError, ValueError) as e:
        raise ResultsError(f"{folder}: cannot read the results ({e}); was it written by `sweep run`?") from None
    return Results(folder, study, trials, curves, notes)


def read_snapshot(folder: Path, notes: list[str] | None = None) -> dict[str, Any]:
    """study.json, or {} (and a note) if it is damaged. Reading results never runs the study.py
    beside it (it may come from anywhere); `sweep run` of the study rebuilds study.json."""
    path = folder / SNAPSHOT
    study = repair.read_snapshot(path)
    if study is None and path.exists() and notes is not None:
        notes.append(f"{path} is damaged, so the study's definition is unknown; `sweep run` of its study file rewrites it")
    return study or {}


def read_trials(path: Path, notes: list[str] | None = None) -> pd.DataFrame:
    table = repair.read_table(path, ("trial", "seed"))  # damaged rows are left out, and said so
    if table.damaged and notes is not None:
        notes.append(table.describe())
    if not table.header:  # an empty file: an empty study
        table.header = list(TRIAL_COLUMNS)
    raw = pd.DataFrame(table.rows, columns=table.header, dtype=str)
    missing = [c for c in TRIAL_COLUMNS if c not in raw]
    if missing:
        raise ResultsError(f"{path} lacks columns {missing[:3]}; it was not written by this version of sweeper")
    raw = raw[raw["status"] != ""]
    out = pd.DataFrame(index=range(len(raw)))
    for col in TRIAL_COLUMNS:
        values = raw[col].reset_index(drop=True)
        out[col] = _convert(col, values)
    return out


def _convert(col: str, values: pd.Series) -> Any:
    if col in ("trial", "error"):
        return values.astype(str)
    if col == "seed":
        return values.astype("int64")
    if col == "status":
        return pd.Categorical(values, categories=STATUSES)
    if col == "dataset":
        return values.astype("category")
    if col in hparams.HPARAMS:
        default = hparams.HPARAMS[col].default
        if isinstance(default, bool):
            return values.map({"True": True, "False": False}).astype(bool)
        if isinstance(default, int):
            return values.astype("int64")
        if isinstance(default, float):
            return values.astype("float64")
        known = list(CHOICES.get(col, ()))
        return pd.Categorical(values, categories=known + sorted(set(values) - set(known)))
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.round().astype("Int64") if col in COUNT_COLUMNS else numbers.astype("float64")


def read_curves(path: Path | None, notes: list[str] | None = None) -> pd.DataFrame:
    dtypes = {"trial": str, "seed": "int64", "epoch": "int64", "iteration": "int64",
              "split": pd.CategoricalDtype(SPLITS), "metric": pd.CategoricalDtype(CURVE_METRICS), "value": "float64"}
    if path is None:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})
    table = repair.read_table(path)
    if not table.damaged:
        return pd.read_csv(path, dtype=dtypes)[CURVE_COLUMNS] if table.rows else read_curves(None)
    if notes is not None:
        notes.append(table.describe())
    frame = pd.DataFrame(table.rows, columns=table.header)
    return frame.assign(value=pd.to_numeric(frame["value"], errors="coerce")).astype(dtypes)[CURVE_COLUMNS]


def planned_configs(study: dict[str, Any]) -> int | None:
    """Configurations a study asks for, from its snapshot: `planned_configs` where `sweep run`
    recorded it, else the grid's size worked out from the space's descriptions."""
    if "planned_configs" in study:
        return int(study["planned_configs"])
    if study.get("sampler", "grid") != "grid":
        return study.get("n_trials")
    sizes = []
    for text in study.get("space", {}).values():
        grid = re.fullmatch(r"intrange\((-?\d+), (-?\d+), step=(\d+)\)", text)
        try:
            sizes.append(len(range(int(grid[1]), int(grid[2]) + 1, int(grid[3]))) if grid else len(ast.literal_eval(text)))
        except (ValueError, SyntaxError, TypeError):
            return None
    return math.prod(sizes)


@dataclass
class Progress:
    """What `sweep ls` shows of a results folder, read without pandas."""

    folder: Path
    done: int  # rows in trials.csv: finished trials, whatever their status
    failed: int
    diverged: int
    planned: int | None
    dataset: str
    note: str  # "dry run" or "set aside by --restart" for folders beside a study's own


def progress(folder: Path) -> Progress:
    study = read_snapshot(folder)
    statuses = [r.get("status", "") for r in repair.read_table(folder / TRIALS, ("trial", "seed")).records()]
    configs = planned_configs(study)
    aside = ASIDE.search(folder.name)
    note = "" if not aside else "dry run" if aside[1] == "dry-run" else "set aside by --restart"
    return Progress(folder, len(statuses), statuses.count("failed"), statuses.count("diverged"),
                    None if configs is None else configs * len(study.get("seeds", [])),
                    str(study.get("dataset_used", "?")), note)
