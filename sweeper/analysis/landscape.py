"""The data behind the pictures of a sweep at a glance, as tidy DataFrames (drawn by
`sweeper.analysis.plots` in the report and by the live page's script): importance bars with
the seeds beside them, parallel coordinates of the configurations, one slice per
hyperparameter and a contour of the two that matter most.

Positions on a parallel-coordinates axis run from 0 to 1: numbers by value (by log value
where the study's space is log), choices in the study's order; an inactive (conditional)
hyperparameter's empty cell sits below the axis, at `INACTIVE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sweeper.analysis.importance import REST, SEEDS

INACTIVE = -0.08  # where an inactive hyperparameter's configurations cross its axis
PARALLEL_COLUMNS = ["trial", "rank", "axis", "value", "position", "mean", "ci_low", "ci_high", "n_ok", "n_lost"]


def is_log(study: dict[str, Any], name: str) -> bool:
    """Whether the study's space (study.json) samples `name` on a log scale."""
    return "log" in str(study.get("space", {}).get(name, ""))


def importance_bars(table: pd.DataFrame) -> pd.DataFrame:
    """`Results.importance()` with a `kind` per bar (hyperparameter, interaction, rest, seeds),
    in the order drawn: the hyperparameters by share, then the rest, then the seeds."""
    kind = np.select([table["source"].str.startswith(SEEDS), table["source"] == REST,
                      table["source"].str.contains(" x ", regex=False)], ["seeds", "rest", "interaction"],
                     "hyperparameter")
    out = table.assign(kind=kind)
    order = {"hyperparameter": 0, "interaction": 1, "rest": 2, "seeds": 3}
    return out.sort_values(["kind", "share"], key=lambda c: c.map(order) if c.name == "kind" else -c,
                           kind="stable").reset_index(drop=True)


def positions(column: pd.Series, log: bool) -> tuple[np.ndarray, list[str]]:
    """Each value's place on its axis (0 to 1; `INACTIVE` for an empty cell) and the values as text."""
    text = [("(inactive)" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v)) for v in column]
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric:
        x = column.astype(float).to_numpy()
        if log and (x[np.isfinite(x)] > 0).all():
            x = np.log10(x)
        low, high = np.nanmin(x) if np.isfinite(x).any() else 0, np.nanmax(x) if np.isfinite(x).any() else 1
        pos = (x - low) / (high - low) if high > low else np.full(len(x), 0.5)
    else:
        levels = list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype) \
            else sorted({str(v) for v in column.dropna()})
        index = {str(v): i for i, v in enumerate(levels)}
        pos = np.array([index.get(str(v), np.nan) / max(1, len(levels) - 1) if not pd.isna(v) else np.nan
                        for v in column], dtype=float)
    return np.where(np.isnan(pos), INACTIVE, pos), text


def parallel(summary: pd.DataFrame, searched: Sequence[str], metric: str, study: dict[str, Any]) -> pd.DataFrame:
    """One row per (configuration, axis): each searched hyperparameter that varies, then the
    metric (its mean; `ci_low`, `ci_high` on the same 0-1 scale show the seeds' spread).
    `n_lost` counts the configuration's failed and diverged seeds; a configuration with no
    successful seed sits at the metric axis' foot (`mean` NaN)."""
    s = summary.reset_index(drop=True)
    varied = [n for n in searched if n in s and s[n].nunique(dropna=False) > 1]
    mean, low, high = (s[f"{metric}_{k}"].astype(float).to_numpy() for k in ("mean", "ci_low", "ci_high"))
    finite = mean[np.isfinite(mean)]
    bottom, top = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
    span = top - bottom or 1.0
    lost = (s.get("n_failed", 0) + s.get("n_diverged", 0)).to_numpy(int) if len(s) else np.zeros(0, int)
    common = {"trial": s["trial"], "rank": s["rank"], "mean": mean, "ci_low": low, "ci_high": high,
              "n_ok": s["n_ok"], "n_lost": lost}
    parts = []
    for name in varied:
        pos, text = positions(s[name], is_log(study, name))
        parts.append(pd.DataFrame({**common, "axis": name, "value": text, "position": pos}))
    metric_pos = np.where(np.isfinite(mean), (mean - bottom) / span, 0.0)
    parts.append(pd.DataFrame({**common, "axis": metric, "value": [f"{m:.4g}" for m in mean], "position": metric_pos,
                               "ci_low": np.clip((low - bottom) / span, -0.1, 1.1),
                               "ci_high": np.clip((high - bottom) / span, -0.1, 1.1)}))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PARALLEL_COLUMNS)
    return out[PARALLEL_COLUMNS]


def slices(summary: pd.DataFrame, searched: Sequence[str], metric: str, study: dict[str, Any]) -> pd.DataFrame:
    """One row per (hyperparameter, configuration with a result): the hyperparameter's value
    (`x`, a number; choices by their place in the study's order, `value` as text), the
    configuration's seed mean and 95 % interval, its rank and whether the axis is log."""
    parts = []
    s = summary.dropna(subset=[f"{metric}_mean"])
    for name in searched:
        if name not in s or s[name].nunique(dropna=False) < 2:
            continue
        column = s[name]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        x = column.astype(float).to_numpy() if numeric else positions(column, False)[0]
        log = numeric and is_log(study, name) and bool((x[np.isfinite(x)] > 0).all())
        parts.append(pd.DataFrame({"name": name, "trial": s["trial"], "x": x, "value": positions(column, False)[1],
                                   "numeric": numeric, "log": log, "mean": s[f"{metric}_mean"],
                                   "ci_low": s[f"{metric}_ci_low"], "ci_high": s[f"{metric}_ci_high"],
                                   "rank": s["rank"]}))
    columns = ["name", "trial", "x", "value", "numeric", "log", "mean", "ci_low", "ci_high", "rank"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def contour_axes(table: pd.DataFrame, summary: pd.DataFrame) -> tuple[str, str] | None:
    """The two most important hyperparameters with numbers for values (by `Results.importance()`), or None."""
    numeric = [n for n in table["source"] if n in summary and pd.api.types.is_numeric_dtype(summary[n])
               and not pd.api.types.is_bool_dtype(summary[n]) and summary[n].nunique() > 1]
    return (numeric[0], numeric[1]) if len(numeric) >= 2 else None


def contour(summary: pd.DataFrame, x: str, y: str, metric: str) -> pd.DataFrame:
    """Each configuration with a result: its x, y and seed mean (columns x, y, mean, rank)."""
    s = summary.dropna(subset=[f"{metric}_mean", x, y])
    return pd.DataFrame({"x": s[x].astype(float), "y": s[y].astype(float), "mean": s[f"{metric}_mean"],
                         "rank": s["rank"]}).reset_index(drop=True)
