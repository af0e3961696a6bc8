"""Empirical-Bayes variances: each configuration's variance shrunk towards a prior fitted to all of them.

With 3 seeds a variance has 2 degrees of freedom and is very uncertain, so a t statistic
built on it can hardly call anything worse. A study has many configurations, though, and
their variances say how large a variance usually is. As in limma (Smyth 2004, "Linear
models and empirical Bayes methods for assessing differential expression"), the sample
variances s_j^2 (with d_j degrees of freedom) are taken to be scaled chi-square draws
around true variances that follow a scaled inverse chi-square prior with d0 degrees of
freedom and scale s0^2. The prior is estimated by the moments of log s_j^2, and each
variance becomes

    s~_j^2 = (d0 s0^2 + d_j s_j^2) / (d0 + d_j),   with d0 + d_j degrees of freedom,

so the prior is worth d0 extra degrees of freedom (as many as d0 more seeds would give).
d0 is infinite when the variances scatter no more than sampling alone makes them (they
are pooled), and small when they really differ (little is borrowed).

The guard, in the spirit of limma's `robust=TRUE` (Phipson et al. 2016), but on both sides
and simpler: a variance that stands out of the fitted prior borrows less, in proportion:
d0_j = d0 min(1, q / GUARD_LEVEL), where q is the chance that the r-th largest (or smallest)
of k variances drawn from the prior, s0^2 F(d_j, d0), would lie at least as far out as the
r-th one does. So one much noisier configuration does not borrow the calm ones' variance,
and a much calmer one does not borrow theirs. The prior itself is refitted with those
weights (a few times: a first fit widened by an outlier hides it), so one outlier does not
make the others borrow less either. A configuration that is noisier without showing it in
its few seeds cannot be caught: it borrows, and its t statistic is too large; the step-down's
simulated null allows for that (see `sweeper.analysis.stepdown`).

Everything is vectorised over leading axes (one prior per simulated study), with NaN for a
column that has no variance (the best one, or too few seeds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import special as sp

METHOD = "moderated step-down v2"  # comparisons.csv's `method`; v1 took each difference's own variance
MIN_VARIANCES = 3  # fewest variances a prior is fitted to: the spread of two says next to nothing
ROBUST_FITS = 2  # rounds of judging outliers: the second without the weight of those the first found
GUARD_LEVEL = 0.05  # borrowing shrinks once the r-th most extreme of k would lie this far out in under 5 % of studies
EXAMINED = 16  # the guard looks at this many of the largest and of the smallest variances
FLOOR = 1e-5  # variances below this fraction of the mean are raised to it: a log needs them positive


def trigamma_inverse(y: np.ndarray) -> np.ndarray:
    """x with trigamma(x) = y (y > 0), by Newton's method on 1 / trigamma, which is nearly linear."""
    y = np.asarray(y, dtype=float)
    tiny = y <= 1e-6  # trigamma(x) ~ 1 / x for large x
    x = np.where(tiny, 1 / np.maximum(y, 1e-300), 0.5 + 1 / np.maximum(y, 1e-300))
    for _ in range(50):
        tri, tetra = _polygammas(x)
        step = np.where(tiny, 0.0, tri * (1 - tri / y) / tetra)
        x = x + step
        if np.all(np.abs(step) <= 1e-8 * x):
            break
    return x


