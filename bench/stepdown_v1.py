"""The verdict's step-down test as it was before its variances were moderated (method v1,
up to commit ca08557), kept here verbatim so bench/verdicts.py can compare before
and after on the same studies. Not part of the package.

Its original description follows.

The step-down test behind the verdict: which configurations are worse than the best one?

Testing against a best picked from the same data makes it look better than it is: with 12
tied configurations, paired t-tests against the winner with Holm's correction call one of
them worse in about 13 % of studies, not 5 %. So each step of a Holm-type step-down compares
the largest remaining paired t statistic ("best minus this one") with its distribution when
all remaining configurations are tied, simulated with the same seeds, the same missing seeds
and the same pick of the best. With two configurations left this distribution is known:
the step is the exact two-sided paired t-test, with no simulation.

What the simulated null assumes, and why (measured on synthetic studies with a per-seed
offset shared by all configurations, as a seed's data order is; the first step's rejection
rate is the family's false "worse" rate, nominal 5 %):

- Each configuration has its own noise level. With one configuration 3x as noisy as the
  others, a null with equal variances calls a tie "worse" in only 3-4 % of studies (12
  configurations: 3.2 % at 3 seeds, 3.1 % at 30); plugging in each configuration's estimated
  variance (Shukla's estimator, which removes the per-seed offsets) brings it to 5 %, but
  with few seeds the estimates scatter and the plug-in null is too narrow: 6.4-6.9 % for 3-10
  seeds with equal true variances. So the estimates are shrunk towards their mean by how much
  more they scatter than sampling alone would make them (James-Stein): 4.0-5.7 % over 5, 12
  and 30 configurations x 3, 5, 10 and 30 seeds, equal or one 3x noisier (2000 studies each,
  Monte Carlo sd 0.5 %). tests/test_stats.py checks 2, 5, 12 and 30 configurations.
- The draws are seeded from the data, not a fixed seed: with one fixed set of draws for every
  study of a shape, the error of that set's 95 % quantile is the same in all of them (2000
  draws: 6.1-6.2 % instead of 5 % at 12 configurations). Seeded per study it averages out
  (a Monte Carlo test's level is exact for any number of draws), and the same results still
  get the same verdict.
- At least MIN_SEEDS seeds in common with the best: with two, a paired t-test has one degree
  of freedom and the variances cannot be estimated at all.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import stats as st

ALPHA = 0.05  # chance of calling any configuration worse when none is
MIN_SEEDS = 3  # fewest common seeds for a verdict
NULL_DRAWS = 2000  # simulated studies per step; p-values near 0.05 carry a Monte Carlo error of about 0.005
EXACT_TAIL = 40  # undecided configurations stepped through one at a time; beyond, p-values are upper bounds


def worse_t(values: np.ndarray) -> np.ndarray:
    """Paired t statistics of how much each column is below the column with the highest
    mean, on their common rows. values: (..., seeds, configs), NaN where a seed failed.
    The best column and columns with fewer than MIN_SEEDS common seeds get -inf."""
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
    return np.where(m >= MIN_SEEDS, np.nan_to_num(t, nan=-np.inf, posinf=np.inf), -np.inf)


def noise_variances(values: np.ndarray) -> np.ndarray:
    """Each column's noise variance in values[seed, config] = mean[config] + offset[seed] +
    noise, from the seeds every column finished (Shukla's estimator), shrunk towards the
    columns' mean variance by how little the estimates scatter beyond sampling error. Equal
    variances (ones) where that cannot be told: fewer than 3 columns or 3 such seeds."""
    rows = values[~np.isnan(values).any(axis=1)]
    n, k = rows.shape
    if k < 3 or n < 3:
        return np.ones(k)
    resid = rows - rows.mean(axis=0) - rows.mean(axis=1, keepdims=True) + rows.mean()
    s = np.square(resid).sum(axis=0) / (n - 1)  # E[s_j] = var_j (1 - 2/k) + sum(var) / k^2
    v = (s - s.sum() / (k * (k - 1))) / (1 - 2 / k)
    mean = v.mean()
    if not mean > 0:  # every column constant, or nearly
        return np.ones(k)
    sampling = 2 * mean**2 / ((n - 1) * (1 - 2 / k) ** 2)  # the estimates' variance if all were equal
    scatter = np.mean(np.square(v - mean))
    keep = max(0.0, 1 - sampling / scatter) if scatter > 0 else 0.0
    return np.maximum(keep * v + (1 - keep) * mean, 0.01 * mean)


def stepdown(values: np.ndarray, draws: int | None = None, seed: int | None = None, level: float = ALPHA,
             exact: bool = True) -> np.ndarray:
    """Adjusted p-values for "column j is worse than column 0", where column 0 has the
    highest mean (higher is better) and values is (seeds, configs) with NaN for failed
    seeds. Column 0 gets NaN; so does a column with fewer than MIN_SEEDS seeds in common
    with column 0 (no test). `seed` fixes the simulation's draws (by default: the data).
    `level` is the test's alpha; `exact=False` stops at the first step that rejects nothing,
    leaving the undecided with that step's p-value (enough to tell which are rejected).

    A round rejects every configuration below ALPHA at once rather than one at a time: the
    verdicts are those of the one-at-a-time step-down, the p-values of the rejected ones may
    come out a little higher (conservative), and big studies need a few rounds, not k."""
    k, draws = values.shape[1], draws or NULL_DRAWS
    observed = worse_t(values)
    rng = np.random.default_rng(_seed_of(values) if seed is None else seed)
    noise = rng.standard_normal((draws, *values.shape)) * np.sqrt(noise_variances(values))
    noise[:, np.isnan(values)] = np.nan
    remaining = sorted((c for c in range(1, k) if observed[c] > -np.inf), key=lambda c: -observed[c])
    out = np.full(k, np.nan)
    running = 0.0
    while remaining:
        p = np.maximum(running, _step_p(values, noise, observed, remaining))
        rejected = p < level
        if rejected.any():  # reject all that can be at once, then retest the rest without them
            out[remaining] = p
            running = p[rejected].max()
            remaining = [j for j, r in zip(remaining, rejected, strict=True) if not r]
        elif len(remaining) > EXACT_TAIL or not exact:  # keep these (conservative) p-values
            out[remaining] = p
            break
        else:  # step down one at a time for the exact p-values of the undecided
            out[remaining[0]] = running = p[0]
            remaining.pop(0)
    return out


def _step_p(values: np.ndarray, noise: np.ndarray, observed: np.ndarray, remaining: list[int]) -> np.ndarray:
    """p-values of the remaining columns' t statistics against the largest of them when the
    remaining columns and column 0 are tied: exact for one column left, else simulated."""
    if len(remaining) == 1:
        both = ~np.isnan(values[:, 0]) & ~np.isnan(values[:, remaining[0]])
        return np.array([2 * st.t.sf(observed[remaining[0]], both.sum() - 1)])
    null_max = worse_t(noise[:, :, [0, *remaining]]).max(axis=-1)
    return (1 + np.sum(null_max[:, None] >= observed[remaining], axis=0)) / (1 + len(noise))


def _seed_of(values: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(np.ascontiguousarray(values, dtype=float).tobytes(), digest_size=8).digest())
