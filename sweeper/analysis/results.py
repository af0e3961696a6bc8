"""A study's results folder as pandas DataFrames with proper dtypes: what `sweeper.load` gives.

    >>> r = sweeper.load("lr_momentum")          # or "results/lr_momentum", or "studies/lr_momentum.py"
    >>> r.trials.groupby(["learning_rate", "momentum"]).val_acc.mean()
    >>> r.summary.sort_values("rank").head()      # one row per configuration, mean and 95 % CI
    >>> r.comparisons                             # each configuration against the best one

The columns follow the study (see `storage/store.py`): the configuration's columns are typed
from their values (True/False as booleans, whole numbers as integers, numbers as floats,
anything else as a categorical in the order the study lists its choices), `status` is a
categorical, metrics are floats and counts integers (nullable where a failed trial has none),
`started` a UTC timestamp, `host`, `device` and `worker` text (empty in rows written before
they were recorded).
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

from sweeper.errors import ResultsError
from sweeper.metrics import COUNTS, KEPT, direction_of
from sweeper.storage import cache, repair
from sweeper.storage.store import (
    CURVE_COLUMNS,
    CURVES,
    KEY_COLUMNS,
    PRUNING,
    RACING,
    SNAPSHOT,
    TAIL_COLUMNS,
    TRIALS,
    column_groups,
    tail_start,
)

STATUSES = list(repair.STATUSES)  # pruned, promoted: see `schedules/pruning.py`
SPLITS = ["train", "val", "test"]
CURVE_METRICS = ["loss", "acc", "batch_loss", "lr"]
ASIDE = re.compile(r"\.(dry-run|old-\d{8}-\d{6})$")  # folders `sweep run` writes beside the real one


@dataclass
class Results:
    """One study's results: its definition (`study`, from study.json) and its tables."""

    folder: Path
    study: dict[str, Any]
    trials: pd.DataFrame
    _curves: pd.DataFrame | None = field(default=None, repr=False)  # read when first asked for (`curves`)
    notes: list[str] = field(default_factory=list)  # what could not be read and was left out

    def __repr__(self) -> str:  # the tables would fill a notebook's cell: a line, and `show()` for more
        from sweeper.analysis.show import short_repr

        return short_repr(self)

    def _repr_html_(self) -> str:
        from sweeper.analysis.show import repr_html

        return repr_html(self)

    def show(self, top: int = 10) -> None:
        """Print what `sweep show` prints: the best `top` configurations, mean [95% CI],
        difference to the best and verdict."""
        from sweeper.analysis.show import text

        print(text(self, top))

    @property
    def curves(self) -> pd.DataFrame:
        """curves.csv (see `read_curves`), read on first use: the largest file of a folder,
        and one that `sweep show` and the statistics never need."""
        if self._curves is None:
            path = self.folder / CURVES
            try:
                self._curves = read_curves(path, self.notes) if path.exists() else read_curves(None)
            except (OSError, ValueError) as e:
                raise ResultsError(f"{self.folder}: cannot read {CURVES} ({e}); was it written by `sweep run`?") from None
        return self._curves

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def metric(self) -> str:
        return str(self.study.get("metric", "val_acc"))

    @property
    def direction(self) -> str:
        return str(self.study.get("direction") or direction_of(self.metric))

    @property
    def searched(self) -> list[str]:
        """The searched hyperparameters, in the order the study lists them; for a define-by-run
        space or an objective (whose names are known from the rows only), the configuration
        columns that `fixed` does not set and that differ between rows or are empty in some (a
        conditional parameter), in trials.csv's order."""
        space = self.study.get("space") or {}
        if space or not (self.study.get("space_function") or self.study.get("objective")):
            return [n for n in space if n in self.trials]
        fixed, t = self.study.get("fixed") or {}, self.trials
        return [c for c in column_groups(list(t.columns))[0]
                if c not in fixed and (t[c].isna().any() or t[c].nunique(dropna=True) > 1)]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per configuration (see `sweeper.analysis.stats.summarize`); in a seed race
        also `race_seeds`, `race_state` (kept, dropped or racing), `race_round`, `race_reason`."""
        from sweeper.analysis import stats

        if self.trials.empty:  # no row yet (the first seconds of a run): the columns, with no row
            empty = _placeholder(self.trials).assign(**{self.metric: float("nan")})
            return stats.summarize(empty, self.searched, self.metric, self.direction).iloc[:0]
        summary = stats.summarize(with_kept_test(self.complete, self.kept_test), self.searched, self.metric,
                                  self.direction)
        if self.racing is None:
            return summary
        race = self.racing.set_index("trial")[["seeds", "state", "round", "reason"]].add_prefix("race_")
        return summary.join(race, on="trial")

    @cached_property
    def kept_test(self) -> pd.DataFrame:
        """Per (trial, seed): the test split's figures of its kept weights, those of its best
        epoch (`kept_test_acc`, `kept_test_loss`), read from curves.csv at `best_epoch` (the
        built-in loop evaluates the test split at the end of every epoch); trials.csv's
        `test_acc` is the last epoch's. The summary has them as `kept_test_acc_mean` and so on.
        Empty where the study has no test split or its curves no test rows at the best epoch."""
        if not any(c.startswith("test_") for c in self.trials.columns) or "best_epoch" not in self.trials:
            return pd.DataFrame(columns=["trial", "seed"])
        return kept_test(self.complete, self.curves)

    @property
    def complete(self) -> pd.DataFrame:
        """trials without pruning's `promoted` rows: the intermediate rungs of configurations
        whose full rows follow (`trials` keeps them, for the budget and the curves)."""
        return self.trials[self.trials["status"] != "promoted"]

    @cached_property
    def pruning(self) -> pd.DataFrame | None:
        """pruning.csv: each configuration's last rung and state (None: no pruning)."""
        return _decisions(self.folder / PRUNING, self.notes)

    @cached_property
    def racing(self) -> pd.DataFrame | None:
        """racing.csv: a seed race's decisions, one row per configuration (None: no race)."""
        return _decisions(self.folder / RACING, self.notes)

    def budget(self) -> tuple[int, int | None, str]:
        """Units of work spent and those of the full design (every planned configuration, every
        seed, every epoch), and what a unit is: (configuration, seed, epoch) where trials record
        their epochs, else (configuration, seed)."""
        planned = self.planned()
        t = self.trials
        prune = self.study.get("prune")
        if prune:  # every rung counts, the promoted ones too; the design is every configuration at the full budget
            name = prune["resource"]
            full = None if planned is None else planned * int(prune["full"])
            epochs = name == "epochs" and "epochs_run" in t and t["epochs_run"].notna().any()
            used = t["epochs_run"].astype("Float64") if epochs else pd.to_numeric(t[name], errors="coerce") \
                if name in t else pd.Series(1.0, index=t.index)
            unit = "(configuration, seed, epoch)" if epochs else f"(configuration, seed, {name})"
            if prune.get("continues"):  # a survivor went on from its rung: a (configuration, seed) spent its furthest
                same = [c for c in self.searched if c in t and c != name] or ["trial"]
                used = used.groupby([*(t[c].astype(str) for c in same), t["seed"]]).transform("max").where(
                    ~t.duplicated([*same, "seed"], keep="last"), 0)
            return int(used.fillna(0).sum()), full, unit
        if "epochs_run" in t and "epochs" in t and t["epochs_run"].notna().any():
            spent = int(t["epochs_run"].fillna(0).sum())
            per_config = t.drop_duplicates("trial")["epochs"].astype(float).mean()
            full = None if planned is None else int(round(planned * per_config))
            return spent, full, "(configuration, seed, epoch)"
        return len(t), planned, "(configuration, seed)"

    def budget_line(self) -> str:
        spent, full, unit = self.budget()
        share = f" ({spent / full:.0%})" if full else ""
        return f"spent {spent}{f' of {full}' if full else ''} {unit} units of the full design{share}"

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        """Every configuration against the best one, paired by seed (see `sweeper.analysis.stats.compare_to_best`)."""
        from sweeper.analysis import stats

        out = self._compared()
        pruned = self.summary.set_index("trial")["n_pruned"]
        hit = out["trial"].map(pruned).fillna(0).to_numpy() > 0
        if hit.any():  # stopped early: not comparable with complete configurations
            reasons = {} if self.pruning is None else self.pruning.set_index("rung_trial")["reason"].to_dict()
            out.loc[hit, "verdict"] = stats.PRUNED
            out.loc[hit, "seeds_needed"] = pd.NA
            out.loc[hit, "reason"] = [f"pruned {reasons.get(t, 'by its training loop')}"
                                      for t in out.loc[hit, "trial"]]
        if self.racing is not None:  # the race's own test, at its time, decided these: it stands
            dropped = self.racing.set_index("trial").query("state == 'dropped'")
            hit = out["trial"].isin(dropped.index)
            out.loc[hit, "verdict"] = stats.WORSE
            out.loc[hit, "seeds_needed"] = pd.NA
            out.loc[hit, "reason"] = [f"dropped by the seed race at {dropped.loc[t, 'seeds']} seeds, "
                                      f"{dropped.loc[t, 'reason']}" for t in out.loc[hit, "trial"]]
        return out

    def _compared(self) -> pd.DataFrame:
        """`stats.compare_to_best` of the complete rows, from the folder's cache where it was
        worked out from the same trials.csv and study.json by the same statistics (`sweeper.storage.cache`)."""
        from sweeper.analysis import stats

        trials, snapshot = self.folder / TRIALS, self.folder / SNAPSHOT
        wanted = cache.key(trials.read_bytes(), snapshot.read_bytes() if snapshot.is_file() else b"", self.metric,
                           self.direction, _statistics_version()) if trials.is_file() else None
        out = None if wanted is None else cache.read(self.folder, "comparisons", wanted)
        if out is None:
            out = stats.compare_to_best(self.complete, self.summary, self.metric, self.direction)
            if wanted is not None:
                cache.write(self.folder, "comparisons", wanted, out)
        return out

    @cached_property
    def variance(self) -> pd.DataFrame:
        """With Study(seeds=Crossed(...)): each configuration's seed-to-seed variance of the
        study's metric split into initialisation, data order and the rest, with 95 % intervals
        (see `sweeper.analysis.variance`); empty otherwise."""
        from sweeper.analysis import variance

        table = variance.components(self.complete, self.metric, self.study)
        labels = self.summary.set_index("trial")["label"] if len(table) else {}
        return table.assign(label=table["trial"].map(labels)) if len(table) else table.assign(label=[])

    def importance(self, method: str = "anova", n_boot: int | None = None, seed: int = 0) -> pd.DataFrame:
        """Which hyperparameters matter, against the seeds: each searched hyperparameter's
        share of the metric's variance over (configuration, seed) rows (a full grid's pairwise
        interactions too), the rest, and the seeds' share (split into initialisation and data
        order with crossed seeds), each with a 95 % bootstrap interval over configurations.
        Columns: source, share, ci_low, ci_high; `attrs["note"]` says what was left out.
        `method="fanova"` splits the configurations' variance with Optuna's fANOVA instead of
        group means. See `sweeper.analysis.importance` for what it assumes."""
        from sweeper.analysis.importance import importance

        return importance(self.complete, self.searched, self.metric, self.study, method, n_boot, seed)

    def model(self, rank: int = 1, seed: int | None = None, study: Any = None, which: str = "best") -> Any:
        """The trained `nn.Module` of the configuration at `rank` (1: the best) with the kept
        weights of `seed` (its first kept seed by default), at its best epoch (`which="last"`:
        its last, with Study(keep_last=True)). A study's own model is rebuilt from `study` (the
        Study, or its file), never from code in the results folder. See `sweeper.weights`."""
        from sweeper.storage import checkpoint

        if checkpoint.rebuild is None:
            raise ResultsError("no model builder is registered; import sweeper, not sweeper.analysis alone")
        return checkpoint.rebuild(self, rank, seed, study, which)

    def answer(self) -> str:
        """The study's answer in one sentence: the best configuration and how many others are
        within the noise or worse (`sweeper.analysis.answer`)."""
        from sweeper.analysis.answer import answer

        return answer(self.summary, self.comparisons, self.metric)

    def planned(self) -> int | None:
        """Trials the study asks for: configurations x seeds (None when it cannot be told)."""
        configs = planned_configs(self.study)
        return None if configs is None else configs * len(self.study.get("seeds", []))


