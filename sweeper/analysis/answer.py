"""The study's answer in one sentence, and how much the verdicts borrowed from the other configurations.

    Best: learning_rate=0.005 channels=32, val_acc 0.80 [0.72, 0.88] over 3 seeds; 5 of the
    7 others are within the noise of 3 seeds (about 20 seeds would separate #2 from #1); 1 is not
    separated yet (its own interval excludes 0, the test adjusted for the comparisons and the
    pick of the best does not call it worse; about 4 seeds would tell); 1 is worse.

`sweep show` prints it first, and the report opens with it. Both read the summary and
comparisons tables only (`sweeper.analysis.stats`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from sweeper.analysis import moderation, stats


def answer(summary: pd.DataFrame, comparisons: pd.DataFrame, metric: str) -> str:
    """One sentence: the best configuration with its mean and interval, then how many of the
    others are within the noise, not separated yet, worse, untested or pruned, and the seeds
    #2 would need."""
    ranked = summary.dropna(subset=["rank", f"{metric}_mean"]).sort_values("rank", kind="stable")
    if ranked.empty:
        return "No configuration has a successful seed yet, so there is no best one."
    first = ranked.iloc[0]
    ties = int((ranked["rank"] == first["rank"]).sum()) - 1
    head = "Best" if not ties else f"Best (tied on the mean with {ties} other{'s' * (ties > 1)})"
    best = f"{head}: {first['label']}, {metric} {_value(first, metric)} over {_seeds(first)}"
    others = comparisons[comparisons["trial"] != first["trial"]]
    if others.empty:
        return f"Only one configuration: {first['label']}, {metric} {_value(first, metric)} over {_seeds(first)}; " \
               "nothing to compare it with."
    return f"{best}; {_verdicts(others, ranked)}."


def _value(row: Any, metric: str) -> str:
    mean, low, high = row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
    return _num(mean) + ("" if pd.isna(low) else f" [{_num(low)}, {_num(high)}]")


def _seeds(row: Any) -> str:
    ok, total = int(row["n_ok"]), int(row["n_seeds"])
    if ok == total:
        return f"{ok} seed{'s' * (ok != 1)}"
    lost = ", ".join(f"{int(row[f'n_{s}'])} {s}" for s in ("failed", "diverged", "pruned") if row.get(f"n_{s}", 0))
    return f"{ok} of {total} seeds ({lost})"


def _verdicts(others: pd.DataFrame, ranked: pd.DataFrame) -> str:
    """'6 of the 7 others are within the noise of 3 seeds (...); 1 is worse', and the rest."""
    count = Counter(others["verdict"])
    n = len(others)
    parts = []
    second = _second(others[others["verdict"].isin(stats.UNDECIDED)], ranked)
    same = others[others["verdict"] == stats.SAME]
    if len(same):
        seeds = Counter(same["n_common"]).most_common(1)[0][0]
        whom = "the other" if n == 1 else f"the {n} others"
        verb = "is" if len(same) == 1 else "are"
        parts.append(f"{len(same)} of {whom} {verb} within the noise of {seeds} seeds{_said(second, same, ranked)}")
    apart = others[others["verdict"] == stats.UNSEPARATED]
    if len(apart):
        parts.append(f"{_unseparated(apart)}{_said(second, apart, ranked)}")
    for verdict, word in ((stats.WORSE, "worse"), (stats.UNTESTED, "untested (fewer than 3 seeds in common)"),
                          (stats.PRUNED, "pruned")):
        if count[verdict]:
            parts.append(f"{count[verdict]} {'is' if count[verdict] == 1 else 'are'} {word}")
    if not count[stats.WORSE]:
        parts.append("none is worse")
    return "; ".join(parts)


def _unseparated(apart: pd.DataFrame) -> str:
    """'1 is not separated yet (its own interval excludes 0, the adjusted test does not call it
    worse; about 4 seeds would tell)': the words that agree with an interval excluding 0."""
    k = len(apart)
    needed = apart["seeds_needed"].dropna().astype(int)
    span = "" if needed.empty else str(needed.min()) if needed.min() == needed.max() else f"{needed.min()}-{needed.max()}"
    tell = f"; about {span} seeds would tell" if span else ""
    own = "its own interval excludes" if k == 1 else "their own intervals exclude"
    return (f"{k} {'is' if k == 1 else 'are'} not separated yet ({own} 0, the test adjusted for the "
            f"comparisons and the pick of the best does not call {'it' if k == 1 else 'them'} worse{tell})")


def _said(second: str, group: pd.DataFrame, ranked: pd.DataFrame) -> str:
    """The runner-up's seeds (`_second`) where it belongs to `group`."""
    return second if len(ranked) > 1 and ranked.iloc[1]["trial"] in set(group["trial"]) else ""


def _second(same: pd.DataFrame, ranked: pd.DataFrame) -> str:
    """' (about 20 seeds would separate #2 from #1)' where the runner-up is among `same`."""
    if len(ranked) < 2 or ranked.iloc[1]["trial"] not in set(same["trial"]):
        return ""
    row = same.set_index("trial").loc[ranked.iloc[1]["trial"]]
    if pd.isna(row["difference"]) or row["difference"] == 0:
        return " (#2 has the same mean as #1)"
    needed = row["seeds_needed"]
    if pd.isna(needed):
        return ""
    if int(needed) >= stats.MAX_SEEDS:
        return f" (not even {stats.MAX_SEEDS:,} seeds would be likely to separate #2 from #1)"
    return f" (about {int(needed)} seeds would separate #2 from #1)"


def _num(x: float) -> str:
    """3 significant digits, as many decimals as that takes: 0.919, 0.0123, 12.3."""
    if not np.isfinite(x) or x == 0:
        return f"{x:g}"
    decimals = max(0, 2 - int(np.floor(np.log10(abs(x)))))
    return f"{x:.{decimals}f}"


def moderation_note(comparisons: pd.DataFrame) -> str:
    """How much the comparisons borrowed from each other, in words: 'Variances moderated
    across 12 configurations: the prior is worth 5.3 seeds, so 3-seed comparisons have 7.3
    degrees of freedom instead of 2.' Empty where nothing was tested."""
    tested = comparisons.dropna(subset=["df"]) if "df" in comparisons else comparisons.iloc[:0]
    if tested.empty:
        return ""
    own = tested["n_common"] - 1
    prior = tested["df"] - own
    worth, k = float(prior.max()), len(tested) + 1
    if len(tested) < moderation.MIN_VARIANCES:
        return "Variances not moderated (too few configurations to fit a prior to): each comparison rests on its own seeds."
    if k < stats.MODERATED_INTERVALS:
        return (f"The verdicts' test borrows across the {k} configurations' variances; the intervals and p-values rest "
                f"on each comparison's own seeds (they borrow from {stats.MODERATED_INTERVALS} configurations on).")
    if worth < 0.05:
        return (f"Variances not moderated (the {len(tested)} differences' variances differ too much to borrow from "
                "each other): each comparison rests on its own seeds.")
    seeds = int(Counter(tested["n_common"]).most_common(1)[0][0])
    less = int((prior < 0.5 * worth).sum())
    guarded = f"; {less} whose variance stands out borrowed less" if less else ""
    return (f"Variances moderated across {k} configurations: the prior is worth {worth:.1f} seeds, so {seeds}-seed "
            f"comparisons have {seeds - 1 + worth:.1f} degrees of freedom instead of {seeds - 1}{guarded}.")
