"""The data behind each plot of the report, as tidy DataFrames (drawn by `sweeper.analysis.plots`).

Each function takes the tables of `sweeper.analysis.results.Results` and the summary of
`sweeper.analysis.stats.summarize` and returns one row per point, band or cell the plot shows, so
what a picture claims can be tested without looking at pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sweeper.analysis import stats
from sweeper.analysis.stats import mean_ci
from sweeper.metrics import KEPT, range_of

MAX_PANELS = 12  # learning-curve panels: the best configurations, by rank
MAX_ROWS = 25  # configurations in the per-seed and gap plots
MAX_LEVELS = 12  # more distinct values than this: a continuous axis, not categories or heatmap cells
MAX_GROUPS = 6  # series in a point-and-interval plot before the other settings are pooled
SMOOTH_POINTS = 25  # mini-batch losses are averaged over windows of about iterations / SMOOTH_POINTS


def ranked(summary: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The best `limit` configurations, best first (unranked ones last)."""
    return summary.sort_values("rank", kind="stable", na_position="last").head(limit)


def learning_curves(curves: pd.DataFrame, summary: pd.DataFrame, split: str, metric: str,
                    limit: int = MAX_PANELS) -> pd.DataFrame:
    """Mean and 95 % band over seeds of one curve, per configuration, against iterations.

    Mini-batch losses (metric "batch_loss") are first smoothed per seed by a running mean, as
    a single mini-batch's loss is mostly noise. The band is cut to the values the metric can
    take (an accuracy's to [0, 1]). Columns: trial, label, rank, iteration, epoch, n (seeds
    with a value there), mean, ci_low, ci_high, window.
    """
    top = ranked(summary, limit)
    c = curves[(curves["split"] == split) & (curves["metric"] == metric) & curves["trial"].isin(top["trial"])]
    columns = ["trial", "label", "rank", "iteration", "epoch", "n", "mean", "ci_low", "ci_high", "window"]
    if c.empty:
        return pd.DataFrame(columns=columns)
    # each configuration's own window: a run of 32 steps must not vanish into a window sized for 1000
    last = c.groupby("trial")["iteration"].transform("max")
    window = (last / SMOOTH_POINTS).round().clip(lower=1).astype(int) if metric == "batch_loss" else last * 0 + 1
    c = c.assign(window=window).sort_values(["trial", "seed", "iteration"])
    if (c["window"] > 1).any():
        c = c.assign(value=c.groupby(["trial", "seed"], sort=False)["value"]
                     .transform(lambda v: v.rolling(int(c.loc[v.index, "window"].iloc[0]), min_periods=1).mean()))
        c = c[(c["iteration"] % c["window"] == 0) | (c["iteration"] == c.groupby("trial")["iteration"].transform("max"))]
    parts = []
    bounds = range_of(f"{split}_{metric}" if split else metric)
    for trial, g in c.groupby("trial", sort=False):
        grid = g.pivot_table(index=["iteration", "epoch"], columns="seed", values="value", observed=True)
        s = mean_ci(grid.to_numpy(float), bounds=bounds)
        part = grid.index.to_frame(index=False).assign(trial=trial, **s)
        parts.append(part)
    windows = c.groupby("trial")["window"].first()
    out = pd.concat(parts, ignore_index=True).merge(top[["trial", "label", "rank"]], on="trial")
    out["window"] = out["trial"].map(windows).astype(int)
    return out.sort_values(["rank", "iteration"], kind="stable")[columns].reset_index(drop=True)


def curve_axis(data: pd.DataFrame) -> str:
    """"epoch" when the curves of `learning_curves` have one point per epoch (evaluations at
    each epoch's end, a user's `log(epoch=...)`), else "iteration"."""
    if data.empty or (data["epoch"] <= 0).all():
        return "iteration"
    per_epoch = data.groupby(["trial", "epoch"])["iteration"].nunique()
    return "epoch" if per_epoch.max() == 1 else "iteration"


