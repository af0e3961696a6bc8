"""Across-seed summaries and comparisons: is a configuration really worse than the best one?

Every configuration of a study is trained with the same seeds, so two configurations can be
compared seed by seed. The summary gives each configuration's mean over its successful
seeds with a t-based 95 % confidence interval. The comparison pairs each configuration with
the best one on the seeds both finished and tests the mean paired difference with a paired
t-test. The p-values are adjusted by a Holm-type step-down, for the number of comparisons
and for the best having been picked from the same data (which makes it look better than it
is; see `stepdown`), and decide the verdict: "worse" or "indistinguishable from the best".
Where no difference is found, it estimates how many seeds a paired t-test would need to find
the observed difference with 80 % power, if that difference is real.

Failed and diverged seeds are left out of every mean but counted (n_failed, n_diverged):
a configuration that diverges on half its seeds is not judged by the other half alone.

The core functions work on the last axis of arrays (NaN for a failed seed), so the tests
can check the error rates on thousands of synthetic studies at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from sweeper.metrics import short

CONFIDENCE = 0.95
ALPHA = 0.05  # chance of calling any configuration worse when none is
POWER = 0.80  # power aimed at when estimating the seeds needed
MAX_SEEDS = 10_000  # seeds_needed is capped here (an effect this small is not worth seeds)
FINAL_METRICS = ["val_acc", "val_loss", "best_val_acc", "best_epoch", "train_acc", "train_loss", "test_acc", "test_loss"]
WORSE, SAME, BEST, UNTESTED = "worse", "indistinguishable from the best", "best", "too few common seeds"


# -- core: vectorised over leading axes ---------------------------------------------------
def mean_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, np.ndarray]:
    """n, mean, sd, se and the t-based confidence interval of the mean along the last axis,
    NaN (a failed seed) left out. With fewer than two values sd, se and the interval are NaN."""
    values = np.asarray(values, dtype=float)
    have = ~np.isnan(values)
    n = have.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(have, values, 0.0).sum(axis=-1) / n
        sd = np.sqrt(np.square(np.where(have, values - mean[..., None], 0.0)).sum(axis=-1) / (n - 1))
        sd = np.where(n > 1, sd, np.nan)
        se = sd / np.sqrt(n)
        half = st.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)) * se
    return {"n": n, "mean": mean, "sd": sd, "se": se, "ci_low": mean - half, "ci_high": mean + half}


def paired_test(diffs: np.ndarray, confidence: float = CONFIDENCE) -> dict[str, np.ndarray]:
    """Paired t-test of per-seed differences along the last axis: the mean difference, its
    confidence interval, the two-sided p-value and the effect size dz = mean / sd."""
    diffs = np.asarray(diffs, dtype=float)
    out = mean_ci(diffs, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = st.ttest_1samp(diffs, 0.0, axis=-1)
        out["p_value"] = np.where(out["sd"] == 0, np.where(out["mean"] == 0, 1.0, 0.0), res.pvalue)
        out["effect_size"] = out["mean"] / out["sd"]
    return out


def power_paired(effect_size: float, n: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Power of a two-sided paired t-test with n pairs when the true effect is effect_size."""
    n = np.asarray(n, dtype=float)
    df = n - 1
    crit = st.t.ppf(1 - alpha / 2, df)
    shift = abs(effect_size) * np.sqrt(n)
    return st.nct.sf(crit, df, shift) + st.nct.cdf(-crit, df, shift)


