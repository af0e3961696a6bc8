"""The step-down test behind the verdict: which configurations are worse than the best one?

Testing against a best picked from the same data makes it look better than it is: with 12
tied configurations, paired t-tests against the winner with Holm's correction call one of
them worse in about 13 % of studies, not 5 %. So each step of a Holm-type step-down compares
the largest remaining t statistic ("best minus this one", paired by seed) with its
distribution when all remaining configurations are tied, simulated with the same seeds, the
same missing seeds and the same pick of the best. With two configurations the step is the
exact two-sided paired t-test, with no simulation.

The t statistics use moderated variances (method "moderated step-down v2"; v1 used each
difference's own variance, so at 3 seeds a t statistic had 2 degrees of freedom and the
largest of hundreds of them had tails so heavy that nothing was called worse). Each
difference's variance is shrunk towards a prior fitted to all the study's differences
(`sweeper.analysis.moderation`, limma's empirical Bayes with a guard against outliers), and
the simulated studies are moderated the same way, each with its own fitted prior, so the
test keeps its level whatever the prior turns out to be. Choices, measured on synthetic
studies with a per-seed offset shared by all configurations (bench/verdicts.py; the first
step's rejection rate is the family's false "worse" rate, nominal 5 %):

- All differences share the best configuration's noise, so pooling v of them says less than
  v times one: a difference's prior is worth at most (4 v / (v + 1) - 1) (n - 1) degrees of
  freedom, about 3 (n - 1) (`_most`). Uncapped, the prior claimed up to 58 at 3 seeds x 30
  configurations and the differences' 95 % intervals covered 93-94 %; capped, 95 %.
- Configurations already called worse keep informing the prior: their observed variances
  join each simulated study's, so the last steps still borrow (with the sub-study's variances
  alone, the last configuration was judged by a 2-degree-of-freedom t-test again).
- The noise of the simulated studies: each configuration's residual variance after removing
  the per-seed offsets, moderated, and drawn from its posterior with the prior counted at
  SIMULATED_PRIOR of its weight (then Shukla's correction). A configuration that is noisier
  than its few seeds show borrows a calm prior and gets too large a t statistic; simulating
  from the point estimates, one configuration 3x noisier (its sd) among 30 was called
  worse in 5.8-6.0 % of tied studies at 3-5 seeds (2000 each). With the posterior draws at
  half weight every shape of bench/verdicts.py (2-30 configurations x 3-10 seeds, equal
  noise, one 3x noisier or 3x calmer) is at 2.6-5.9 %, the lowest at 30 x 3 with equal noise.
- The draws are seeded from the data, not a fixed seed: with one fixed set of draws for every
  study of a shape, the error of that set's 95 % quantile is the same in all of them (2000
  draws: 6.1-6.2 % instead of 5 % at 12 configurations). Seeded per study it averages out
  (a Monte Carlo test's level is exact for any number of draws), and the same results still
  get the same verdict.
- At least MIN_SEEDS seeds in common with the best: with two, a paired t-test has one degree
  of freedom and the variances cannot be estimated at all.

At 4,000 configurations x 5 seeds a step simulates 2,000 studies of 20,000 values; three
things keep that quick without changing a p-value (beyond rounding): the studies are drawn
once, a chunk at a time and in order, while a pool of threads works through the chunks
drawn so far (`_Null`); a step's settled configurations, identical in every simulated
study, enter each prior as sums (`moderation.squeeze`'s `shared`); and a difference's
variance comes from each configuration's own variance and its covariance with the study's
best (`_largest_t`). bench/commands_at_scale.py times it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import stats as st

from sweeper.analysis import moderation

ALPHA = 0.05  # chance of calling any configuration worse when none is
MIN_SEEDS = 3  # fewest common seeds for a verdict
NULL_DRAWS = 2000  # simulated studies per step; p-values near 0.05 carry a Monte Carlo error of about 0.005
SIMULATED_PRIOR = 0.5  # share of the variances' prior weight the simulated null relies on (see the module docstring)
EXACT_TAIL = 40  # undecided configurations stepped through one at a time; beyond, p-values are upper bounds
TAIL_DRAWS = (500, 500_000)  # those steps decide nothing: at least 500 draws, fewer than 2000 beyond 250 configurations
CHUNK_VALUES = 4_000_000  # simulated values drawn and moderated at once (32 MB): bounds the memory, and the same p-values
THREADS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def worse_t(values: np.ndarray, moderate: bool = True, others: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """t statistics of how much each column is below the column with the highest mean,
    paired on their common rows, with the variances of the differences moderated across
    the columns (`sweeper.analysis.moderation`) unless `moderate` is False (the plain paired
    t). values: (..., seeds, configs), NaN where a seed failed. The best column and columns
    with fewer than MIN_SEEDS common seeds get -inf. `others`: see `differences`."""
    return _t(differences(values, moderate, others=others))


def _t(d: dict[str, np.ndarray]) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d["s2"] > 0, d["mean"] / np.sqrt(d["s2"] / d["n"]), np.sign(d["mean"]) * np.inf)
    return np.where(d["n"] >= MIN_SEEDS, np.nan_to_num(t, nan=-np.inf, posinf=np.inf), -np.inf)


def differences(values: np.ndarray, moderate: bool = True, best: int | None = None,
                others: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Each column's paired differences from the column with the highest mean, or column
    `best` (best minus this one), on their common rows: n, mean, the variance s2 and its
    degrees of freedom df, the variance moderated across the columns with at least MIN_SEEDS
    common rows unless `moderate` is False; prior_df is what the moderation added to df and
    raw_s2 the variance before. `others` = (variances, df) of more differences that inform
    the prior but are not returned (a step's settled configurations)."""
    have = ~np.isnan(values)
    complete = bool(have.all())  # the usual case, and the simulated null's: no mask needed
    filled = values if complete else np.where(have, values, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if best is not None:
            ref = np.full((*values.shape[:-2], 1, 1), best)
        else:
            means = filled.mean(axis=-2) if complete else \
                np.where(have.any(axis=-2), filled.sum(axis=-2) / have.sum(axis=-2), -np.inf)
            ref = np.argmax(means, axis=-1)[..., None, None]
        d = np.take_along_axis(filled, ref, axis=-1) - filled
        if complete:
            n = np.full(d.shape[:-2] + d.shape[-1:], values.shape[-2])
            mean = d.mean(axis=-2)
            s2 = d.var(axis=-2, ddof=1)
        else:
            both = have & np.take_along_axis(have, ref, axis=-1)
            n = both.sum(axis=-2)
            d = np.where(both, d, 0.0)
            mean = d.sum(axis=-2) / n
            s2 = np.square(np.where(both, d - mean[..., None, :], 0.0)).sum(axis=-2) / (n - 1)
    tested = (n >= MIN_SEEDS) & (np.arange(values.shape[-1]) != ref[..., 0, :])
    return _moderated(n, mean, s2, tested, moderate, others)


def _moderated(n: np.ndarray, mean: np.ndarray, s2: np.ndarray, tested: np.ndarray, moderate: bool,
               others: tuple[np.ndarray, np.ndarray] | None) -> dict[str, np.ndarray]:
    """`differences`' result from the differences' n, mean and variance: the tested ones' variances moderated."""
    df = np.maximum(n - 1, 0).astype(float)
    prior_df, raw = np.zeros(s2.shape), s2
    if moderate:
        pool = np.where(tested, s2, np.nan)
        shared = len(moderation.usable(others)[0])
        post, prior_df = moderation.squeeze(pool, df, most=_most(pool, df, shared), shared=others)
        s2 = np.where(tested, post, s2)
    return {"n": n, "mean": mean, "s2": s2, "df": df + prior_df, "prior_df": prior_df, "raw_s2": raw}


def _most(pool: np.ndarray, df: np.ndarray, shared: int = 0) -> np.ndarray:
    """The most a difference's variance can borrow. Every difference shares the best
    configuration's noise, so pooling v of them estimates that part from its own n - 1 degrees
    of freedom only: with equal variances the pooled variance is worth 4 v / (v + 1) times
    n - 1 (Satterthwaite), not v times; the prior adds at most the rest. `shared`: how many
    more variances the prior pools."""
    v = np.isfinite(pool).sum(axis=-1, keepdims=True) + shared
    return df * np.maximum(4 * v / (v + 1) - 1, 0.0)


def noise_variances(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's noise variance in values[seed, config] = mean[config] + offset[seed] +
    noise, from the seeds every column finished, and how sure it is (degrees of freedom): the
    residuals' variances moderated across the columns (`sweeper.analysis.moderation`), with
    the prior counted at SIMULATED_PRIOR of its weight. Equal variances (ones, infinitely
    sure) where that cannot be told: fewer than 3 columns or 3 such seeds."""
    rows = values[~np.isnan(values).any(axis=1)]
    n, k = rows.shape
    if k < 3 or n < 3:
        return np.ones(k), np.full(k, np.inf)
    resid = rows - rows.mean(axis=0) - rows.mean(axis=1, keepdims=True) + rows.mean()
    df = np.full(k, n - 1.0)  # each column's residuals: n - 1 degrees of freedom (scaled by 1 - 1/k)
    s2, prior_df = moderation.squeeze(np.square(resid).sum(axis=0) / df, df)
    return s2, SIMULATED_PRIOR * prior_df + df


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
    raw = differences(values, moderate=False)
    observed = worse_t(values)
    rng = np.random.default_rng(_seed_of(values) if seed is None else seed)
    remaining = sorted((c for c in range(1, k) if observed[c] > -np.inf), key=lambda c: -observed[c])
    tested = set(remaining)
    out = np.full(k, np.nan)
    running = 0.0
    tail = max(TAIL_DRAWS[0], TAIL_DRAWS[1] // k)  # once nothing more can be rejected: p-values to show
    with _Null(values, rng, draws) as null:
        while remaining:
            settled = sorted(tested - set(remaining))
            p = np.maximum(running, _step_p(values, null, draws if running < level else min(tail, draws), observed,
                                            remaining, (raw["s2"][settled], raw["df"][settled])))
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


class _Null:
    """Simulated studies of tied configurations with the study's noise levels and missing
    seeds, (draws, seeds, configs), drawn a chunk of studies at a time when first needed and
    kept for the next steps. The random numbers are drawn in order (each study's variances,
    then the noise chunk by chunk: the draws of one array) while a pool of threads scales the
    chunks drawn so far and works through them (numpy lets go of the interpreter in its loops)."""

    def __init__(self, values: np.ndarray, rng: np.random.Generator, draws: int):
        self.values, self.rng, self.draws = values, rng, draws
        self.missing = np.isnan(values)
        self.s2, df = noise_variances(values)
        self.posterior = None if np.isinf(df).all() else (  # each study's variances, drawn before the noise
            self.s2 * df * (1 - 2 / (9 * df)) ** 3, rng.chisquare(df, size=(draws, 1, len(df))))
        self.rows = max(1, CHUNK_VALUES // values.size)
        self.chunks: list[np.ndarray] = []
        self.scaled: list[bool] = []
        self.pool = ThreadPoolExecutor(max_workers=THREADS) if draws > self.rows else None

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def map(self, f: Callable[[np.ndarray], np.ndarray], draws: int, columns: list[int] | None = None) -> list[np.ndarray]:
        """f of the first `draws` simulated studies, a part at a time, in order. With `columns`,
        f gets those columns of several chunks at once (about a chunk's worth of values: the
        later steps test few configurations, and many small parts cost more than a few large)."""
        count = -(-draws // self.rows)
        per = 1 if columns is None else max(1, min(self.values.shape[1] // len(columns), -(-count // THREADS)))
        parts = [range(i, min(i + per, count)) for i in range(0, count, per)]
        if self.pool is None:
            return [f(self._take(part, draws, columns)) for part in parts]
        futures = []
        for part in parts:
            self._draw(part[-1])  # while the pool works through the parts before
            futures.append(self.pool.submit(lambda part: f(self._take(part, draws, columns)), part))
        return [future.result() for future in futures]

    def _take(self, part: range, draws: int, columns: list[int] | None) -> np.ndarray:
        chunks = [self._scaled(i)[:draws - i * self.rows] for i in part]
        if columns is None and len(chunks) == 1:
            return chunks[0]
        return np.concatenate([chunk if columns is None else chunk[:, :, columns] for chunk in chunks])

    def _draw(self, i: int) -> None:
        while len(self.chunks) <= i:  # in order, so the draws are those of one array
            rows = min(self.rows, self.draws - len(self.chunks) * self.rows)
            self.chunks.append(self.rng.standard_normal((rows, *self.values.shape)))
            self.scaled.append(False)

    def _scaled(self, i: int) -> np.ndarray:
        self._draw(i)
        noise = self.chunks[i]
        if not self.scaled[i]:  # once, by the thread that first takes this chunk
            start = i * self.rows
            noise *= np.sqrt(_variances(self.s2, self.posterior, slice(start, start + len(noise))))  # in place: a second array this large costs more to allocate than to fill
            noise[:, self.missing] = np.nan
            self.scaled[i] = True
        return noise


def _variances(s2: np.ndarray, posterior: tuple[np.ndarray, np.ndarray] | None, rows: slice) -> np.ndarray:
    """Some simulated studies' noise variance per configuration, (studies, 1, configs): s2 in
    each, or each study's draw from their posterior (scaled to keep their median), then
    Shukla's correction: E[s2_j] = var_j (1 - 2/k) + sum(var) / k^2."""
    if posterior is None:
        return s2
    k = len(s2)
    drawn = posterior[0] / posterior[1][rows]
    variances = (drawn - drawn.sum(axis=-1, keepdims=True) / (k * (k - 1))) / (1 - 2 / k)
    return np.maximum(variances, 0.01 * variances.mean(axis=-1, keepdims=True))


def _step_p(values: np.ndarray, null: _Null, draws: int, observed: np.ndarray, remaining: list[int],
            settled: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """p-values of the remaining columns' t statistics against the largest of them when the
    remaining columns and column 0 are tied, from the first `draws` simulated studies; the
    settled configurations' observed variances still inform each simulated study's prior,
    as they inform the observed one. With one column left and nothing moderated (two
    configurations), the exact paired t-test."""
    if len(remaining) == 1 and len(settled[0]) + 1 < moderation.MIN_VARIANCES:
        both = ~np.isnan(values[:, 0]) & ~np.isnan(values[:, remaining[0]])
        return np.array([2 * st.t.sf(observed[remaining[0]], both.sum() - 1)])
    columns = None if len(remaining) + 1 == values.shape[1] else [0, *remaining]  # all (in another order): no copy
    complete = not np.isnan(values).any()

    def largest(studies: np.ndarray) -> np.ndarray:  # each simulated study on its own
        return _largest_t(studies, settled) if complete else worse_t(studies, others=settled).max(axis=-1)

    null_max = np.concatenate(null.map(largest, draws, columns))
    return (1 + np.sum(null_max[:, None] >= observed[remaining], axis=0)) / (1 + len(null_max))


def _moments(noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.mean and np.var (ddof=1) over the seeds (axis 1), the same sums in the same order,
    a seed at a time: no temporary as large as the noise."""
    means = noise.mean(axis=1)
    squares = np.zeros_like(means)
    for seed in range(noise.shape[1]):
        deviation = noise[:, seed] - means
        squares += deviation * deviation
    return means, squares / (noise.shape[1] - 1)


def _largest_t(values: np.ndarray, settled: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Each simulated study's largest t statistic, as `worse_t(values, others=settled)` works it
    out (to rounding), for studies with every seed, from each configuration's mean and variance
    and its covariance with the study's best (var_b + var_j - 2 cov_bj is the variance of the
    difference): no array as large as the values but theirs."""
    means, variances = _moments(values)
    studies, seeds, k = values.shape
    rows = np.arange(studies)
    best = np.argmax(means, axis=-1)
    centred = values[rows, :, best] - means[rows, best][:, None]  # (studies, seeds)
    covariances = (np.matmul(centred[:, None, :], values)[:, 0, :] - means * centred.sum(axis=-1)[:, None]) / (seeds - 1)
    s2 = np.maximum(variances[rows, best][:, None] + variances - 2 * covariances, 0.0)
    tested = np.ones((studies, k), dtype=bool)
    tested[rows, best] = False
    d = _moderated(np.full((studies, k), seeds), means[rows, best][:, None] - means, s2, tested, True, settled)
    return _t(d).max(axis=-1)


def _seed_of(values: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(np.ascontiguousarray(values, dtype=float).tobytes(), digest_size=8).digest())
