"""Where a configuration's seed-to-seed spread comes from, for a study whose seeds cross
initialisation with data order (`Study(seeds=Crossed(init=5, order=5))`, study/seeds.py).

Each configuration's results over the I x O pairs are a two-way crossed layout with one
result per cell: y[i, o] = mean + a[i] + b[o] + e[i, o], with a the initialisation's effect
(variance init), b the data order's (variance order) and e the rest (their interaction,
dropout, and what else varies; variance rest). The ANOVA mean squares estimate them:

    rest  = MS_e
    init  = (MS_init  - MS_e) / O
    order = (MS_order - MS_e) / I

(negative estimates are reported as 0). The 95 % interval of `rest` is the exact chi-square
one; those of `init` and `order`, differences of mean squares, are the modified large-sample
intervals of Ting, Burdick, Graybill, Jeyaratnam and Lu (1990), whose coverage stays close
to nominal with few levels (bench/variance_split.py measures it on synthetic studies).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

CONFIDENCE = 0.95
PAIR = 1000  # a crossed seed is PAIR * init + order (sweeper.study.seeds)
COMPONENTS = ("init", "order", "rest")


def anova(y: np.ndarray) -> dict[str, float]:
    """Mean squares and degrees of freedom of a complete I x O table (rows: initialisation)."""
    n_i, n_o = y.shape
    grand = y.mean()
    rows, cols = y.mean(axis=1), y.mean(axis=0)
    resid = y - rows[:, None] - cols[None, :] + grand
    return {"ms_init": n_o * np.sum((rows - grand) ** 2) / (n_i - 1), "df_init": n_i - 1,
            "ms_order": n_i * np.sum((cols - grand) ** 2) / (n_o - 1), "df_order": n_o - 1,
            "ms_rest": np.sum(resid ** 2) / ((n_i - 1) * (n_o - 1)), "df_rest": (n_i - 1) * (n_o - 1)}


def mls_interval(ms1: float, df1: float, ms2: float, df2: float, c: float,
                 confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The modified large-sample interval of (E[MS1] - E[MS2]) / c (Ting et al. 1990), cut at 0."""
    a = (1 - confidence) / 2

    def f_inf(q: float, df: float) -> float:  # F(df, infinity) = chi2(df) / df
        return float(st.chi2.ppf(q, df) / df)

    f1u, f1l = f_inf(1 - a, df1), f_inf(a, df1)
    f2u, f2l = f_inf(1 - a, df2), f_inf(a, df2)
    f12u, f12l = st.f.ppf(1 - a, df1, df2), st.f.ppf(a, df1, df2)
    g1, h1 = 1 - 1 / f1u, 1 / f1l - 1
    g2, h2 = 1 - 1 / f2u, 1 / f2l - 1
    g12 = ((f12u - 1) ** 2 - g1 ** 2 * f12u ** 2 - h2 ** 2) / f12u
    h12 = ((1 - f12l) ** 2 - h1 ** 2 * f12l ** 2 - g2 ** 2) / f12l
    d = ms1 - ms2
    low = d - np.sqrt(max(0.0, g1 ** 2 * ms1 ** 2 + h2 ** 2 * ms2 ** 2 + g12 * ms1 * ms2))
    high = d + np.sqrt(max(0.0, h1 ** 2 * ms1 ** 2 + g2 ** 2 * ms2 ** 2 + h12 * ms1 * ms2))
    return max(0.0, low / c), max(0.0, high / c)


def split(y: np.ndarray, confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """The three components of a complete I x O table, each with its interval and share."""
    n_i, n_o = y.shape
    m = anova(y)
    a = (1 - confidence) / 2
    rest = m["ms_rest"]
    rest_ci = (m["df_rest"] * rest / st.chi2.ppf(1 - a, m["df_rest"]), m["df_rest"] * rest / st.chi2.ppf(a, m["df_rest"]))
    init = max(0.0, (m["ms_init"] - rest) / n_o)
    order = max(0.0, (m["ms_order"] - rest) / n_i)
    total = init + order + rest
    out = []
    for name, value, (low, high) in (
            ("init", init, mls_interval(m["ms_init"], m["df_init"], rest, m["df_rest"], n_o, confidence)),
            ("order", order, mls_interval(m["ms_order"], m["df_order"], rest, m["df_rest"], n_i, confidence)),
            ("rest", rest, rest_ci)):
        out.append({"component": name, "variance": value, "ci_low": low, "ci_high": high,
                    "sd": float(np.sqrt(value)), "share": value / total if total > 0 else np.nan})
    return out


def components(trials: pd.DataFrame, metric: str, study: dict[str, Any]) -> pd.DataFrame:
    """One row per (configuration, component) of a crossed study: the variance of `metric`
    from initialisation, data order and the rest, its 95 % interval, its standard deviation
    and its share of the total; configurations missing a pair (a failed or diverged seed) are
    left out. Empty for a study whose seeds are not crossed."""
    columns = ["trial", "component", "variance", "ci_low", "ci_high", "sd", "share", "n_init", "n_order"]
    crossed = study.get("crossed")
    if not crossed or metric not in trials:
        return pd.DataFrame(columns=columns)
    n_i, n_o = int(crossed["init"]), int(crossed["order"])
    ok = trials[trials["status"] == "ok"]
    rows = []
    for trial, group in ok.groupby("trial", sort=False):
        y = np.full((n_i, n_o), np.nan)
        for seed, value in zip(group["seed"], group[metric].astype(float), strict=True):
            i, o = divmod(int(seed), PAIR)
            if i < n_i and o < n_o:
                y[i, o] = value
        if np.isnan(y).any():
            continue
        rows += [{"trial": trial, **c, "n_init": n_i, "n_order": n_o} for c in split(y)]
    return pd.DataFrame(rows, columns=columns)