def _polygammas(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """trigamma(x) and tetragamma(x) for x > 0: six steps of the recurrence, then the asymptotic
    series (error below 1e-10); scipy's polygamma is far slower, and the simulated null needs
    them for thousands of studies at each step."""
    tri, tetra = np.zeros(np.shape(x)), np.zeros(np.shape(x))
    for i in range(6):
        tri += 1 / (x + i) ** 2
        tetra -= 2 / (x + i) ** 3
    z = 1 / (x + 6)
    z2 = z * z
    tri += z + z2 / 2 + z * z2 * (1 / 6 - z2 * (1 / 30 - z2 * (1 / 42 - z2 / 30)))
    tetra -= z2 + z * z2 + z2 * z2 * (1 / 2 - z2 * (1 / 6 - z2 * (1 / 6 - z2 * 3 / 10)))
    return tri, tetra


def fit_prior(s2: np.ndarray, df: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(s0^2, d0) of the scaled inverse chi-square prior of the variances s2 (..., k) with df
    degrees of freedom, NaN where a column has none, from the (weighted) moments of log s2 along
    the last axis. d0 is inf where the variances scatter no more than sampling makes them,
    and NaN (no prior) with fewer than MIN_VARIANCES of them."""
    have = np.isfinite(s2) & (df > 0)
    have, e, tri = _logs(np.where(have, s2, np.nan), np.where(have, df, 1.0))
    return _prior(*(x.sum(axis=-1) for x in _parts(np.where(have, 1.0 if weights is None else weights, 0.0), e, tri)))


def _parts(w: np.ndarray, e: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, ...]:
    """What each variance adds to the sums a prior is fitted from (`_prior`): its weight w,
    and w times its centred log e, e^2 and the log's sampling variance tri."""
    return w, w * e, w * e * e, w * tri


class _Logs(NamedTuple):
    """Worked out once per squeeze (the polygammas and logs are most of its cost)."""

    have: np.ndarray  # which columns have a variance
    e: np.ndarray  # log s2 centred on its expectation given its df (0 where there is none)
    tri: np.ndarray  # that log's sampling variance


def _logs(s2: np.ndarray, df: np.ndarray) -> _Logs:
    have = np.isfinite(s2)
    centre = _by_value(lambda half: sp.digamma(half) - np.log(half), df / 2)
    return _Logs(have, np.where(have, np.log(np.where(have, s2, 1.0)) - centre, 0.0), _trigamma(df / 2))


def _prior(n: np.ndarray, s1: np.ndarray, s2: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s0^2, d0) from the weighted sums of the centred logs (n, s1, s2) and of their sampling variances."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        excess = (s2 - n * mean**2) / np.maximum(n - 1, 1e-12) - tri / n
        d0 = np.where(excess > 0, 2 * trigamma_inverse(np.where(excess > 0, excess, 1.0)), np.inf)
        s0 = np.exp(mean + np.where(np.isfinite(d0), _digamma(d0 / 2) - np.log(d0 / 2), 0.0))
    few = n < MIN_VARIANCES - 1e-9
    return np.where(few, np.nan, s0), np.where(few, np.nan, d0)


def squeeze(s2: np.ndarray, df: np.ndarray, robust: bool = True, most: np.ndarray | None = None,
            shared: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior variances and each one's prior degrees of freedom d0_j, shape of s2 (..., k).
    A column with no variance (NaN) stays NaN; where no prior can be fitted, d0_j = 0 (each
    variance as it is). An infinite d0 counts as the degrees of freedom of all the variances
    together (as limma caps them): pooling k variances cannot tell more than they hold.
    `robust`: outlying variances borrow less (the module's guard). `most`: the most d0_j can
    be, where the variances share a part and so hold less than their degrees of freedom.
    `shared` = (variances, df), 1-d: more variances in every row's prior (the same in each:
    a step-down's settled configurations in each simulated study), not returned."""
    s2 = np.where(np.isfinite(s2) & (df > 0), s2, np.nan)
    shared_s2, shared_df = usable(shared)
    floor = _floor(s2, shared_s2)
    columns, summed = _split(shared_s2, shared_df, floor, robust)
    k = s2.shape[-1]
    if len(columns):
        s2 = np.concatenate([s2, np.broadcast_to(shared_s2[columns], (*s2.shape[:-1], len(columns)))], axis=-1)
        df = np.concatenate([np.broadcast_to(df, s2.shape[:-1] + (k,)),
                             np.broadcast_to(shared_df[columns], (*s2.shape[:-1], len(columns)))], axis=-1)
    s2 = np.maximum(s2, floor)  # NaN stays NaN
    df = np.where(np.isnan(s2), np.max(df, initial=1.0), df)  # any value where there is no variance: one value is faster
    logs = _logs(s2, df)  # where there is no variance, its weight is 0: the df there does not matter
    ones = _totals(logs, summed)
    weights, examined = np.ones(s2.shape), None
    if robust and logs.have.sum(axis=-1).max(initial=0) + summed.n > MIN_VARIANCES:  # else no outlier has others to be judged by
        examined = _Examined.of(s2, logs.have, summed.n)
        for _ in range(ROBUST_FITS):  # one outlier may hide another: judge again without the first
            weights = _not_outlying(s2, df, weights, logs, examined, _weighed(ones, logs, weights, examined))
    s0, d0 = _prior(*(a[..., 0] for a in _weighed(ones, logs, weights, examined)))
    d0 = np.minimum(d0, np.where(logs.have, df, 0.0).sum(axis=-1) + summed.df)
    s2, df, weights = s2[..., :k], df[..., :k], weights[..., :k]
    prior_df = np.where(np.isnan(d0[..., None]) | np.isnan(s2), 0.0, d0[..., None] * weights)
    if most is not None:
        prior_df = np.minimum(prior_df, most)
    s0 = np.where(np.isnan(s0), 0.0, s0)[..., None]
    with np.errstate(invalid="ignore"):
        post = (prior_df * s0 + df * s2) / (prior_df + df)
    return post, prior_df


class _Sums(NamedTuple):
    """Variances that take part in every row's prior with weight 1, as the sums the fit needs:
    how many, their degrees of freedom, and their centred logs' sum, sum of squares and sampling variance."""

    n: int = 0
    df: float = 0.0
    e: float = 0.0
    e2: float = 0.0
    tri: float = 0.0


def _totals(logs: _Logs, summed: _Sums) -> list[np.ndarray]:
    """Each row's count of variances, and sums of e, e^2 and tri over them (..., 1), all with weight 1."""
    have, e, tri = logs
    return [x.sum(axis=-1, keepdims=True) + extra
            for x, extra in zip(_parts(have.astype(float), e, tri), (summed.n, summed.e, summed.e2, summed.tri), strict=True)]


def _weighed(ones: list[np.ndarray], logs: _Logs, weights: np.ndarray, examined: _Examined | None) -> list[np.ndarray]:
    """`_totals` with `weights`: only the examined columns weigh less than 1, so the totals at
    weight 1 less what those lower weights take off (no pass over every column)."""
    if examined is None:
        return ones
    have, e, tri = (np.take_along_axis(a, examined.columns, axis=-1) for a in logs)
    less = np.where(have & examined.first, 1.0 - np.take_along_axis(weights, examined.columns, axis=-1), 0.0)
    return [total - x.sum(axis=-1, keepdims=True) for total, x in zip(ones, _parts(less, e, tri), strict=True)]


class _Examined(NamedTuple):
    """The columns the guard looks at in each row: the EXAMINED smallest variances, then the
    EXAMINED largest (past the n variances: a column with none, and no column twice on one side)."""

    columns: np.ndarray  # (..., 2 r): by rank from the bottom, then from the top
    first: np.ndarray  # (..., 2 r): not already among the smallest (a column counted once when n < 2 r)
    r: np.ndarray  # (2 r,): the ranks, 1.. from either end
    n: np.ndarray  # (..., 1): how many variances each row has, the summed ones included

    @staticmethod
    def of(s2: np.ndarray, have: np.ndarray, summed: int) -> _Examined:
        order = np.argsort(np.where(have, s2, np.inf), axis=-1)  # the columns with no variance last
        columns_n = have.sum(axis=-1, keepdims=True)
        n = columns_n + summed
        r = np.arange(1, min(EXAMINED, s2.shape[-1]) + 1)  # ranks from either end
        top = np.where(r <= n, columns_n - r, r - 1)
        at = np.concatenate([np.broadcast_to(r - 1, top.shape), top], axis=-1)
        first = np.concatenate([np.ones(top.shape, dtype=bool), top >= len(r)], axis=-1)  # a top rank beyond the bottom ones
        return _Examined(np.take_along_axis(order, at, axis=-1), first, np.concatenate([r, r]), n)


def usable(shared: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """The shared (variances, df) that take part in a prior: finite, with degrees of freedom."""
    if shared is None:
        return np.zeros(0), np.zeros(0)
    s2, df = (np.asarray(a, dtype=float) for a in shared)
    keep = np.isfinite(s2) & (df > 0)
    return s2[keep], df[keep]


def _split(s2: np.ndarray, df: np.ndarray, floor: np.ndarray, robust: bool) -> tuple[np.ndarray, _Sums]:
    """The shared variances that go in as columns, and the sums of the rest: those the guard
    can never look at in any row (with at least EXAMINED shared variances below and above
    them, none equal) and no row's floor raises. Their weight is 1 in every row, so they
    enter each prior as the same sums; a study's thousands of settled configurations then
    cost as little as one column."""
    inside = s2 > np.max(floor, initial=0.0)
    if robust:
        if len(s2) <= 2 * EXAMINED:
            return np.arange(len(s2)), _Sums()
        ordered = np.sort(s2)
        inside &= (s2 > ordered[EXAMINED - 1]) & (s2 < ordered[-EXAMINED])
    _, e, tri = _logs(s2[inside], df[inside])
    return np.flatnonzero(~inside), _Sums(int(inside.sum()), float(df[inside].sum()), float(e.sum()),
                                          float((e * e).sum()), float(tri.sum()))


def _not_outlying(s2: np.ndarray, df: np.ndarray, weights: np.ndarray, logs: _Logs, examined: _Examined,
                  sums: list[np.ndarray]) -> np.ndarray:
    """How much of the prior each variance may take, in [0, 1]: the chance that the r-th
    largest (or smallest) of n variances drawn from the prior lies at least as far out as
    this r-th one does, over GUARD_LEVEL (so the most extreme of many is not an outlier for
    being extreme). Each is judged against the prior fitted to the others (with `weights`,
    whose totals are `sums`), so an outlier cannot widen its own yardstick. Only the
    `examined` columns are looked at."""
    r, n, columns = examined.r, examined.n, examined.columns
    have, e, tri = (np.take_along_axis(a, columns, axis=-1) for a in logs)
    own = _parts(np.where(have, np.take_along_axis(weights, columns, axis=-1), 0.0), e, tri)
    s0, d0 = _prior(*(total - mine for total, mine in zip(sums, own, strict=True)))  # the others' prior
    ratio = np.where(have, np.take_along_axis(s2, columns, axis=-1), 0.0) / np.where(s0 > 0, s0, 1.0)
    smallest = np.arange(len(r)) < len(r) // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        dfn, dfd = np.take_along_axis(df, columns, axis=-1), np.where(np.isnan(d0), 1.0, np.minimum(d0, 1e8))
        p = np.where(smallest, sp.fdtr(dfn, dfd, ratio), sp.fdtrc(dfn, dfd, ratio))
        weight = np.minimum(1.0, sp.betainc(r, np.maximum(n - r + 1, 1), p) / GUARD_LEVEL)  # r-th of n uniforms <= p
    weight = np.where((r <= n) & np.isfinite(s0), np.nan_to_num(weight, nan=1.0), 1.0)
    out = np.ones(s2.shape)
    for side in (smallest, ~smallest):  # a column on both sides (n < 2 r) takes the lower weight
        np.put_along_axis(out, columns[..., side], np.minimum(np.take_along_axis(out, columns[..., side], axis=-1),
                                                              weight[..., side]), axis=-1)
    return np.where(logs.have, out, 1.0)


def _floor(s2: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """FLOOR times the mean of each row's variances (and the shared ones), (..., 1): smaller
    ones are raised to it (a zero variance has no logarithm)."""
    have = ~np.isnan(s2)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.where(have, s2, 0.0).sum(axis=-1, keepdims=True) + shared.sum()) / \
            (have.sum(axis=-1, keepdims=True) + len(shared))
    return np.where(mean > 0, FLOOR * mean, 1e-300)


def _digamma(x: np.ndarray) -> np.ndarray:
    return _by_value(sp.digamma, x)


def _trigamma(x: np.ndarray) -> np.ndarray:
    return _by_value(lambda v: _polygammas(v)[0], x)


def _by_value(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """f at each distinct value only: degrees of freedom take few values, and polygamma is slow."""
    x = np.asarray(x, dtype=float)
    if x.size and np.all(x == x.flat[0]):  # the usual case: every configuration has all its seeds
        return np.broadcast_to(np.asarray(f(x.flat[0]), dtype=float), x.shape)
    values, where = np.unique(x, return_inverse=True)
    return np.asarray(f(values))[where].reshape(x.shape)
