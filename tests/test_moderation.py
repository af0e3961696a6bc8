"""sweeper.analysis.moderation: the empirical-Bayes prior is recovered, pooled or left alone as the variances say, and the guard works."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special as sp

from bench import stepdown_v1
from sweeper.analysis import moderation, stepdown


def draw_variances(rng: np.random.Generator, k: int, df: float, s0: float, d0: float) -> np.ndarray:
    """Sample variances with df degrees of freedom around true variances from the prior (s0, d0)."""
    true = s0 * d0 / rng.chisquare(d0, size=k) if np.isfinite(d0) else np.full(k, s0)
    return true * rng.chisquare(df, size=k) / df


def test_trigamma_inverse_inverts_trigamma():
    x = np.array([0.05, 0.5, 1.0, 7.0, 300.0])
    assert moderation.trigamma_inverse(sp.polygamma(1, x)) == pytest.approx(x, rel=1e-6)


def test_the_prior_is_recovered_from_many_variances():
    s2 = draw_variances(np.random.default_rng(1), 20_000, df=2, s0=0.5, d0=8)
    s0, d0 = moderation.fit_prior(s2, np.full(s2.shape, 2.0))
    assert s0 == pytest.approx(0.5, rel=0.05) and d0 == pytest.approx(8, rel=0.15)


def test_equal_variances_are_pooled_and_a_lone_variance_is_left_alone():
    s2 = draw_variances(np.random.default_rng(2), 2000, df=4, s0=1.0, d0=np.inf)
    post, prior_df = moderation.squeeze(s2, np.full(s2.shape, 4.0))
    assert np.ptp(post) < 0.15 and np.all(prior_df > 100)  # pooled: worth the other variances' degrees of freedom
    post, prior_df = moderation.squeeze(np.array([2.0, np.nan]), np.array([2.0, 2.0]))
    assert post[0] == 2.0 and np.all(prior_df == 0)  # one variance: nothing to borrow from


def test_moderation_is_vectorised_over_studies():
    rng = np.random.default_rng(3)
    s2 = np.stack([draw_variances(rng, 12, 2, 1.0, 6) for _ in range(5)])
    df = np.full(s2.shape, 2.0)
    post, prior_df = moderation.squeeze(s2, df)
    for i in range(5):
        one = moderation.squeeze(s2[i], df[i])
        assert post[i] == pytest.approx(one[0]) and prior_df[i] == pytest.approx(one[1])


@pytest.mark.parametrize("factor", [30.0, 1 / 30])
def test_guard_a_much_noisier_or_much_calmer_variance_borrows_little(factor):
    rng = np.random.default_rng(4)
    s2 = draw_variances(rng, 12, df=9, s0=1.0, d0=np.inf)
    s2[0] *= factor
    post, prior_df = moderation.squeeze(s2, np.full(12, 9.0))
    assert prior_df[0] < 0.1 * np.median(prior_df[1:])
    assert post[0] == pytest.approx(s2[0], rel=0.1)  # keeps its own variance
    assert np.median(prior_df[1:]) > 20  # and the others still borrow much
    unguarded = moderation.squeeze(s2, np.full(12, 9.0), robust=False)[1]
    assert np.median(unguarded[1:]) < np.median(prior_df[1:])  # without the guard the outlier costs everyone


def test_a_far_behind_configuration_is_called_worse_at_3_seeds():
    """The issue's case: 12 configurations x 3 seeds, one 6 SD of a paired difference behind.
    Moderated, the step-down calls it worse in each of these studies; on each one's own
    variance (2 degrees of freedom) it did in 2 of 6."""
    before, after = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        v = rng.normal(0, 3, (3, 1)) + rng.normal(0, 1, (3, 12))
        v[:, -1] -= 6 * np.sqrt(2)
        v = v[:, np.argsort(-v.mean(axis=0))]
        after.append(stepdown.stepdown(v, exact=False)[-1])
        before.append(stepdown_v1.stepdown(v, exact=False)[-1])
    assert max(after) < stepdown.ALPHA and sum(p < stepdown.ALPHA for p in before) <= 3


def test_settled_configurations_still_inform_the_prior():
    """Five configurations behind and one tied at 3 seeds: the last steps keep the prior of all
    of them, so the ones behind are all called worse."""
    rng = np.random.default_rng(5)
    v = rng.normal(0, 3, (3, 1)) + rng.normal(0, 1, (3, 6)) - np.array([0, 0, 6, 6, 7, 8]) * np.sqrt(2)
    p = stepdown.stepdown(v[:, np.argsort(-v.mean(axis=0))])
    assert np.sum(p < stepdown.ALPHA) == 4


@pytest.mark.parametrize("robust", [True, False])
def test_shared_variances_count_as_columns_of_every_row(robust):
    """`shared` variances (a step's settled configurations) give each row the prior it would
    get with them as columns, though most of them enter as sums: the guard's extremes, the
    floor and outliers included."""
    rng = np.random.default_rng(11)
    rows = draw_variances(rng, 40 * 6, df=4, s0=1.0, d0=6).reshape(40, 6)
    rows[3, 2] = 1e-12  # raised to the floor
    rows[5, 0] = 50.0  # an outlier among the columns
    shared = draw_variances(rng, 300, df=4, s0=1.0, d0=6)
    shared[:3] = [1e-9, 40.0, np.nan]  # an extreme at each end, and no variance
    shared_df = np.full(300, 4.0)
    shared_df[10:20] = 2.0
    post, prior_df = moderation.squeeze(rows, np.full(6, 4.0), robust=robust, shared=(shared, shared_df))
    pool = np.concatenate([rows, np.broadcast_to(shared, (40, 300))], axis=-1)
    pool_df = np.concatenate([np.full((40, 6), 4.0), np.broadcast_to(shared_df, (40, 300))], axis=-1)
    full_post, full_prior = moderation.squeeze(pool, pool_df, robust=robust)
    np.testing.assert_allclose(post, full_post[:, :6], rtol=1e-10)
    np.testing.assert_allclose(prior_df, full_prior[:, :6], rtol=1e-10)
    assert moderation._split(shared[3:], shared_df[3:], np.zeros(1), robust)[1].n >= 200  # most went in as sums