def seeds_needed(effect_size: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The fewest seeds for which a paired t-test finds a true effect of effect_size with the
    given power; NaN for no effect, MAX_SEEDS when even that many would not do."""
    if not np.isfinite(effect_size) or effect_size == 0:
        return np.nan
    z = st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power)
    guess = int(np.ceil((z / abs(effect_size)) ** 2))  # the normal approximation, a little low
    n = np.arange(2, min(MAX_SEEDS, 2 * guess + 10) + 1)
    enough = n[power_paired(effect_size, n, alpha) >= power]
    return float(enough[0]) if len(enough) else float(MAX_SEEDS)


# -- tables --------------------------------------------------------------------------------
def config_order(trials: pd.DataFrame) -> list[str]:
    """Configuration ids in the order they first appear in trials.csv (the order proposed)."""
    return list(dict.fromkeys(trials["trial"]))


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
        parts.append(pd.DataFrame({"trial": order, "metric": metric, **mean_ci(grid), **extremes}))
    return pd.concat(parts, ignore_index=True).astype({"n": int})


def present_metrics(trials: pd.DataFrame) -> list[str]:
    """The final metrics that hold a value in at least one successful row."""
    ok = trials[trials["status"] == "ok"]
    return [m for m in FINAL_METRICS if m in ok and ok[m].astype(float).notna().any()]


def summarize(trials: pd.DataFrame, searched: Sequence[str], metric: str, direction: str) -> pd.DataFrame:
    """One row per configuration, in order of first appearance: its searched hyperparameters,
    seed counts, rank by the study's metric (1 = best) and, for every final metric present,
    `<metric>_mean/_sd/_se/_ci_low/_ci_high/_min/_max`."""
    order = config_order(trials)
    first = trials.drop_duplicates("trial").set_index("trial").loc[order]
    counts = trials.groupby(["trial", trials["status"].astype(str)]).size().unstack(fill_value=0).reindex(order)
    out = pd.DataFrame({"trial": order, "label": [label(first.loc[t], searched) for t in order]})
    for name in searched:
        out[name] = first[name].to_numpy()
    out["n_seeds"] = counts.sum(axis=1).to_numpy()
    for status in ("ok", "failed", "diverged"):
        out[f"n_{status}"] = counts[status].to_numpy() if status in counts else 0
    metrics = [metric] + [m for m in present_metrics(trials) if m != metric]
    wide = describe_seeds(trials, metrics).drop(columns="n").pivot(index="trial", columns="metric")
    wide.columns = [f"{m}_{stat}" for stat, m in wide.columns]
    wide = wide[[f"{m}_{s}" for m in metrics for s in ("mean", "sd", "se", "ci_low", "ci_high", "min", "max")]]
    out = out.join(wide, on="trial")
    out.insert(2, "rank", out[f"{metric}_mean"].rank(ascending=direction == "minimize", method="min")
               .astype("Int64"))
    return out


def label(row: Any, searched: Sequence[str]) -> str:
    """A configuration's name for people: its searched values, e.g. 'learning_rate=0.05 momentum=0.9'."""
    return " ".join(f"{n}={short(row[n])}" for n in searched) or str(getattr(row, "name", ""))


def best_trial(summary: pd.DataFrame) -> str | None:
    ranked = summary.dropna(subset=["rank"])
    return None if ranked.empty else str(ranked.sort_values("rank", kind="stable")["trial"].iloc[0])


def compare_to_best(trials: pd.DataFrame, summary: pd.DataFrame, metric: str, direction: str) -> pd.DataFrame:
    """One row per configuration: the paired comparison with the best one on their common
    successful seeds. `difference` is this configuration minus the best (negative is worse
    when maximising), with its 95 % interval and the paired t-test's `p_value`;
    `p_adjusted` accounts for the number of comparisons and for the best having been
    picked from the same data (see `stepdown`), and decides the verdict."""
    best = best_trial(summary)
    wide = _ok_values(trials, metric).pivot(index="seed", columns="trial", values=metric)
    wide = wide.reindex(columns=[t for t in summary["trial"] if t in wide])
    rows = []
    for trial in summary["trial"]:
        row: dict[str, Any] = {"trial": trial, "best_trial": best, "n_common": 0}
        if best is not None and trial in wide and trial != best:
            diffs = (wide[trial] - wide[best]).dropna().to_numpy()
            row["n_common"] = len(diffs)
            if len(diffs) >= 2:
                t = {k: float(v) for k, v in paired_test(diffs).items()}
                row.update(difference=t["mean"], diff_ci_low=t["ci_low"], diff_ci_high=t["ci_high"],
                           p_value=t["p_value"], effect_size=t["effect_size"])
        elif trial == best:
            row["n_common"] = int(wide[trial].notna().sum())
        rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=["trial", "best_trial", "n_common", "difference", "diff_ci_low",
                                               "diff_ci_high", "p_value", "p_adjusted", "effect_size"])
    tested = out.loc[out["p_value"].notna(), "trial"].tolist()
    if best is not None and tested:
        values = wide[[best, *tested]].to_numpy(float)
        p_adjusted = stepdown(values if direction == "maximize" else -values)
        out.loc[out["p_value"].notna(), "p_adjusted"] = p_adjusted[1:]
    verdicts = [BEST if r.trial == best else UNTESTED if pd.isna(r.p_adjusted) else SAME if r.p_adjusted >= ALPHA
                else WORSE for r in out.itertuples()]  # the step-down only ever finds "below the best"
    out["verdict"] = verdicts
    # Seeds to tell: 80 % power at the level left for the still-undecided comparisons (a
    # Bonferroni share, ignoring the pick of the best: an estimate), and more than there are.
    undecided = max(1, verdicts.count(SAME))
    needed = [max(seeds_needed(r.effect_size, ALPHA / undecided), r.n_common + 1) if v == SAME else np.nan
              for r, v in zip(out.itertuples(), verdicts, strict=True)]
    out["seeds_needed"] = pd.array(np.round(needed), dtype="Int64")
    out.insert(1, "label", summary.set_index("trial").loc[out["trial"], "label"].to_numpy())
    return out


