"""Which hyperparameters matter, measured against the seeds: each searched hyperparameter's
share of the metric's variance over (configuration, seed) rows, beside the seeds' share.

A row's value is y = m(configuration) + e(seed), so its variance is the variance of the
configurations' true means (V_between) plus the seed-to-seed variance (sigma2). sigma2 is the
pooled variance within configurations; V_between is the variance of the configuration means
less what the seed noise adds to them (sigma2 times the mean of 1 / seeds). V_between is then
split by an ANOVA on the configuration means, by group means:

- a hyperparameter's main effect: the variance of its levels' means (each configuration
  weighted once), less what noise its degrees of freedom carry: on a full grid the seeds'
  noise alone (the other hyperparameters cancel from a level's mean); otherwise the
  within-level mean square (the seeds and the other hyperparameters: a one-way ANOVA's
  random-effect estimate);
- on a full grid (every combination present), each pair's interaction: the pair's cell means
  less both main effects, less the noise;
- `rest`: the rest of V_between (higher interactions; in a random design, the interactions
  and what the bins below do not resolve).

A numeric hyperparameter with more than `MAX_LEVELS` distinct values (random or Bayesian
search) is cut into quantile bins (on a log scale where the study's space is log), so its main
effect is the binned first-order Sobol index (the correlation ratio). An inactive
(conditional) hyperparameter's empty cells are a level of their own. With `method="fanova"`
the hyperparameters' split of V_between comes instead from Optuna's fANOVA
(`FanovaImportanceEvaluator`): a random forest fitted to the configuration means, each
hyperparameter's marginal variance over the others' values; slower (a forest per bootstrap).

Shares are of the whole row variance, seeds included (they sum to 1). With crossed seeds
(`Crossed(init, order)`) the seeds' share is split into initialisation, data order and the
rest in the proportions `sweeper.analysis.variance` estimates, averaged over configurations.
Failed and diverged seeds are left out (they have no value to decompose); `importance`
counts them in `DataFrame.attrs["note"]`. The 95 % intervals are percentile intervals of a
bootstrap over configurations (each resampled with all its seeds), moved by the bootstrap's
bias: they treat the
configurations as a sample from the search space, which is what a random search is and what
a grid approximates. `bench/importance_coverage.py` measures their coverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
BOOTSTRAP = 200  # resamples of the configurations (each a few milliseconds with the ANOVA)
MAX_LEVELS = 12  # more distinct values than this: cut into bins
MAX_BINS = 10
SEEDS = "seeds"
REST = "rest"
COLUMNS = ["source", "share", "ci_low", "ci_high"]
CROSSED = {"init": "seeds: initialisation", "order": "seeds: data order", "rest": "seeds: rest"}


@dataclass
class Design:
    """The configurations as the decomposition sees them: one row per configuration."""

    names: list[str]  # the searched hyperparameters, in the study's order
    codes: np.ndarray  # (configurations, hyperparameters): each one's level (or bin) as an integer
    values: pd.DataFrame  # each configuration's hyperparameters as recorded (for fANOVA)
    means: np.ndarray  # each configuration's mean over its successful seeds
    seeds: np.ndarray  # successful seeds per configuration
    ss: np.ndarray  # within-configuration sum of squares (0 for one seed)
    grid: bool  # a full grid of few levels: pairwise interactions can be told apart
    left_out: int  # failed and diverged seeds (and configurations with no successful seed)
    crossed: np.ndarray | None = None  # per configuration: the init, order, rest variances (crossed seeds)


def design(trials: pd.DataFrame, searched: list[str], metric: str, study: dict[str, Any]) -> Design:
    """The configurations of `trials` with their levels, means and seed sums of squares."""
    rows = trials[trials["status"] != "promoted"] if "status" in trials else trials
    values = pd.to_numeric(rows[metric], errors="coerce") if metric in rows else pd.Series(np.nan, index=rows.index)
    ok = rows[(rows["status"] == "ok") & np.isfinite(values.astype(float))]
    y = values[ok.index].astype(float)
    grouped = y.groupby(ok["trial"], sort=False)
    means, counts = grouped.mean(), grouped.count()
    ss = ((y - grouped.transform("mean")) ** 2).groupby(ok["trial"], sort=False).sum().reindex(means.index)
    first = ok.drop_duplicates("trial").set_index("trial").reindex(means.index)
    space = study.get("space", {})
    names = [n for n in searched if n in first]
    codes = np.column_stack([_levels(first[n], "log" in str(space.get(n, ""))) for n in names]) if names \
        else np.zeros((len(means), 0), dtype=int)
    few = all(first[n].nunique(dropna=False) <= MAX_LEVELS for n in names)
    combos = len({tuple(c) for c in codes}) if len(codes) else 0
    full = few and len(names) >= 2 and combos == int(np.prod([len(set(codes[:, j])) for j in range(len(names))]))
    return Design(names, codes, first[names], means.to_numpy(float), counts.to_numpy(float), ss.to_numpy(float),
                  full, len(rows) - len(ok), _crossed(trials, metric, study, list(means.index)))


def _levels(column: pd.Series, log: bool) -> np.ndarray:
    """Integer levels of one hyperparameter: its values, or quantile bins of many numbers;
    an empty cell (an inactive conditional hyperparameter) is a level of its own."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and column.nunique() > MAX_LEVELS:
        x = column.astype(float)
        x = np.log(x.where(x > 0)) if log and (x.dropna() > 0).all() else x
        bins = int(np.clip(np.sqrt(x.notna().sum()), 2, MAX_BINS))
        coded = pd.qcut(x.rank(method="first"), bins, labels=False)
        return coded.fillna(-1).to_numpy(int) + 1
    return pd.factorize(column.astype(object).where(column.notna(), "(inactive)"))[0]