def kept_test(trials: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """`Results.kept_test` from the tables: each ok row's test curve values at its best epoch."""
    test = curves[(curves["split"] == "test")].astype({"metric": str})
    at = trials.loc[trials["status"] == "ok", ["trial", "seed", "best_epoch"]].dropna()
    test = test.merge(at.astype({"best_epoch": "int64"}), on=["trial", "seed"])
    test = test[test["epoch"] == test["best_epoch"]].drop_duplicates(["trial", "seed", "metric"], keep="last")
    if test.empty:
        return pd.DataFrame(columns=["trial", "seed"])
    wide = test.pivot(index=["trial", "seed"], columns="metric", values="value")
    return wide.rename(columns=lambda m: f"{KEPT}{m}").reset_index().rename_axis(columns=None)


def with_kept_test(trials: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """trials with the kept weights' test columns joined in, just before `seconds` (where the
    summary looks for metrics)."""
    if kept.empty:
        return trials
    out = trials.merge(kept, on=["trial", "seed"], how="left")
    out.index = trials.index
    columns = list(trials.columns)
    at = columns.index("seconds") if "seconds" in columns else len(columns)
    new = [c for c in kept.columns if c not in ("trial", "seed")]
    return out[columns[:at] + new + columns[at:]]


def _decisions(path: Path, notes: list[str] | None = None) -> pd.DataFrame | None:
    """A table of decisions derived from trials.csv (racing.csv, pruning.csv), or None; one
    that is not sweeper's (damaged, or something else under its name) is left out, and said so."""
    if not path.exists():
        return None
    try:
        table = pd.read_csv(path, dtype={"trial": str, "label": str, "reason": str}, keep_default_na=False)
        if "trial" in table and "state" in table:
            return table
    except (ValueError, UnicodeDecodeError):
        pass
    if notes is not None:
        notes.append(f"{path} is not a table sweeper wrote, so it is left out; `sweep run` of the study writes it again")
    return None


def _placeholder(trials: pd.DataFrame) -> pd.DataFrame:
    """One failed row in an empty table's columns, for tables whose columns follow the rows."""
    return trials.reindex([0]).assign(trial="", seed=0, status=pd.Categorical(["failed"], STATUSES))


def load(path_or_name: str | Path, results: str | Path = "results") -> Results:
    """Load a study's results: a results folder or a study name under `results`."""
    return read_folder(find(path_or_name, results))


def find(path_or_name: str | Path, results: str | Path = "results") -> Path:
    """The results folder meant by a folder path or a study name (`sweeper.load` and the
    `sweep` commands turn a study file into its name first)."""
    path = Path(path_or_name)
    if path.is_dir() and (path / TRIALS).exists():
        return path
    folder = Path(results) / path.name if len(path.parts) == 1 else path
    fallbacks = sorted(folder.parent.glob(f"{folder.name}.fallback-*/{TRIALS}"))
    if not (folder / TRIALS).exists() and fallbacks:  # only the fallback dataset's results are there
        return fallbacks[0].parent
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
        trials = read_trials(folder / TRIALS, study, notes)
    except (OSError, ValueError) as e:
        raise ResultsError(f"{folder}: cannot read the results ({e}); was it written by `sweep run`?") from None
    if study.get("crossed") and len(trials):  # a seed names an (initialisation, data order) pair: both as columns
        pairs = trials["seed"].astype("int64")
        trials.insert(2, "init_seed", pairs // 1000)
        trials.insert(3, "order_seed", pairs % 1000)
    metric = str(study.get("metric", "val_acc"))
    if metric not in trials:  # no row has written it yet (an empty study, a user's loop not yet heard from)
        if len(trials) and (guess := _renamed(trials, metric)):
            notes.append(f"{folder / TRIALS} has no column `{metric}`, the study's metric, but has `{guess}`: "
                         f"was it renamed by hand? Rename it back to `{metric}` in the file's first line")
        trials[metric] = pd.Series(dtype="float64")
    return Results(folder, study, trials, None, notes)


def _renamed(trials: pd.DataFrame, metric: str) -> str | None:
    """The metric column that may be `metric` renamed: the closest name among the metrics' columns."""
    import difflib

    _, metrics = column_groups(list(trials.columns))
    close = difflib.get_close_matches(metric, metrics, n=1, cutoff=0.6)
    return close[0] if close else None


def read_snapshot(folder: Path, notes: list[str] | None = None) -> dict[str, Any]:
    """study.json, or {} (and a note) if it is damaged. Reading results never runs the study.py
    beside it (it may come from anywhere); `sweep run` of the study rebuilds study.json."""
    path = folder / SNAPSHOT
    study = repair.read_snapshot(path)
    if study is None and path.exists() and notes is not None:
        notes.append(f"{path} is damaged, so the study's definition is unknown; `sweep run` of its study file rewrites it")
    return study or {}


def read_trials(path: Path, study: dict[str, Any] | None = None, notes: list[str] | None = None) -> pd.DataFrame:
    table = repair.read_table(path, ("trial", "seed"))  # damaged rows are left out, and said so
    if table.damaged and notes is not None:
        notes.append(table.describe())
    header = table.header or [*KEY_COLUMNS, "dataset", *TAIL_COLUMNS]  # an empty file: an empty study
    raw = table.frame() if table.header else pd.DataFrame(columns=header, dtype=str)
    if tail_start(header) is None:
        raise ResultsError(f"{path} has columns {header[:4]}...; it was not written by sweeper")
    config, metrics = column_groups(header)
    raw = raw[raw["status"] != ""]
    out = pd.DataFrame(index=range(len(raw)))
    choices = _choices(study or {})
    for col in header:
        values = raw[col].reset_index(drop=True)
        if col in config:
            out[col] = _config_column(values, choices.get(col, []))
        elif col in metrics or col == "seconds":
            numbers = pd.to_numeric(values, errors="coerce")
            out[col] = numbers.round().astype("Int64") if col in COUNTS else numbers.astype("float64")
        else:
            out[col] = _convert(col, values)
    return out


def _convert(col: str, values: pd.Series) -> Any:
    if col == "seed":
        return values.astype("int64")
    if col == "started":  # UTC; empty in rows written before it was recorded
        return pd.to_datetime(values.replace("", None), utc=True, format="ISO8601")
    if col == "status":
        return pd.Categorical(values, categories=STATUSES)
    if col == "dataset":
        return values.astype("category")
    return values.astype(str)


_INT = re.compile(r"-?\d+")


def _config_column(values: pd.Series, order: list[str]) -> Any:
    """A hyperparameter's column typed from its values (empty where a row predates it)."""
    present = values[values != ""]
    if present.isin(["True", "False"]).all() and len(present):
        mapped = values.map({"True": True, "False": False, "": None})
        return mapped.astype(bool) if len(present) == len(values) else mapped.astype("boolean")
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and numbers.notna().all():
        full = pd.to_numeric(values.replace("", None), errors="coerce")
        whole = all(_INT.fullmatch(v) for v in present.unique())  # a few levels, however many rows
        return full.astype("int64" if len(present) == len(values) else "Int64") if whole else full.astype("float64")
    known = [v for v in order if v in set(present)]
    return pd.Categorical(values.replace("", None), categories=known + sorted(set(present) - set(known)))


def _choices(study: dict[str, Any]) -> dict[str, list[str]]:
    """The order in which the study lists each searched hyperparameter's choices, as strings."""
    out = {}
    for name, text in study.get("space", {}).items():
        try:
            values = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError):
            continue
        if isinstance(values, list):
            out[name] = [str(v) for v in values]
    return out


def read_curves(path: Path | None, notes: list[str] | None = None) -> pd.DataFrame:
    """curves.csv with `split` and `metric` as categoricals (train, val, test first; a user's
    own metric names after the built-in ones). Damaged rows are left out, and said so."""
    dtypes = {"trial": str, "seed": "int64", "epoch": "int64", "iteration": "int64", "split": str, "metric": str,
              "value": "float64"}
    if path is None:
        frame = pd.DataFrame({c: pd.Series(dtype=d) for c, d in dtypes.items()})
    else:
        table = repair.read_table(path)
        if table.damaged and notes is not None:
            notes.append(table.describe())
        if table.header and table.header != CURVE_COLUMNS:
            if notes is not None:
                notes.append(f"{path} has columns {table.header[:4]}... that sweeper does not write, so no curve is read")
            return read_curves(None)
        frame = (table.frame() if table.header else pd.DataFrame(columns=CURVE_COLUMNS))[CURVE_COLUMNS]
        frame = frame.assign(value=pd.to_numeric(frame["value"], errors="coerce"))
        frame = frame.astype({k: v for k, v in dtypes.items() if k not in ("split", "metric")})
    for col, first in (("split", SPLITS), ("metric", CURVE_METRICS)):
        present = set(frame[col].dropna())
        frame[col] = pd.Categorical(frame[col], categories=[c for c in first] + sorted(present - set(first)))
    return frame


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
    statuses = [r.get("status", "") for r in repair.read_table(folder / TRIALS, ("trial", "seed")).records()
                if r.get("status") != "promoted"]
    configs = planned_configs(study)
    aside = ASIDE.search(folder.name)
    note = "" if not aside else "dry run" if aside[1] == "dry-run" else "set aside by --restart"
    return Progress(folder, len(statuses), statuses.count("failed"), statuses.count("diverged"),
                    None if configs is None else configs * len(study.get("seeds", [])),
                    str(study.get("dataset_used", "?")), note)


def _statistics_version() -> str:
    """What a cached comparison was worked out by: the source of the statistics and of this
    reader (the rows' types), so that any change to them is a new version."""
    from sweeper.analysis import moderation, stats, stepdown

    return cache.key(*(Path(m).read_bytes() for m in (stats.__file__, stepdown.__file__, moderation.__file__, __file__) if m))