def axis_label(axis: str, study: dict[str, Any]) -> str:
    """The horizontal axis of a curve in words: a study's own loop counts its `log` calls."""
    if axis == "epoch":
        return "epoch"
    return "step (one per log call)" if study.get("trainer") == "function" else "iteration (mini-batch steps)"


def numeric_searched(trials: pd.DataFrame, searched: Sequence[str]) -> list[str]:
    """Searched hyperparameters with numbers for values (not booleans)."""
    return [n for n in searched if pd.api.types.is_numeric_dtype(trials[n]) and not pd.api.types.is_bool_dtype(trials[n])]


def heatmap_axes(trials: pd.DataFrame, searched: Sequence[str]) -> tuple[str, str] | None:
    """The first two numeric searched hyperparameters with 2..MAX_LEVELS values each, or None."""
    fit = [n for n in numeric_searched(trials, searched) if 2 <= trials[n].nunique() <= MAX_LEVELS]
    return (fit[0], fit[1]) if len(fit) >= 2 else None


def heatmap(summary: pd.DataFrame, x: str, y: str, metric: str) -> pd.DataFrame:
    """One row per (x, y) cell: the mean metric, its sd over seeds and seeds used. Where other
    searched hyperparameters vary, a cell shows its best configuration (`label` says which)."""
    best = summary.dropna(subset=[f"{metric}_mean"]).sort_values("rank", kind="stable").drop_duplicates([x, y])
    out = best[[x, y, "trial", "label", f"{metric}_mean", f"{metric}_sd", "n_ok", "n_failed", "n_diverged"]]
    out = out.rename(columns={f"{metric}_mean": "mean", f"{metric}_sd": "sd"})
    return out.sort_values([y, x]).reset_index(drop=True)


def seed_values(trials: pd.DataFrame, summary: pd.DataFrame, metric: str, limit: int = MAX_ROWS) -> pd.DataFrame:
    """Every successful seed's final metric, for the best `limit` configurations: trial,
    label, rank, seed, value."""
    top = ranked(summary, limit)[["trial", "label", "rank"]]
    ok = trials[(trials["status"] == "ok") & trials[metric].notna()][["trial", "seed", metric]]
    out = top.merge(ok.rename(columns={metric: "value"}), on="trial")
    return out.sort_values(["rank", "seed"], kind="stable").reset_index(drop=True)


def choice_effects(trials: pd.DataFrame, summary: pd.DataFrame, name: str, searched: Sequence[str],
                   metric: str) -> pd.DataFrame:
    """Mean and 95 % interval of the metric at each value of one searched hyperparameter.

    With few settings of the other searched hyperparameters, one series per setting (each
    point is one configuration); with many, every seed of every configuration at a value is
    pooled into one series. Columns: level, group, mean, ci_low, ci_high, n.
    """
    others = [o for o in searched if o != name]
    groups = summary[others].drop_duplicates() if others else pd.DataFrame(index=[0])
    if len(groups) <= MAX_GROUPS:
        out = pd.DataFrame({"level": summary[name].to_numpy(),
                            "group": [" ".join(f"{o}={r[o]}" for o in others) for _, r in summary.iterrows()]
                            if others else "", "mean": summary[f"{metric}_mean"].to_numpy(),
                            "ci_low": summary[f"{metric}_ci_low"].to_numpy(),
                            "ci_high": summary[f"{metric}_ci_high"].to_numpy(), "n": summary["n_ok"].to_numpy()})
    else:
        ok = trials[(trials["status"] == "ok") & trials[metric].notna()]
        rows = []
        for level, g in ok.groupby(name, sort=True, observed=True):
            s = mean_ci(g[metric].to_numpy(float))
            rows.append({"level": level, "group": f"pooled over {len(groups)} settings of the others",
                         **{k: float(v) for k, v in s.items() if k != "se" and k != "sd"}})
        out = pd.DataFrame(rows, columns=["level", "group", "mean", "ci_low", "ci_high", "n"])
    return out.dropna(subset=["mean"]).reset_index(drop=True)


