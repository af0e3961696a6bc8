"""`sweep report`: results/<study>/report/ with summary.csv, comparisons.csv, plots and index.html.

Which plots a study gets depends on what it searched: learning curves, every seed's final
metric and the train-versus-validation gap always; a heatmap when two numeric
hyperparameters were searched on a grid; a point-and-interval plot for each other searched
hyperparameter with few values; for random and Bayesian search the best-so-far history and
the metric against each hyperparameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sweeper.analysis import landscape, plots, report_data, stats
from sweeper.analysis.plots import Plot
from sweeper.analysis.report_html import render
from sweeper.analysis.results import Results
from sweeper.errors import ResultsError
from sweeper.metrics import direction_of, label_of, split_of

REPORT = "report"
SUMMARY_CSV = "summary.csv"
COMPARISONS_CSV = "comparisons.csv"
INDEX = "index.html"


@dataclass
class Report:
    folder: Path
    plots: list[Plot] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.folder / INDEX


def write_report(results: Results, folder: Path | None = None) -> Report:
    """Write the report of one study's results (by default into results/<study>/report/)."""
    if results.trials.empty:
        raise ResultsError(f"{results.folder}: no finished trials yet; run the study first, then `sweep report`")
    report = Report(folder or results.folder / REPORT)
    report.folder.mkdir(parents=True, exist_ok=True)
    for old in report.folder.glob("*.png"):  # plots of an earlier report that this one may not draw
        old.unlink()
    results.summary.to_csv(report.folder / SUMMARY_CSV, index=False)
    results.comparisons.to_csv(report.folder / COMPARISONS_CSV, index=False)
    if not results.variance.empty:
        results.variance.to_csv(report.folder / "variance.csv", index=False)
    report.plots = list(draw_all(results, report.folder))
    report.index.write_text(render(results, report.plots), encoding="utf-8")
    return report


def draw_all(results: Results, folder: Path) -> Iterator[Plot]:
    name, metric, summary = results.name, results.metric, results.summary
    label = plots.metric_label(metric, results.direction)
    shown = f"the best {report_data.MAX_ROWS} of {len(summary)} configurations" \
        if len(summary) > report_data.MAX_ROWS else "each configuration"
    yield from _curves(results, folder)
    yield from _glance(results, folder)
    axes = heatmap_axes(results)
    if axes:
        x, y = axes
        data = report_data.heatmap(summary, x, y, metric)
        others = [n for n in results.searched if n not in axes]
        extra = f" (best setting of {', '.join(others)} per cell)" if others else ""
        plots.heatmap(data, folder / "heatmap.png", x=x, y=y, label=label, maximize=results.direction == "maximize",
                      title=f"{name}: {label_of(metric)} by {x} and {y}{extra}")
        yield Plot("heatmap.png", f"Mean {label} for every {x} and {y}; each cell also gives the standard "
                                  f"deviation over seeds, so a difference can be judged against the spread.")
    plots.seed_strip(report_data.seed_values(results.trials, summary, metric), summary, folder / "seeds.png",
                     metric=metric, title=f"{name}: every seed's final {label_of(metric)}, {shown}")
    yield Plot("seeds.png", f"Every seed's final {label} for {shown}, best first, with the mean and its 95 % "
                            "interval; failed and diverged seeds are counted beside the name.")
    yield from _per_hyperparameter(results, folder, axes)
    kind = split_of(metric)[1]
    if {f"train_{kind}", f"val_{kind}"} <= set(results.trials.columns):
        gap = report_data.generalization_gap(results.trials, summary, kind)
        if gap["mean"].notna().any():
            plots.gap(gap, folder / "gap.png", kind=f"val_{kind}",
                      title=f"{name}: training versus validation {label_of(kind)}, {shown}")
            yield Plot("gap.png", f"Final training and validation {label_of(kind)} for {shown}, and the gap between "
                                  "them per seed: a large gap means the network fits its training images much better "
                                  "than unseen ones.")


def _glance(results: Results, folder: Path) -> Iterator[Plot]:
    """The pictures at a glance: importance against the seeds, parallel coordinates, a slice
    per hyperparameter and a contour of the two most important (`sweeper.analysis.landscape`)."""
    name, metric, summary, study = results.name, results.metric, results.summary, results.study
    label = plots.metric_label(metric, results.direction)
    table = results.importance()
    if not table.empty:
        plots.importance_bars(landscape.importance_bars(table), folder / "importance.png",
                              title=f"{name}: what the variance of {label_of(metric)} comes from")
        yield Plot("importance.png", f"Each searched hyperparameter's share of the variance of {label} over "
                                     f"configurations and seeds, beside the seeds' share (red), with 95 % intervals "
                                     f"({table.attrs['note']}).")
    data = landscape.parallel(summary, results.searched, metric, study)
    if data["axis"].nunique() > 1:
        plots.parallel(data, folder / "parallel.png", label=label, maximize=results.direction == "maximize",
                       title=f"{name}: every configuration, coloured by its mean {label_of(metric)}")
        yield Plot("parallel.png", f"Parallel coordinates: one line per configuration through its hyperparameters' "
                                   f"values to its mean {label} (colour too), with its seeds' 95 % interval as a "
                                   "grey bar; dashed red: a configuration that lost a seed (failed or diverged).")
    cuts = landscape.slices(summary, results.searched, metric, study)
    for hp, part in cuts.groupby("name", sort=False):
        plots.slice_plot(part, folder / f"slice_{hp}.png", name=str(hp), label=label,
                         title=f"{name}: {label_of(metric)} against {hp}")
        yield Plot(f"slice_{hp}.png", f"Each configuration's mean {label} over its seeds, with its 95 % interval, "
                                      f"against {hp}{' (log scale, as searched)' if part['log'].iloc[0] else ''}.")
    pair = landscape.contour_axes(table, summary) if not table.empty else None
    if pair:
        x, y = pair
        plots.contour(landscape.contour(summary, x, y, metric), folder / "contour.png", x=x, y=y, label=label,
                      log=(landscape.is_log(study, x), landscape.is_log(study, y)),
                      title=f"{name}: mean {label_of(metric)} over {x} and {y}")
        yield Plot("contour.png", f"Mean {label} over the two most important hyperparameters, {x} and {y}, "
                                  "interpolated between the configurations (dots) with the others at their values.")


