"""Across-seed summaries and comparisons: is a configuration really worse than the best one?

Every configuration of a study is trained with the same seeds, so two configurations can be
compared seed by seed. The summary gives each configuration's mean over its successful
seeds with a t-based 95 % confidence interval, cut to the values the metric can take (an
accuracy's interval stays within [0, 1]) and left out below MIN_SEEDS seeds, where it would
be too wide to say anything. The comparison pairs each configuration with
the best one on the seeds both finished and tests the mean paired difference with a paired
t-test. The p-values are adjusted by a Holm-type step-down, for the number of comparisons
and for the best having been picked from the same data (which makes it look better than it
is; see `sweeper.analysis.stepdown`), and decide the verdict: "worse", or "too few common
seeds" below MIN_SEEDS, or, where the adjusted p-value does not reach ALPHA, "not separated
yet" when the comparison's own 95 % interval excludes 0 (more seeds would likely tell) and
"indistinguishable from the best" when it does not (the words never contradict the interval
shown beside them).
Where no difference is found, it estimates how many seeds a paired t-test would need to find
the observed difference with 80 % power, if that difference is real.

Failed and diverged seeds are left out of every mean but counted (n_failed, n_diverged),
and they count against the configuration in its rank: the one rule for the best
configuration (`sweeper.metrics.best`, which the progress line, the kept weights and seed
racing use too) counts a lost seed as the worst value the metric can take (0 accuracy), and
where the metric has none (a loss) ranks the configuration after every one that lost no
seed. So an unstable configuration is never the best on the mean of the seeds it survived.
A seed stopped by pruning (`pruned`) counts against it the same way; `sweeper.load` leaves
pruning's `promoted` rows (intermediate rungs) out of the summary.

The core functions work on the last axis of arrays (NaN for a failed seed), so the tests
can check the error rates on thousands of synthetic studies at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from sweeper.analysis import moderation
from sweeper.analysis.stepdown import ALPHA, MIN_SEEDS, differences, stepdown, worse_t
from sweeper.metrics import COUNTS, range_of, ranks, record, short, split_of, worst

__all__ = ["ALPHA", "MIN_SEEDS", "stepdown", "worse_t", "mean_ci", "paired_test", "summarize", "compare_to_best"]

CONFIDENCE = 0.95
POWER = 0.80  # power aimed at when estimating the seeds needed
MODERATED_INTERVALS = 8  # fewest configurations whose variances moderate their intervals: with fewer,
# the prior is too uncertain to lean on without the step-down's simulation (coverage 93-94 % at 3-5)
MAX_SEEDS = 10_000  # seeds_needed is capped here (an effect this small is not worth seeds)
SUMMARISED_COUNTS = ("best_epoch",)  # of the bookkeeping counts, the one worth a mean
WORSE, SAME, BEST, UNTESTED = "worse", "indistinguishable from the best", "best", "too few common seeds"
UNSEPARATED = "not separated yet"  # not worse after the adjustment, though its own interval excludes 0
UNDECIDED = (SAME, UNSEPARATED)  # the step-down did not call these worse
PRUNED = "pruned"  # stopped at a rung (sweeper.schedules.pruning): not compared as if complete


# -- core: vectorised over leading axes ---------------------------------------------------
def mean_ci(values: np.ndarray, confidence: float = CONFIDENCE, bounds: tuple[float, float] = (-np.inf, np.inf),
            min_n: int = 2) -> dict[str, np.ndarray]:
    """n, mean, sd, se and the t-based confidence interval of the mean along the last axis,
    NaN (a failed seed) left out. The interval is cut to `bounds` (the values can be no
    further out, so neither can their mean) and NaN with fewer than `min_n` values; with
    fewer than two values sd and se are NaN too."""
    values = np.asarray(values, dtype=float)
    have = ~np.isnan(values)
    n = have.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(have, values, 0.0).sum(axis=-1) / n
        sd = np.sqrt(np.square(np.where(have, values - mean[..., None], 0.0)).sum(axis=-1) / (n - 1))
        sd = np.where(n > 1, sd, np.nan)
        se = sd / np.sqrt(n)
        half = np.where(n >= min_n, st.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * se, np.nan)
    low, high = np.clip(mean - half, *bounds), np.clip(mean + half, *bounds)
    return {"n": n, "mean": mean, "sd": sd, "se": se, "ci_low": low, "ci_high": high}


def paired_test(diffs: np.ndarray, confidence: float = CONFIDENCE,
                bounds: tuple[float, float] = (-np.inf, np.inf)) -> dict[str, np.ndarray]:
    """Paired t-test of per-seed differences along the last axis: the mean difference, its
    confidence interval (cut to `bounds`), the two-sided p-value and the effect size dz = mean / sd."""
    diffs = np.asarray(diffs, dtype=float)
    out = mean_ci(diffs, confidence, bounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = st.ttest_1samp(diffs, 0.0, axis=-1)
        out["p_value"] = np.where(out["sd"] == 0, np.where(out["mean"] == 0, 1.0, 0.0), res.pvalue)
        out["effect_size"] = out["mean"] / out["sd"]
    return out


def power_paired(effect_size: float | np.ndarray, n: np.ndarray, alpha: float = ALPHA,
                 prior_df: float | np.ndarray = 0.0) -> np.ndarray:
    """Power of a two-sided paired t-test with n pairs when the true effect is effect_size;
    `prior_df`: degrees of freedom a moderated variance adds (`sweeper.analysis.moderation`)."""
    n = np.asarray(n, dtype=float)
    df = n - 1 + prior_df
    crit = st.t.ppf(1 - alpha / 2, df)
    shift = abs(effect_size) * np.sqrt(n)
    below = st.nct.cdf(-crit, df, shift)  # the wrong side's share: scipy gives NaN where it underflows
    return st.nct.sf(crit, df, shift) + np.where(np.isnan(below), 0.0, below)


def seeds_needed(effect_size: float, alpha: float = ALPHA, power: float = POWER, prior_df: float = 0.0) -> float:
    """The fewest seeds for which a paired t-test (moderated: `prior_df`) finds a true effect
    of effect_size with the given power; NaN for no effect, MAX_SEEDS when even that many would not do."""
    return float(seeds_needed_each(np.array([effect_size]), alpha, power, np.array([prior_df]))[0])


def seeds_needed_each(effect_sizes: np.ndarray, alpha: float = ALPHA, power: float = POWER,
                      prior_dfs: np.ndarray | None = None) -> np.ndarray:
    """`seeds_needed` of each effect size (with its prior_df), in one pass over every seed
    count tried: one call of the distributions rather than one per comparison."""
    effect = np.asarray(effect_sizes, dtype=float)
    prior = np.zeros(effect.shape) if prior_dfs is None else np.asarray(prior_dfs, dtype=float)
    out = np.full(effect.shape, np.nan)
    some = np.isfinite(effect) & (effect != 0)
    if not some.any():
        return out
    z = st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power)
    guess = np.ceil((z / np.abs(effect[some])) ** 2)  # the normal approximation, a little low
    counts = (np.minimum(MAX_SEEDS, 2 * guess + 10) - 1).astype(int)  # seed counts 2, 3, ... tried per effect
    starts = np.cumsum(counts) - counts
    which = np.repeat(np.arange(len(counts)), counts)
    n = np.arange(counts.sum()) - starts[which] + 2
    enough = power_paired(effect[some][which], n, alpha, prior[some][which]) >= power
    out[some] = np.minimum.reduceat(np.where(enough, n, MAX_SEEDS), starts)
    return out


def moderated_ci(values: np.ndarray, confidence: float = CONFIDENCE, bounds: tuple[float, float] = (-np.inf, np.inf),
                 min_n: int = 2) -> dict[str, np.ndarray]:
    """mean_ci of each row of values (configurations x seeds), with se and the interval from
    the variances moderated across the rows (`sweeper.analysis.moderation`; from
    MODERATED_INTERVALS rows on), and their degrees of freedom (`df`); sd stays each row's own."""
    out = mean_ci(values, confidence, bounds, min_n)
    n = out["n"]
    df = np.maximum(n - 1, 0).astype(float)
    s2, prior_df = moderation.squeeze(np.where(n > 1, np.square(out["sd"]), np.nan), df)
    few = (n > 1).sum(axis=-1, keepdims=True) < MODERATED_INTERVALS  # each interval on its own seeds
    s2, prior_df = np.where(few, np.square(out["sd"]), s2), np.where(few, 0.0, prior_df)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(s2 / n)
        half = np.where(n >= min_n, st.t.ppf(0.5 + confidence / 2, np.maximum(df + prior_df, 1)) * se, np.nan)
    return out | {"se": se, "ci_low": np.clip(out["mean"] - half, *bounds), "ci_high": np.clip(out["mean"] + half, *bounds),
                  "df": df + prior_df}