def best_so_far(summary: pd.DataFrame, metric: str, direction: str) -> pd.DataFrame:
    """For random and Bayesian search: each configuration's mean in the order tried (first
    appearance in trials.csv) and the best mean so far. Columns: order, trial, label, mean,
    best_so_far."""
    mean = summary[f"{metric}_mean"].astype(float)
    filled = mean.fillna(-np.inf if direction == "maximize" else np.inf)
    best = filled.cummax() if direction == "maximize" else filled.cummin()
    return pd.DataFrame({"order": np.arange(1, len(summary) + 1), "trial": summary["trial"], "label": summary["label"],
                         "mean": mean, "best_so_far": best.replace([np.inf, -np.inf], np.nan)})


def metric_vs_value(summary: pd.DataFrame, name: str, metric: str) -> pd.DataFrame:
    """Each configuration's mean and 95 % interval against one hyperparameter's value."""
    out = summary[[name, f"{metric}_mean", f"{metric}_ci_low", f"{metric}_ci_high", "rank"]]
    out = out.rename(columns={name: "value", f"{metric}_mean": "mean", f"{metric}_ci_low": "ci_low",
                              f"{metric}_ci_high": "ci_high"})
    return out.dropna(subset=["mean"]).sort_values("value").reset_index(drop=True)


def generalization_gap(trials: pd.DataFrame, summary: pd.DataFrame, kind: str = "acc",
                       limit: int = MAX_ROWS) -> pd.DataFrame:
    """Final training and validation metric, and their gap (training - validation, paired by
    seed), with 95 % intervals, for the best `limit` configurations.
    Columns: trial, label, rank, quantity (train/val/gap), mean, ci_low, ci_high, n."""
    top = ranked(summary, limit)[["trial", "label", "rank"]]
    ok = trials[(trials["status"] == "ok")].dropna(subset=[f"train_{kind}", f"val_{kind}"])
    rows: list[dict[str, Any]] = []
    for r in top.itertuples():
        g = ok[ok["trial"] == r.trial]
        for quantity, values in (("train", g[f"train_{kind}"]), ("val", g[f"val_{kind}"]),
                                 ("gap", g[f"train_{kind}"] - g[f"val_{kind}"])):
            s = mean_ci(values.to_numpy(float))
            rows.append({"trial": r.trial, "label": r.label, "rank": r.rank, "quantity": quantity,
                         **{k: float(s[k]) for k in ("mean", "ci_low", "ci_high", "n")}})
    return pd.DataFrame(rows, columns=["trial", "label", "rank", "quantity", "mean", "ci_low", "ci_high", "n"])