def _crossed(trials: pd.DataFrame, metric: str, study: dict[str, Any], order: list[str]) -> np.ndarray | None:
    if not study.get("crossed"):
        return None
    from sweeper.analysis import variance

    split = variance.components(trials, metric, study)
    if split.empty:
        return None
    table = split.pivot_table(index="trial", columns="component", values="variance")
    return table.reindex(order)[list(variance.COMPONENTS)].to_numpy(float)


def shares(d: Design, pick: np.ndarray, method: str = "anova", seed: int = 0) -> dict[str, float]:
    """Each source's share of the row variance, over the configurations `pick` (indices)."""
    m, n, ss = d.means[pick], d.seeds[pick], d.ss[pick]
    df_within = float((n - 1).sum())
    sigma2 = float(ss.sum() / df_within) if df_within > 0 else 0.0
    noise = sigma2 * float(np.mean(1 / n))  # what the seeds add to a configuration's mean
    c = len(m)
    grand = m.mean()
    between = max(0.0, (float(((m - grand) ** 2).sum()) - (c - 1) * noise) / c)
    parts = _fanova(d, pick, between, seed) if method == "fanova" else _anova(d, pick, m, noise, grand)
    explained = sum(parts.values())
    parts[REST] = max(0.0, between - explained)
    total = max(between, explained) + sigma2
    out = {k: v / total if total > 0 else np.nan for k, v in parts.items()}
    seeds = sigma2 / total if total > 0 else np.nan
    if d.crossed is not None:
        split = np.nanmean(d.crossed[pick], axis=0)
        for (_, name), part in zip(CROSSED.items(), split / split.sum() if split.sum() > 0 else split, strict=True):
            out[name] = seeds * part
    else:
        out[SEEDS] = seeds
    return out


def _anova(d: Design, pick: np.ndarray, m: np.ndarray, noise: float, grand: float) -> dict[str, float]:
    """Main effects (and a full grid's pairwise interactions) by group means, less the noise."""
    c = len(m)
    codes = d.codes[pick]
    out: dict[str, float] = {}
    ss_main, df_main = [], []
    total = float(((m - grand) ** 2).sum())
    for j, name in enumerate(d.names):
        ss, df = _between(codes[:, j], m, grand)
        ss_main.append(ss)
        df_main.append(df)
        # on a grid the other hyperparameters cancel from a level's mean and only the seeds' noise is
        # left; in a random design they do not: the within-level mean square holds both (one-way ANOVA)
        error = noise if d.grid or c - df - 1 <= 0 else (total - ss) / (c - df - 1)
        out[name] = max(0.0, (ss - df * error) / c)
    if d.grid:
        for (a, b) in combinations(range(len(d.names)), 2):
            cell = codes[:, a] * (codes[:, b].max() + 1) + codes[:, b]
            ss, df = _between(cell, m, grand)
            ss_ab, df_ab = ss - ss_main[a] - ss_main[b], df - df_main[a] - df_main[b]
            out[f"{d.names[a]} x {d.names[b]}"] = max(0.0, (ss_ab - df_ab * noise) / c)
    return out


def _between(code: np.ndarray, m: np.ndarray, grand: float) -> tuple[float, int]:
    """The between-level sum of squares of `m` and its degrees of freedom."""
    counts = np.bincount(code)
    sums = np.bincount(code, weights=m)
    present = counts > 0
    level_means = sums[present] / counts[present]
    return float((counts[present] * (level_means - grand) ** 2).sum()), int(present.sum()) - 1