# -- the step-down test against the best -------------------------------------------------
NULL_DRAWS = 2000  # simulated studies per step; the p-values' Monte Carlo error is about 0.005 near 0.05
EXACT_TAIL = 40  # undecided configurations stepped through one at a time; beyond, p-values are upper bounds


def worse_t(values: np.ndarray) -> np.ndarray:
    """Paired t statistics of how much each column is below the column with the highest
    mean, on their common rows. values: (..., seeds, configs), NaN where a seed failed.
    The best column and columns with fewer than two common seeds get -inf."""
    have = ~np.isnan(values)
    filled = np.where(have, values, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(have.any(axis=-2), filled.sum(axis=-2) / have.sum(axis=-2), -np.inf)
        best = np.argmax(means, axis=-1)[..., None, None]
        both = have & np.take_along_axis(have, best, axis=-1)
        m = both.sum(axis=-2)
        d = np.where(both, np.take_along_axis(filled, best, axis=-1) - filled, 0.0)
        mean = d.sum(axis=-2) / m
        sd = np.sqrt(np.square(np.where(both, d - mean[..., None, :], 0.0)).sum(axis=-2) / (m - 1))
        t = np.where(sd > 0, mean / sd * np.sqrt(m), np.sign(mean) * np.inf)
    return np.where(m >= 2, np.nan_to_num(t, nan=-np.inf, posinf=np.inf), -np.inf)


def stepdown(values: np.ndarray, draws: int | None = None, seed: int = 0) -> np.ndarray:
    """Adjusted p-values for "column j is worse than column 0", where column 0 has the
    highest mean (higher is better) and values is (seeds, configs) with NaN for failed seeds.

    Testing against a best picked from the same data makes it look better than it is: with
    12 tied configurations, paired t-tests against the winner with Holm's correction call
    one of them worse in about 13 % of studies, not 5 %. So each step of this Holm-type
    step-down compares the largest remaining t statistic with its distribution when all
    remaining configurations are tied, simulated with Gaussian noise, the same missing
    seeds and the same pick of the best. (t statistics do not depend on the noise level or
    on per-seed offsets, so this null needs no parameters.) With two configurations this is
    the paired t-test. Column 0 gets NaN.

    A round rejects every configuration below ALPHA at once rather than one at a time: the
    verdicts are those of the one-at-a-time step-down, the p-values of the rejected ones may
    come out a little higher (conservative), and big studies need a few rounds, not k."""
    k, draws = values.shape[1], draws or NULL_DRAWS
    observed = worse_t(values)
    noise = np.random.default_rng(seed).standard_normal((draws, *values.shape))
    noise[:, np.isnan(values)] = np.nan
    remaining = sorted(range(1, k), key=lambda c: -observed[c])
    out = np.full(k, np.nan)
    running = 0.0
    while remaining:
        null_max = worse_t(noise[:, :, [0, *remaining]]).max(axis=-1)
        p = np.maximum(running, (1 + np.sum(null_max[:, None] >= observed[remaining], axis=0)) / (1 + draws))
        rejected = p < ALPHA
        if rejected.any():  # reject all that can be at once, then retest the rest without them
            out[remaining] = p
            running = p[rejected].max()
            remaining = [j for j, r in zip(remaining, rejected, strict=True) if not r]
        elif len(remaining) > EXACT_TAIL:  # many undecided: keep these (conservative) p-values
            out[remaining] = p
            break
        else:  # step down one at a time for the exact p-values of the undecided
            out[remaining[0]] = running = p[0]
            remaining.pop(0)
    return out