def heatmap_axes(results: Results) -> tuple[str, str] | None:
    if results.study.get("sampler", "grid") != "grid":
        return None
    return report_data.heatmap_axes(results.trials, results.searched)


def _curves(results: Results, folder: Path) -> Iterator[Plot]:
    summary, best = results.summary, stats.best_trial(results.summary)
    n = min(len(summary), report_data.MAX_PANELS)
    which = "each configuration" if n == len(summary) else f"the best {n} of {len(summary)} configurations"
    own_split, own = split_of(results.metric)
    own_split = own_split or "val"  # curves.csv names a metric by its split and measure: val_f1 is (val, f1)
    drawn = [(own_split, own, f"curves_{own_split}_{own}.png")]
    if (own_split, own) != ("train", "loss"):
        drawn.append(("train", "batch_loss", "curves_train_loss.png"))
    for split, metric, file in drawn:  # the study's own metric, then the training loss
        data = report_data.learning_curves(results.curves, summary, split, metric)
        if data.empty and metric == "batch_loss":
            metric, data = "loss", report_data.learning_curves(results.curves, summary, split, "loss")
        if data.empty:
            continue
        what = label_of(f"{split}_{metric}")
        axis = report_data.curve_axis(data)
        widest = int(data["window"].max())
        smoothing = "" if widest <= 1 else (f", running mean over {widest} mini-batches" if data["window"].nunique() == 1
                                            else f", running mean over up to {widest} mini-batches (1/{report_data.SMOOTH_POINTS} of each run)")
        plots.curves(data, folder / file, ylabel=plots.metric_label(f"{split}_{metric}", direction_of(f"{split}_{metric}")
                                                  if f"{split}_{metric}" != results.metric else results.direction),
                     title=f"{results.name}: {what}{smoothing}, {which} (#rank)", best=best, x=axis,
                     xlabel=report_data.axis_label(axis, results.study))
        yield Plot(file, f"Learning curves of {what} for {which}, {_recorded(metric, axis)}: the mean over seeds with "
                         f"its 95 % band; the dashed line repeats the best configuration's mean for comparison{smoothing}.")


def _recorded(metric: str, axis: str) -> str:
    """How a curve was recorded, in words: a mini-batch's loss is not a whole split's."""
    if metric == "batch_loss":
        return "each mini-batch's loss"
    return "one value per epoch" if axis == "epoch" else "one value per evaluation"


def _per_hyperparameter(results: Results, folder: Path, heatmap: tuple[str, str] | None) -> Iterator[Plot]:
    name, metric, summary, trials = results.name, results.metric, results.summary, results.trials
    label = plots.metric_label(metric, results.direction)
    sampled = results.study.get("sampler", "grid") != "grid"
    if sampled:
        data = report_data.best_so_far(summary, metric, results.direction)
        plots.best_so_far(data, folder / "best_so_far.png", label=label,
                          title=f"{name}: {results.study.get('sampler')} search, best {label_of(metric)} so far")
        yield Plot("best_so_far.png", f"Each configuration's mean {label} in the order the search tried them, "
                                      "and the best mean found so far.")
    numeric = report_data.numeric_searched(trials, results.searched)
    for hp in results.searched:
        if heatmap and hp in heatmap:
            continue
        file = f"by_{hp}.png"
        if hp in numeric and (sampled or trials[hp].nunique() > report_data.MAX_LEVELS):  # a continuum
            log = "log" in str(results.study.get("space", {}).get(hp, ""))
            plots.metric_vs_value(report_data.metric_vs_value(summary, hp, metric), folder / file, name=hp,
                                  label=label, log=log, title=f"{name}: {label_of(metric)} against {hp}")
            yield Plot(file, f"Each configuration's mean {label} (with 95 % interval) against {hp}.")
        elif 2 <= trials[hp].nunique() <= report_data.MAX_LEVELS:
            data = report_data.choice_effects(trials, summary, hp, results.searched, metric)
            plots.choice_effects(data, folder / file, name=hp, label=label,
                                 title=f"{name}: {label_of(metric)} for each {hp}")
            yield Plot(file, f"Mean {label} with its 95 % interval for each value of {hp}.")