def _fanova(d: Design, pick: np.ndarray, between: float, seed: int) -> dict[str, float]:
    """Optuna's fANOVA on the configuration means: each hyperparameter's fraction of the
    forest's variance, as a part of `between`."""
    import warnings

    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    values = d.values.iloc[pick].reset_index(drop=True)
    dists: dict[str, BaseDistribution] = {}
    params: dict[str, list[Any]] = {}
    for j, name in enumerate(d.names):  # numbers as numbers; choices, and inactive cells, by their level
        column, codes = values[name], d.codes[pick, j]
        if pd.api.types.is_float_dtype(column) or pd.api.types.is_integer_dtype(column) and column.notna().all():
            if column.nunique() > 1 and column.notna().all():
                dists[name] = FloatDistribution(float(column.min()), float(column.max()))
                params[name] = column.astype(float).tolist()
                continue
        if len(set(codes)) > 1:
            dists[name] = CategoricalDistribution(sorted({int(c) for c in codes}))
            params[name] = [int(c) for c in codes]
    if not dists:
        return {}
    study = optuna.create_study()
    study.add_trials([optuna.trial.create_trial(params={k: v[i] for k, v in params.items()}, distributions=dists,
                                                value=float(d.means[pick][i])) for i in range(len(pick))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `normalize` is marked experimental
        fractions = get_param_importances(study, evaluator=FanovaImportanceEvaluator(n_trees=16, seed=seed),
                                          normalize=False)
    return {name: between * float(fractions.get(name, 0.0)) for name in d.names}


def importance(trials: pd.DataFrame, searched: list[str], metric: str, study: dict[str, Any],
               method: str = "anova", n_boot: int | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per source (each searched hyperparameter, a full grid's pairs, `rest`, the
    seeds): its share of the metric's variance and a 95 % bootstrap interval, largest first
    (the seeds last). `attrs["note"]` says what was left out and how it was computed."""
    if method not in ("anova", "fanova"):
        raise ValueError(f"importance(method={method!r}): the methods are 'anova' and 'fanova'")
    d = design(trials, searched, metric, study)
    if len(d.means) < 3 or (d.seeds > 1).sum() == 0:
        out = pd.DataFrame(columns=COLUMNS)
        out.attrs["note"] = "too few configurations with a result (3 are needed, some with 2 seeds or more)"
        return out
    everything = np.arange(len(d.means))
    point = shares(d, everything, method, seed)
    rng = np.random.default_rng(seed)
    boots = n_boot if n_boot is not None else BOOTSTRAP if method == "anova" else 20
    draws = pd.DataFrame([shares(d, rng.integers(0, len(d.means), len(d.means)), method, seed + 1 + b)
                          for b in range(boots)])
    out = pd.DataFrame({"source": list(point), "share": list(point.values())})
    bounds = [_interval(point[s], draws[s].to_numpy(float)) if s in draws else (np.nan, np.nan) for s in out["source"]]
    out["ci_low"], out["ci_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    seedy = out["source"].str.startswith(SEEDS)
    out = pd.concat([out[~seedy].sort_values("share", ascending=False, kind="stable"), out[seedy]], ignore_index=True)
    out.attrs["note"] = _note(d, method, boots)
    return out


def _interval(point: float, draws: np.ndarray) -> tuple[float, float]:
    """The bootstrap's percentile interval moved by its bias (the mean of the draws less the
    estimate): a resample repeats configurations, which pulls its shares towards each other,
    so the plain percentiles sit off-centre; cut to [0, 1], and from 0 where at least 2.5 % of
the resamples found none of that source."""
    draws = draws[np.isfinite(draws)]
    if not len(draws) or not np.isfinite(point):
        return np.nan, np.nan
    a = (1 - CONFIDENCE) / 2
    bias = float(draws.mean()) - point
    low, high = np.quantile(draws, [a, 1 - a]) - bias
    if np.mean(draws <= 0) >= a:  # the resamples often find none of it: the interval reaches 0
        low = 0.0
    return float(np.clip(low, 0, 1)), float(np.clip(high, 0, 1))


def _note(d: Design, method: str, boots: int) -> str:
    how = "Optuna's fANOVA on the configuration means" if method == "fanova" else \
        "an ANOVA by group means" + (" with pairwise interactions (a full grid)" if d.grid else "")
    left = f"; {d.left_out} failed or diverged seeds left out" if d.left_out else ""
    return f"{len(d.means)} configurations, {int(d.seeds.sum())} seeds; {how}; 95 % intervals from {boots} " \
           f"bootstrap resamples of the configurations{left}"


def line(table: pd.DataFrame, top: int = 3) -> str:
    """'learning_rate explains 61 % [48, 70], momentum 9 %, seeds 18 %' (the first with its interval)."""
    if table.empty:
        return ""
    hps = table[~table["source"].str.startswith(SEEDS) & (table["source"] != REST)].head(top)
    seeds = table[table["source"].str.startswith(SEEDS)]
    parts = []
    for i, r in enumerate(hps.itertuples()):
        ci = f" [{r.ci_low:.0%}, {r.ci_high:.0%}]".replace("%", "") if i == 0 else ""
        parts.append(f"{r.source}{' explains' if i == 0 else ''} {r.share:.0%}{ci}".replace("%", " %"))
    parts += [f"{r.source} {r.share:.0%}".replace("%", " %") for r in seeds.itertuples()]
    return ", ".join(parts)
