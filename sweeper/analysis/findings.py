"""`sweep render`: a Markdown page whose numbers, tables and figures come from results.

A template is ordinary Markdown with directives in double braces, each replaced by what the
results folder says, so a page of findings can be regenerated after every re-run and never
quotes a stale number:

    {{about STUDY}}                       dataset, configurations x seeds, failures, training time
    {{table STUDY}}                       the ranked summary: mean [95% CI], difference to best, verdict
    {{mean STUDY name=value ...}}         one configuration's mean [95% CI] of the study's metric
    {{mean STUDY name=value metric=M}}    ... of another final metric (val_loss, best_epoch, train_acc, ...)
    {{diff STUDY name=value ...}}         its difference to the best [95% CI] and adjusted p-value
    {{verdict STUDY name=value ...}}      best / indistinguishable from the best / worse
    {{compare STUDY a=1 | a=2}}           two configurations paired by seed: difference [95% CI], p
    {{median STUDY}}                      the median over configurations of their mean metric
    {{share STUDY above=X}}               how many configurations have a mean metric above X (below=X too)
    {{variance STUDY}}                    crossed seeds: each configuration's spread split into init, order, rest
    {{part STUDY init|order|rest name=value ...}}   one part's share of a configuration's variance [and its sd]
    {{plot STUDY NAME}}                   a report figure (NAME.png), copied next to the page

Each study's report is written first (`sweep report`), so the figures exist and match.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sweeper.analysis.report import write_report
from sweeper.analysis.report_data import display_table
from sweeper.analysis.results import Results, find, read_folder
from sweeper.errors import SweeperError

DIRECTIVE = re.compile(r"\{\{\s*(\w+)\s+([^}]*?)\s*\}\}")
FIGURES = "figures"


class TemplateError(SweeperError):
    """A directive in a findings template cannot be filled."""


@dataclass
class Page:
    text: str
    studies: list[str]
    figures: list[Path]


def render(template: Path, out: Path, results_root: Path) -> Page:
    """Fill the template from the results under results_root and write it to `out`."""
    source = template.read_text(encoding="utf-8")
    loaded: dict[str, Results] = {}
    figures: list[Path] = []

    def results(name: str, where: str) -> Results:
        if name not in loaded:
            try:
                loaded[name] = read_folder(find(name, results_root))
            except SweeperError as e:
                raise TemplateError(f"{where}: {e}") from None
            write_report(loaded[name])
        return loaded[name]

    def fill(match: re.Match[str]) -> str:
        line = source.count("\n", 0, match.start()) + 1
        where = f"{template}:{line}"
        verb, args = match.group(1), match.group(2).split()
        if verb not in VERBS:
            raise TemplateError(f"{where}: unknown directive `{verb}`; known: {', '.join(VERBS)}")
        if not args:
            raise TemplateError(f"{where}: `{verb}` needs a study name")
        r = results(args[0], where)
        if verb == "plot":
            return _plot(r, args[1:], out, figures, where)
        return VERBS[verb](r, args[1:], where)

    text = DIRECTIVE.sub(fill, source)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return Page(text, list(loaded), figures)


def _about(r: Results, args: list[str], where: str) -> str:
    t = r.complete  # pruning's promoted rows are rungs of configurations counted once, by their own rows
    counts = t["status"].value_counts()
    pruned = f", {counts['pruned']} pruned" if counts.get("pruned", 0) else ""
    minutes = r.trials["seconds"].sum() / 60  # every rung trained
    configs, seeds = t["trial"].nunique(), t["seed"].nunique()
    datasets = ", ".join(sorted(t["dataset"].astype(str).unique()))
    return (f"{datasets}, {configs} configuration{'s' * (configs != 1)} × {seeds} seeds = {len(t)} trials "
            f"({counts.get('failed', 0)} failed, {counts.get('diverged', 0)} diverged"
            f"{pruned}), "
            f"{minutes:.1f} min of training")


def _table(r: Results, args: list[str], where: str) -> str:
    table = display_table(r.summary, r.comparisons, r.metric).drop(columns=["sd"])
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.values.tolist()]
    return "\n".join(lines)


def _row(r: Results, args: list[str], where: str) -> tuple[pd.Series, str]:
    """The summary row that the name=value filters pick, and the metric asked for."""
    filters = dict(a.split("=", 1) for a in args if "=" in a)
    metric = filters.pop("metric", r.metric)
    rows = r.summary
    for name, value in filters.items():
        if name not in rows:
            raise TemplateError(f"{where}: `{name}` is not searched in {r.name}; searched: {', '.join(r.searched)}")
        rows = rows[[_same(v, value) for v in rows[name]]]
    if len(rows) > 1 and set(filters) == {"rank"}:  # configurations tied on the mean share a rank: any one will do
        rows = rows.head(1)
    if len(rows) != 1:
        raise TemplateError(f"{where}: {' '.join(args) or 'no filter'} matches {len(rows)} configurations of "
                            f"{r.name}, not one; name every searched hyperparameter")
    if f"{metric}_mean" not in rows:
        raise TemplateError(f"{where}: no metric `{metric}` in {r.name}")
    return rows.iloc[0], metric


def _same(value: Any, text: str) -> bool:
    if str(value) == text:
        return True
    try:
        return math.isclose(float(value), float(text))
    except (TypeError, ValueError):
        return False


def _mean(r: Results, args: list[str], where: str) -> str:
    row, metric = _row(r, args, where)
    digits = 2 if metric in ("best_epoch", "epochs_run") else 3
    mean, low, high = (row[f"{metric}_{k}"] for k in ("mean", "ci_low", "ci_high"))
    if pd.isna(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _comparison(r: Results, args: list[str], where: str) -> pd.Series:
    row, _ = _row(r, args, where)
    return r.comparisons.set_index("trial").loc[row["trial"]]


def _diff(r: Results, args: list[str], where: str) -> str:
    c = _comparison(r, args, where)
    if pd.isna(c["difference"]) or c["difference"] == 0 and c["verdict"] == "best":
        return "the best configuration"
    return (f"{c['difference']:+.3f} [{c['diff_ci_low']:+.3f}, {c['diff_ci_high']:+.3f}] "
            f"(adjusted p = {c['p_adjusted']:.3f})")


def _compare(r: Results, args: list[str], where: str) -> str:
    """The first configuration minus the second, paired on their common seeds (one paired
    t-test, not adjusted: for a comparison the text singles out in advance)."""
    from sweeper.analysis.stats import paired_test

    if args.count("|") != 1:
        raise TemplateError(f"{where}: write {{{{compare STUDY a=1 | a=2}}}}: two configurations split by |")
    bar = args.index("|")
    (first, metric), (second, _) = _row(r, args[:bar], where), _row(r, args[bar + 1:], where)
    ok = r.trials[r.trials["status"] == "ok"]
    per_seed = ok.pivot_table(index="seed", columns="trial", values=metric, aggfunc="first")
    both = per_seed[[first["trial"], second["trial"]]].dropna()
    t = paired_test((both[first["trial"]] - both[second["trial"]]).to_numpy())
    return (f"{float(t['mean']):+.3f} [{float(t['ci_low']):+.3f}, {float(t['ci_high']):+.3f}] "
            f"(paired t-test over {len(both)} seeds, p = {float(t['p_value']):.3f})")


def _means(r: Results) -> pd.Series:
    return r.summary[f"{r.metric}_mean"].dropna()


def _median(r: Results, args: list[str], where: str) -> str:
    return f"{_means(r).median():.3f}"


def _share(r: Results, args: list[str], where: str) -> str:
    bounds = dict(a.split("=", 1) for a in args if "=" in a)
    if len(bounds) != 1 or not set(bounds) <= {"above", "below"}:
        raise TemplateError(f"{where}: write {{{{share STUDY above=0.9}}}} or below=...")
    (side, text), = bounds.items()
    means = _means(r)
    hits = (means > float(text)) if side == "above" else (means < float(text))
    return f"{int(hits.sum())} of {len(means)}"


def _verdict(r: Results, args: list[str], where: str) -> str:
    return str(_comparison(r, args, where)["verdict"])


def _plot(r: Results, args: list[str], out: Path, figures: list[Path], where: str) -> str:
    if len(args) != 1:
        raise TemplateError(f"{where}: write {{{{plot STUDY NAME}}}}, e.g. {{{{plot {r.name} seeds}}}}")
    source = r.folder / "report" / f"{args[0]}.png"
    if not source.exists():
        drawn = sorted(p.stem for p in source.parent.glob("*.png"))
        raise TemplateError(f"{where}: {r.name} has no plot `{args[0]}`; its report has: {', '.join(drawn)}")
    target = out.parent / FIGURES / f"{r.name}-{args[0]}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    figures.append(target)
    return f"![{r.name}: {args[0]}]({FIGURES}/{target.name})"


def _variance(r: Results, args: list[str], where: str) -> str:
    from sweeper.analysis.show import variance_lines

    lines = variance_lines(r, top=len(r.summary))
    if not lines:
        raise TemplateError(f"{where}: {r.name}'s seeds are not crossed: give it seeds=Crossed(init=..., order=...)")
    header, *rows = [re.split(r"\s{2,}", line) for line in lines[1:]]
    return "\n".join([f"| {' | '.join(header)} |", "|" + "---|" * len(header),
                      *(f"| {' | '.join(row)} |" for row in rows)])


def _part(r: Results, args: list[str], where: str) -> str:
    component = next((a for a in args if a in ("init", "order", "rest")), None)
    if component is None:
        raise TemplateError(f"{where}: name the part: init, order or rest")
    row, _ = _row(r, [a for a in args if a != component], where)
    split = r.variance
    parts = split[(split["trial"] == row["trial"]) & (split["component"] == component)]
    if parts.empty:
        raise TemplateError(f"{where}: no variance split for {row['label']} in {r.name} (seeds not crossed, or a pair lost)")
    p = parts.iloc[0]
    return f"{p['share']:.0%} (sd {p['sd']:.4f} [{p['ci_low'] ** 0.5:.4f}, {p['ci_high'] ** 0.5:.4f}])"


VERBS: dict[str, Callable[[Results, list[str], str], str]] = {
    "about": _about, "table": _table, "mean": _mean, "diff": _diff, "verdict": _verdict, "compare": _compare,
    "median": _median, "share": _share, "variance": _variance, "part": _part,
    "plot": lambda r, a, w: "",  # handled in render: it writes a file next to the page
}
