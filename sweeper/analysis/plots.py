"""Drawing the report's plots: thin matplotlib functions over the tidy data of `report_data`.

Figures are drawn on matplotlib's Agg canvas directly, without pyplot, so making a report
never opens a window nor changes the backend of a notebook that imports this. Every PNG
carries its own title, axis labels with units and legend, so it can be read alone.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from sweeper.metrics import label_of, split_of


@dataclass
class Plot:
    """A drawn plot as the report lists it."""

    file: str  # name of the PNG in the report folder
    caption: str  # what it shows, for the HTML page


DPI = 110
BAND = "95 % interval over seeds"
UNITS = {"hidden_size": "units per hidden layer", "batch_size": "images per mini-batch", "num_layers": "hidden layers",
         "epochs": "passes over the training set", "patience": "epochs"}


def hparam_label(name: str, log: bool = False) -> str:
    """'hidden size (units per hidden layer)'; the scale is said when logarithmic."""
    notes = [n for n in (UNITS.get(name), "log scale" if log else None) if n]
    return name.replace("_", " ") + (f" ({', '.join(notes)})" if notes else "")


MEASURE_UNITS = {"acc": "fraction correct"}


def metric_label(metric: str, direction: str | None = None) -> str:
    """'validation accuracy (fraction correct, higher is better)', 'validation F1'."""
    notes = [n for n in (MEASURE_UNITS.get(split_of(metric)[1]),
                         direction and ("higher is better" if direction == "maximize" else "lower is better")) if n]
    return label_of(metric) + (f" ({', '.join(notes)})" if notes else "")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def _wrap(text: str, width: int = 36) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def curves(data: pd.DataFrame, path: Path, *, ylabel: str, title: str, best: str | None, x: str = "iteration",
           xlabel: str = "iteration (mini-batch steps)") -> Path:
    """Small multiples: one panel per configuration, mean line with its band over seeds, and
    the best configuration's mean as a dashed reference in every panel; `x` is the column of
    `data` along the horizontal axis (iteration or epoch), whole numbers only."""
    trials = list(dict.fromkeys(data["trial"]))
    cols = min(4, len(trials))
    rows = math.ceil(len(trials) / cols)
    fig = _figure(3.2 * cols + 0.6, 2.5 * rows + 1.2)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    reference = data[data["trial"] == best]
    for ax, trial in zip(axes, trials, strict=False):  # more axes than panels
        d = data[data["trial"] == trial]
        if best is not None and trial != best:
            ax.plot(reference[x], reference["mean"], "--", color="0.55", lw=1.2, label="best configuration (mean)")
        ax.fill_between(d[x], d["ci_low"], d["ci_high"], color="C0", alpha=0.25, lw=0, label=BAND)
        ax.plot(d[x], d["mean"], color="C0", lw=1.8, marker="o" if len(d) <= 20 else None, ms=4,
                label="mean over seeds")
        r = d["rank"].iloc[0]
        ax.set_title(_wrap(f"#{r} {d['label'].iloc[0]}" if pd.notna(r) else d["label"].iloc[0]), fontsize=9)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for i, ax in enumerate(axes):
        ax.set_visible(i < len(trials))
        if i < len(trials) and i + cols >= len(trials):  # the lowest panel of its column
            ax.set_xlabel(xlabel)
            ax.xaxis.set_tick_params(labelbottom=True)
    fig.supylabel(ylabel)
    fig.suptitle(title)
    handles, labels = axes[min(1, len(trials) - 1)].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    return _save(fig, path)


def heatmap(data: pd.DataFrame, path: Path, *, x: str, y: str, label: str, title: str, maximize: bool) -> Path:
    """Mean metric per cell, colour-coded, each cell annotated with mean and +- sd over seeds;
    the best cell outlined."""
    xs, ys = sorted(data[x].unique()), sorted(data[y].unique())
    grid = np.full((len(ys), len(xs)), np.nan)
    sd = np.full_like(grid, np.nan)
    for r in data.itertuples():
        i, j = ys.index(getattr(r, y)), xs.index(getattr(r, x))
        grid[i, j], sd[i, j] = r.mean, r.sd
    fig = _figure(max(5.0, 1.25 * len(xs) + 2.8), max(3.8, 0.85 * len(ys) + 2.0))
    ax = fig.subplots()
    if not np.isfinite(grid).any():  # every trial failed or diverged: nothing to colour, but say so
        ax.text(0.5, 0.5, "no configuration has a result\n(every trial failed or diverged)", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title, fontsize=10)
        return _save(fig, path)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", aspect="auto", origin="lower")
    fig.colorbar(image, ax=ax, label=f"mean {label}")
    low, high = np.nanmin(grid), np.nanmax(grid)
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isnan(grid[i, j]):
                ax.text(j, i, "no\nresults", ha="center", va="center", fontsize=8, color="0.4")
                continue
            light = (grid[i, j] - low) / (high - low or 1) > 0.6
            spread = f"\n±{sd[i, j]:.3f}" if np.isfinite(sd[i, j]) else ""
            ax.text(j, i, f"{grid[i, j]:.3f}{spread}", ha="center", va="center", fontsize=9,
                    color="black" if light else "white")
    best = np.unravel_index(np.nanargmax(grid) if maximize else np.nanargmin(grid), grid.shape)
    ax.add_patch(Rectangle((best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, edgecolor="red", lw=2.5))
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set_xlabel(hparam_label(x))
    ax.set_ylabel(hparam_label(y))
    ax.set_title(f"{title}\ncell: mean over seeds ± standard deviation over seeds; best outlined in red", fontsize=10)
    return _save(fig, path)


def seed_strip(data: pd.DataFrame, summary: pd.DataFrame, path: Path, *, metric: str, title: str) -> Path:
    """One row per configuration (best on top): every seed as a dot, the mean and its 95 % interval."""
    rows = summary.set_index("trial").loc[list(dict.fromkeys(data["trial"]))]
    fig = _figure(8.5, 0.38 * len(rows) + 1.9)
    ax = fig.subplots()
    position = {t: len(rows) - 1 - i for i, t in enumerate(rows.index)}
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(data))
    ax.scatter(data["value"], data["trial"].map(position).astype(float) + jitter, s=18, color="C0", alpha=0.7,
               label="one seed")
    y = [position[t] for t in rows.index]
    ax.errorbar(rows[f"{metric}_mean"], y, xerr=[rows[f"{metric}_mean"] - rows[f"{metric}_ci_low"],
                rows[f"{metric}_ci_high"] - rows[f"{metric}_mean"]], fmt="D", color="black", ms=5,
                capsize=3, lw=1.2, label="mean and 95 % interval")
    ticks = [f"#{r['rank']} {r['label']}" + _lost(r) for _, r in rows.iterrows()]
    ax.set_yticks(y, ticks, fontsize=8)
    ax.set_xlabel(f"final {metric_label(metric)}")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def _lost(row: Any) -> str:
    parts = [f"{row[c]} {c[2:]}" for c in ("n_failed", "n_diverged") if row[c]]
    return f" ({', '.join(parts)})" if parts else ""


def choice_effects(data: pd.DataFrame, path: Path, *, name: str, label: str, title: str) -> Path:
    """Point and 95 % interval per value of one hyperparameter, a series per setting of the others."""
    levels = list(dict.fromkeys(data["level"]))
    groups = list(dict.fromkeys(data["group"]))
    fig = _figure(max(5.5, 1.1 * len(levels) + 3.0) + (3.0 if len(groups) > 1 else 0), 4.4)
    ax = fig.subplots()
    width = 0.6 / max(1, len(groups))
    for k, group in enumerate(groups):
        d = data[data["group"] == group]
        xs = np.array([levels.index(v) for v in d["level"]]) + (k - (len(groups) - 1) / 2) * width
        ax.errorbar(xs, d["mean"], yerr=[d["mean"] - d["ci_low"], d["ci_high"] - d["mean"]], fmt="o", capsize=4,
                    ms=6, label=group or "mean and 95 % interval over seeds")
    ax.set_xticks(range(len(levels)), [str(v) for v in levels])
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.set_xlabel(hparam_label(name))
    ax.set_ylabel(f"mean {label}")
    ax.set_title(f"{title}\npoints: mean over seeds; bars: 95 % interval", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if groups == [""]:
        ax.legend(fontsize=8, loc="best")
    else:
        fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="outside right upper", title="other settings")
    return _save(fig, path)


def best_so_far(data: pd.DataFrame, path: Path, *, label: str, title: str) -> Path:
    fig = _figure(7.5, 4.2)
    ax = fig.subplots()
    ax.scatter(data["order"], data["mean"], s=22, color="C0", alpha=0.7, label="configuration (mean over seeds)")
    ax.step(data["order"], data["best_so_far"], where="post", color="C3", lw=2, label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("configuration number (in the order tried)")
    ax.set_ylabel(f"mean {label}")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def metric_vs_value(data: pd.DataFrame, path: Path, *, name: str, label: str, title: str, log: bool) -> Path:
    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    ax.errorbar(data["value"], data["mean"], yerr=[data["mean"] - data["ci_low"], data["ci_high"] - data["mean"]],
                fmt="o", ms=5, capsize=2, alpha=0.8, label="configuration: mean and 95 % interval")
    log = log and bool(data["mean"].notna().any() and (data["value"] > 0).all())  # else matplotlib refuses:
    _finish_means(ax, data, "value", name=name, log=log, label=label, title=title)  # nothing to log-scale
    return _save(fig, path)


def _finish_means(ax: Any, data: pd.DataFrame, x: str, *, name: str, log: bool, label: str, title: str) -> None:
    """What the plots of configuration means against one hyperparameter share: the best ringed,
    a log axis where asked, the labels, grid and legend."""
    top = data[data["rank"] == 1]
    ax.scatter(top[x], top["mean"], s=120, facecolors="none", edgecolors="C3", lw=2, label="best configuration")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(hparam_label(name, log))
    ax.set_ylabel(f"mean {label}")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def gap(data: pd.DataFrame, path: Path, *, kind: str, title: str) -> Path:
    """Per configuration (best on top): left, the final training and validation metric with
    95 % intervals; right, their gap (paired by seed) with its 95 % interval, on its own scale."""
    trials = list(dict.fromkeys(data["trial"]))
    fig = _figure(10.5, 0.38 * len(trials) + 2.1)
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[2, 1])
    ys = np.arange(len(trials))[::-1]
    wide = data.pivot(index="trial", columns="quantity", values=["mean", "ci_low", "ci_high"]).loc[trials]
    left.hlines(ys, wide[("mean", "val")], wide[("mean", "train")], color="0.75", lw=3)
    for ax, quantity, color, name in ((left, "train", "C1", "training"), (left, "val", "C0", "validation"),
                                      (right, "gap", "C3", "training - validation")):
        m = wide[("mean", quantity)]
        ax.errorbar(m, ys, xerr=[m - wide[("ci_low", quantity)], wide[("ci_high", quantity)] - m], fmt="o",
                    color=color, capsize=3, label=f"{name}: mean, 95 % interval")
        ax.grid(axis="x", alpha=0.3)
    right.axvline(0, color="0.4", lw=1)
    handles = [h for ax in (left, right) for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    labels = data.drop_duplicates("trial").set_index("trial").loc[trials]
    left.set_yticks(ys, [f"#{r['rank']} {r['label']}" for _, r in labels.iterrows()], fontsize=8)
    unit = MEASURE_UNITS.get(split_of(kind)[1])
    unit = f"\n({unit})" if unit else ""
    left.set_xlabel(f"final {label_of(split_of(kind)[1])} on training and validation images{unit}")
    right.set_xlabel(f"gap = training - validation{unit}")
    fig.suptitle(f"{title}\na large gap means the network fits its training images better than unseen ones",
                 fontsize=10)
    return _save(fig, path)


KIND_COLOURS = {"hyperparameter": "C0", "interaction": "C9", "rest": "0.6", "seeds": "C3"}


def importance_bars(data: pd.DataFrame, path: Path, *, title: str) -> Path:
    """One horizontal bar per source (`landscape.importance_bars`) with its 95 % interval; the
    seeds' bar in red beside the hyperparameters', so their effect is read against the noise."""
    fig = _figure(6.5, 0.4 * len(data) + 1.6)
    ax = fig.subplots()
    ys = np.arange(len(data))[::-1]
    share = data["share"].to_numpy(float) * 100
    err = [share - data["ci_low"].to_numpy(float) * 100, data["ci_high"].to_numpy(float) * 100 - share]
    ax.barh(ys, share, color=[KIND_COLOURS[k] for k in data["kind"]], xerr=np.clip(err, 0, None), capsize=3)
    for y, v, high in zip(ys, share, data["ci_high"].to_numpy(float) * 100, strict=True):
        ax.text(max(v, high if np.isfinite(high) else v) + 1.5, y, f"{v:.0f} %", va="center", fontsize=8)
    ax.set_yticks(ys, data["source"])
    ax.set_xlabel("share of the variance over configurations and seeds (%), 95 % interval")
    ax.set_xlim(0, 105)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def parallel(data: pd.DataFrame, path: Path, *, label: str, title: str, maximize: bool) -> Path:
    """Parallel coordinates (`landscape.parallel`): a line per configuration, coloured by its
    mean; at the metric's axis a bar for its seeds' 95 % interval; configurations that lost a
    seed (failed, diverged) dashed red, marked x."""
    from matplotlib import colormaps

    axes = list(dict.fromkeys(data["axis"]))
    fig = _figure(max(6.5, 1.5 * len(axes) + 1.5), 4.6)
    ax = fig.subplots()
    wide = data.pivot(index="trial", columns="axis", values="position")[axes]
    facts = data.drop_duplicates("trial").set_index("trial").loc[wide.index]
    shade = wide[axes[-1]].to_numpy(float)
    cmap = colormaps["viridis" if maximize else "viridis_r"]
    order = np.argsort(shade if maximize else -shade)  # the best drawn last, on top
    xs = np.arange(len(axes))
    for i in order:
        lost = facts["n_lost"].iloc[i] > 0
        ax.plot(xs, wide.iloc[i].to_numpy(float), color="C3" if lost else cmap(shade[i]), lw=0.8 if not lost else 1,
                ls="--" if lost else "-", alpha=0.55)
    metric_rows = data[data["axis"] == axes[-1]]
    ax.vlines(np.full(len(metric_rows), xs[-1]), metric_rows["ci_low"], metric_rows["ci_high"], color="0.3", lw=3,
              alpha=0.25)
    bad = metric_rows[metric_rows["n_lost"] > 0]
    ax.scatter(np.full(len(bad), xs[-1]), bad["position"], marker="x", color="C3", zorder=3,
               label="lost a seed (failed or diverged)")
    for j, name in enumerate(axes):  # each axis labelled at its ends with the values found there
        rows = data[data["axis"] == name].sort_values("position")
        shown = rows[rows["position"] >= 0]
        for _, r in (shown.iloc[[0, -1]].iterrows() if len(shown) else []):
            ax.text(j, r["position"], f" {r['value']}", fontsize=7, va="center")
        if (rows["position"] < 0).any():
            ax.text(j, rows["position"].min(), " (inactive)", fontsize=7, va="center", color="0.4")
    ax.set_xticks(xs, [_wrap(a, 14) for a in axes[:-1]] + [_wrap(f"mean {label}", 18)], fontsize=8)
    ax.set_yticks([])
    ax.vlines(xs, -0.1, 1.1, color="0.5", lw=0.8)
    ax.set_title(title, fontsize=10)
    if len(bad):
        ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def slice_plot(data: pd.DataFrame, path: Path, *, name: str, label: str, title: str) -> Path:
    """The metric against one hyperparameter (`landscape.slices` of `name`): each
    configuration's seed mean with its 95 % interval; choices as categories; log where the space is."""
    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    err = [data["mean"] - data["ci_low"], data["ci_high"] - data["mean"]]
    ax.errorbar(data["x"], data["mean"], yerr=np.clip(np.nan_to_num(np.array(err, dtype=float)), 0, None), fmt="o",
                ms=4, capsize=2, alpha=0.6, label="configuration: mean over seeds and 95 % interval")
    if len(data) and not bool(data["numeric"].iloc[0]):
        ticks = data.drop_duplicates("x").sort_values("x")
        ax.set_xticks(ticks["x"], ticks["value"])
    _finish_means(ax, data, "x", name=name, log=bool(data["log"].iloc[0]) if len(data) else False, label=label,
                  title=title)
    return _save(fig, path)