# -- tables --------------------------------------------------------------------------------
def config_order(trials: pd.DataFrame) -> list[str]:
    """Configuration ids in the order they first appear in trials.csv (the order proposed)."""
    return list(dict.fromkeys(trials["trial"].tolist()))  # a list first: iterating a string column is slow


def _ok_values(trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    ok = trials[(trials["status"] == "ok") & np.isfinite(trials[metric].astype(float))]
    return ok[["trial", "seed", metric]]


def describe_seeds(trials: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Tidy: one row per (configuration, metric) with n, mean, sd, se, ci_low, ci_high, min,
    max over the configuration's successful seeds."""
    order = config_order(trials)
    ok = trials[trials["status"] == "ok"].drop_duplicates(["trial", "seed"], keep="last")
    if ok.empty:
        ok = trials.head(1).assign(**{m: np.nan for m in metrics})  # one all-NaN cell: n = 0 everywhere
    wide = ok.set_index(["trial", "seed"])[list(metrics)].astype(float).unstack("seed").reindex(order)
    parts = []
    for metric in metrics:
        grid = wide[metric].to_numpy(float)
        with np.errstate(all="ignore"):
            extremes = {"min": np.fmin.reduce(grid, axis=1), "max": np.fmax.reduce(grid, axis=1)}
        summary = moderated_ci(grid, bounds=range_of(metric), min_n=MIN_SEEDS)
        summary.pop("df")
        parts.append(pd.DataFrame({"trial": order, "metric": metric, **summary, **extremes}))
    return pd.concat(parts, ignore_index=True).astype({"n": int})


def present_metrics(trials: pd.DataFrame) -> list[str]:
    """The final metrics that hold a value in at least one successful row: the numeric
    columns between `dataset` and `seconds` of trials.csv (a study's own metrics too),
    bookkeeping counts other than SUMMARISED_COUNTS left out."""
    columns = list(trials.columns)
    if "dataset" in columns and "seconds" in columns:
        columns = columns[columns.index("dataset") + 1:columns.index("seconds")]
    else:  # not a trials.csv: the columns named like metrics (train_, val_, test_)
        columns = [c for c in columns if split_of(c)[0] is not None]
    ok = trials[trials["status"] == "ok"]
    return [m for m in columns if (m not in COUNTS or m in SUMMARISED_COUNTS) and pd.api.types.is_numeric_dtype(ok[m])
            and ok[m].astype(float).notna().any()]


def summarize(trials: pd.DataFrame, searched: Sequence[str], metric: str, direction: str) -> pd.DataFrame:
    """One row per configuration, in order of first appearance: its searched hyperparameters,
    seed counts, rank by the study's metric (1 = best) and, for every final metric present,
    `<metric>_mean/_sd/_se/_ci_low/_ci_high/_min/_max`."""
    order = config_order(trials)
    first = trials.drop_duplicates("trial").set_index("trial").loc[order]
    counts = trials.groupby(["trial", trials["status"].astype(str)]).size().unstack(fill_value=0).reindex(order)
    records = first[list(searched)].to_dict("records")  # one dict each: 4,000 .loc rows took half a second
    out = pd.DataFrame({"trial": order, "label": [label(r, searched) or t for t, r in zip(order, records, strict=True)]})
    for name in searched:
        out[name] = first[name].to_numpy()
    out["n_seeds"] = counts.sum(axis=1).to_numpy()
    for status in ("ok", "failed", "diverged", "pruned"):
        out[f"n_{status}"] = counts[status].to_numpy() if status in counts else 0
    metrics = [metric] + [m for m in present_metrics(trials) if m != metric]
    wide = describe_seeds(trials, metrics).drop(columns="n").pivot(index="trial", columns="metric")
    wide.columns = [f"{m}_{stat}" for stat, m in wide.columns]
    wide = wide[[f"{m}_{s}" for m in metrics for s in ("mean", "sd", "se", "ci_low", "ci_high", "min", "max")]]
    out = out.join(wide, on="trial")
    out.insert(2, "rank", rank(trials, metric, direction).reindex(order).to_numpy())
    return out


def rank(trials: pd.DataFrame, metric: str, direction: str) -> pd.Series:
    """Each configuration's rank by the one rule for the best (`sweeper.metrics.ranks`), by trial id."""
    outcomes: dict[str, dict[int, float | None]] = {}
    columns = (trials["trial"], trials["seed"], trials["status"].astype(str), trials[metric])
    for trial, seed, status, value in zip(*(c.tolist() for c in columns)):  # lists: quicker to walk than Series
        record(outcomes, str(trial), int(seed), status, value)
    ranked = ranks(outcomes, direction == "maximize", range_of(metric))
    return pd.Series(ranked, dtype="Int64")


def label(row: Any, searched: Sequence[str]) -> str:
    """A configuration's name for people: its searched values, e.g. 'learning_rate=0.05 momentum=0.9'.
    An empty cell (a parameter a conditional space left inactive) is no part of it."""
    return " ".join(f"{n}={short(row[n])}" for n in searched if not _empty(row[n])) or str(getattr(row, "name", ""))


def _empty(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def best_trial(summary: pd.DataFrame) -> str | None:
    ranked = summary.dropna(subset=["rank"])
    return None if ranked.empty else str(ranked.sort_values("rank", kind="stable")["trial"].iloc[0])


def compare_to_best(trials: pd.DataFrame, summary: pd.DataFrame, metric: str, direction: str) -> pd.DataFrame:
    """One row per configuration: the paired comparison with the best one on their common
    successful seeds. `difference` is this configuration minus the best (negative is worse
    when maximising), with its 95 % interval and the t-test's `p_value` (both from
    MIN_SEEDS common seeds on, with the differences' variances moderated across the
    configurations: `df` degrees of freedom); `p_adjusted` accounts for the number of
    comparisons and for the best having been picked from the same data (see
    `sweeper.analysis.stepdown`), and decides the verdict; `reason` says why, in words;
    `method` names the test."""
    best = best_trial(summary)
    wide = _ok_values(trials, metric).pivot(index="seed", columns="trial", values=metric)
    wide = wide.reindex(columns=[t for t in summary["trial"] if t in wide])
    low, high = range_of(metric)
    out = _paired(wide, summary["trial"], best)
    out = out.reindex(columns=["trial", "best_trial", "n_common", "difference", "diff_ci_low", "diff_ci_high",
                               "p_value", "p_adjusted", "effect_size", "df", "prior_df"])
    tested = out["n_common"].ge(MIN_SEEDS) & out["trial"].ne(best) & out["trial"].isin(wide.columns)
    if best is not None and tested.any():
        # columns in the order of their ids, not of trials.csv's rows: the simulation's draws
        # follow the columns, and a verdict must not depend on which trial finished first
        others = sorted(out.loc[tested, "trial"])
        values = wide[[best, *others]].to_numpy(float)
        signed = values if direction == "maximize" else -values
        adjusted = dict(zip(others, stepdown(signed)[1:]))
        out.loc[tested, "p_adjusted"] = out.loc[tested, "trial"].map(adjusted)
        for column, by_trial in _moderated(signed, others, direction, bounds=(low - high, high - low)).items():
            out.loc[tested, column] = out.loc[tested, "trial"].map(by_trial)
    verdicts = [BEST if r.trial == best else UNTESTED if pd.isna(r.p_adjusted) else undecided_verdict(r)
                if r.p_adjusted >= ALPHA else WORSE for r in out.itertuples()]  # the step-down only finds "below the best"
    out["verdict"] = verdicts
    # Seeds to tell: 80 % power at the level left for the still-undecided comparisons (a
    # Bonferroni share, ignoring the pick of the best: an estimate), and more than there are.
    undecided = max(1, sum(v in UNDECIDED for v in verdicts))
    open_ = out["verdict"].isin(UNDECIDED).to_numpy()
    needed = np.full(len(out), np.nan)
    needed[open_] = np.maximum(seeds_needed_each(out["effect_size"].to_numpy(float)[open_], ALPHA / undecided,
                                                 prior_dfs=out["prior_df"].to_numpy(float)[open_]),
                               out["n_common"].to_numpy(float)[open_] + 1)
    out["seeds_needed"] = pd.array(np.round(needed), dtype="Int64")
    rows = summary.set_index("trial").loc[out["trial"]]
    out["reason"] = [reason(c, s, int(tested.sum()), direction, metric)
                     for c, s in zip(out.itertuples(), rows.to_dict("records"), strict=True)]
    out.insert(1, "label", rows["label"].to_numpy())
    out["method"] = moderation.METHOD
    return out.drop(columns="prior_df")


def undecided_verdict(c: Any) -> str:
    """The words for a comparison the step-down did not call worse, agreeing with the 95 %
    interval shown beside it: "not separated yet" where that interval excludes 0 (the
    difference shows on its own, not once adjusted for the other comparisons and the pick
    of the best), "indistinguishable from the best" where it does not."""
    excludes = not pd.isna(c.diff_ci_low) and (c.diff_ci_low > 0 or c.diff_ci_high < 0)
    return UNSEPARATED if excludes else SAME


def _moderated(signed: np.ndarray, others: list[str], direction: str,
               bounds: tuple[float, float]) -> dict[str, dict[str, float]]:
    """Per compared configuration (the columns after the best, higher better in `signed`):
    the difference's interval, two-sided p-value, effect size and degrees of freedom with
    the variances of the differences moderated across them (from MODERATED_INTERVALS
    configurations on), in the metric's direction."""
    d = differences(signed, moderate=signed.shape[1] >= MODERATED_INTERVALS, best=0)
    sign = -1.0 if direction == "maximize" else 1.0  # best minus this one, back to this one minus the best
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(d["s2"] / d["n"])
        t = d["mean"] / se
        half = st.t.ppf(0.5 + CONFIDENCE / 2, d["df"]) * se
        p = np.where(se > 0, 2 * st.t.sf(np.abs(t), d["df"]), np.where(d["mean"] == 0, 1.0, 0.0))
        effect = sign * d["mean"] / np.sqrt(d["s2"])
    low, high = np.clip(sign * d["mean"] - half, *bounds), np.clip(sign * d["mean"] + half, *bounds)
    columns = {"diff_ci_low": low, "diff_ci_high": high, "p_value": p, "effect_size": effect,
               "df": d["df"], "prior_df": d["prior_df"]}
    return {name: dict(zip(others, np.asarray(v, dtype=float)[1:])) for name, v in columns.items()}


def _paired(wide: pd.DataFrame, trials: pd.Series, best: str | None) -> pd.DataFrame:
    """Each trial's common successful seeds with the best (n_common; the best: its own) and mean difference."""
    out = pd.DataFrame({"trial": trials.to_numpy(), "best_trial": best, "n_common": 0})
    if best is None:
        return out
    values = wide.to_numpy(float)
    d = values - values[:, [list(wide.columns).index(best)]]
    have = ~np.isnan(d)
    n = pd.Series(have.sum(axis=0), index=wide.columns)
    with np.errstate(invalid="ignore"):
        mean = pd.Series(np.where(have, d, 0.0).sum(axis=0) / n.to_numpy(), index=wide.columns)
    n[best] = int((~np.isnan(values[:, list(wide.columns).index(best)])).sum())
    out["n_common"] = out["trial"].map(n).fillna(0).astype(int)
    out["difference"] = out["trial"].map(mean.where(n > 0).drop(best)).astype(float)
    return out


def reason(c: Any, s: Any, tests: int, direction: str, metric: str) -> str:
    """Why a comparison got its verdict, in words a reader needs no manual for. c: its
    comparisons row (a namedtuple), s: its summary row."""
    bounded = bool(np.isfinite(worst(direction == "maximize", range_of(metric))))
    lost = "" if s["n_failed"] + s["n_diverged"] == 0 else \
        f"; mean of {s['n_ok']} of {s['n_seeds']} seeds ({s['n_failed']} failed, {s['n_diverged']} diverged): " \
        + ("ranked with each lost seed at the worst value the metric can take" if bounded
           else "ranked after every configuration that lost no seed")
    if c.verdict == BEST:
        return f"{'highest' if direction == 'maximize' else 'lowest'} mean" + lost
    if c.verdict == UNTESTED:
        return f"{c.n_common} seeds in common with the best; a test needs {MIN_SEEDS}" + lost
    p, against = f"{c.p_adjusted:.3f}", f"adjusted for {tests} comparisons and for picking the best"
    if c.verdict == WORSE:
        return f"p = {p} < {ALPHA} {against}" + lost
    alone = not np.isnan(c.diff_ci_low) and (c.diff_ci_low > 0 or c.diff_ci_high < 0)
    if alone:
        return f"its own interval excludes 0, but p = {p} >= {ALPHA} once {against}" + lost
    return f"difference within the noise of {c.n_common} seeds (p = {p})" + lost