def display_table(summary: pd.DataFrame, comparisons: pd.DataFrame, metric: str, limit: int | None = None) -> pd.DataFrame:
    """The summary table people read (in index.html and `sweep show`), best first, as text.
    A study with a test split also gets the test counterpart of its metric (`test_acc` for
    `val_acc`), never used to rank: it is the number to report once the choice is made. It is
    the kept weights' (the best epoch's, what `sweep test` gives) where the curves have it,
    else the last epoch's (trials.csv's row), and its header says which. `limit`: the best
    that many rows only (all by default)."""
    test, when = test_shown(summary, metric)
    # rows as dicts of the columns shown: `iterrows` and a `.loc` per row took a second at 4,000 configurations
    shown = ["trial", "rank", "label", "n_ok", "n_failed", "n_diverged", "race_state", "race_seeds", "race_round",
             *(f"{m}_{s}" for m in (metric, test) if m for s in ("mean", "ci_low", "ci_high", "sd"))]
    top = ranked(summary, len(summary) if limit is None else limit)
    c = {k["trial"]: k for k in _records(comparisons[comparisons["trial"].isin(top["trial"])],
                                         ["trial", "difference", "diff_ci_low", "diff_ci_high", "p_adjusted",
                                          "verdict", "reason", "seeds_needed"])}
    rows = []
    for r in _records(top, shown):
        k = c[r["trial"]]
        rows.append({
            "rank": "" if pd.isna(r["rank"]) else str(r["rank"]),
            "configuration": r["label"],
            "seeds ok/failed/diverged": f"{r['n_ok']}/{r['n_failed']}/{r['n_diverged']}",
            f"{metric} mean [95% CI]": _interval(r[f"{metric}_mean"], r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]),
            "sd": _num(r[f"{metric}_sd"]),
            **({f"{test_name(test)} {when}, mean [95% CI]": _interval(r[f"{test}_mean"], r[f"{test}_ci_low"],
                                                                         r[f"{test}_ci_high"])} if test else {}),
            "difference to best [95% CI]": _interval(k["difference"], k["diff_ci_low"], k["diff_ci_high"], sign=True),
            "p (adjusted)": "" if pd.isna(k["p_adjusted"]) else f"{k['p_adjusted']:.3f}",
            "verdict": verdict_words(k),
            "why": k.get("reason", ""),
            "seeds needed": "" if pd.isna(k["seeds_needed"]) else str(k["seeds_needed"]),
            **({"race": _race(r)} if "race_state" in summary else {}),
        })
    return pd.DataFrame(rows)


def _records(table: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The rows of `table` as dicts of those of `columns` it has."""
    return table[[c for c in dict.fromkeys(columns) if c in table]].to_dict("records")


def test_shown(summary: pd.DataFrame, metric: str) -> tuple[str | None, str]:
    """The test figure shown beside a configuration, and its epoch in words: the kept weights'
    (`kept_test_acc`, "at best epoch (kept weights)") where the summary has it, else the last
    epoch's (`test_acc`, "at last epoch"); (None, "") without a test split."""
    test = test_counterpart(summary, metric)
    if test is None:
        return None, ""
    kept = KEPT + test.removeprefix("test_")
    if f"{kept}_mean" in summary and summary[f"{kept}_mean"].notna().any():
        return kept, "at best epoch (kept weights)"
    return test, "at last epoch"


def test_name(column: str) -> str:
    """'test_acc' for both the last epoch's and the kept weights' column (the header says which)."""
    return "test_" + column.removeprefix(KEPT).removeprefix("test_")


def verdict_words(k: Any) -> str:
    """A comparison's verdict as the table shows it: comparisons.csv's value, and for "not
    separated yet" the seeds that would likely tell ("not separated yet: about 4 seeds would tell")."""
    if k["verdict"] == stats.UNSEPARATED and not pd.isna(k["seeds_needed"]):
        return f"{stats.UNSEPARATED}: about {k['seeds_needed']} seeds would tell"
    return str(k["verdict"])


def test_counterpart(summary: pd.DataFrame, metric: str) -> str | None:
    """`test_acc` for `val_acc` (the test split's value of the study's measure) where the
    summary has it with at least one value, else None."""
    measure = metric.split("_", 1)[1] if metric.split("_", 1)[0] in ("train", "val", "test", "best") else metric
    test = f"test_{measure.removeprefix('val_')}"
    if test == metric or f"{test}_mean" not in summary or summary[f"{test}_mean"].isna().all():
        return None
    return test


def _race(r: Any) -> str:
    """A configuration's seed race in words: 'dropped at 6 seeds (round 2)' (`why` says why)."""
    if pd.isna(r["race_state"]):
        return ""
    return f"{r['race_state']} at {r['race_seeds']} seeds (round {r['race_round']})"


def _num(x: Any, sign: bool = False) -> str:
    return "" if pd.isna(x) else f"{x:+.4f}" if sign else f"{x:.4f}"


def _interval(mean: Any, low: Any, high: Any, sign: bool = False) -> str:
    if pd.isna(mean):
        return ""
    return _num(mean, sign) + ("" if pd.isna(low) else f" [{_num(low, sign)}, {_num(high, sign)}]")