def contour(data: pd.DataFrame, path: Path, *, x: str, y: str, label: str, title: str, log: tuple[bool, bool]) -> Path:
    """The metric's configuration means over the two most important hyperparameters
    (`landscape.contour`): filled contours interpolated between the configurations (dots)."""
    fig = _figure(6.5, 5.0)
    ax = fig.subplots()
    xs, ys = (np.log10(data[c]) if lg else data[c] for c, lg in ((("x"), log[0]), ("y", log[1])))
    if len(data) >= 4 and xs.nunique() > 1 and ys.nunique() > 1:
        filled = ax.tricontourf(xs, ys, data["mean"], levels=12, cmap="viridis")
        fig.colorbar(filled, ax=ax, label=f"mean {label}")
    ax.scatter(xs, ys, s=8, color="k", alpha=0.5, label="configuration")
    best = data[data["rank"] == 1]
    ax.scatter(np.log10(best["x"]) if log[0] else best["x"], np.log10(best["y"]) if log[1] else best["y"], s=120,
               facecolors="none", edgecolors="C3", lw=2, label="best configuration")
    ax.set_xlabel(hparam_label(x) + (" (log10)" if log[0] else ""))
    ax.set_ylabel(hparam_label(y) + (" (log10)" if log[1] else ""))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)
