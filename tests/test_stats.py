"""sweeper.analysis.stats: summaries and comparisons, checked against synthetic data whose truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from synthetic_results import null_studies, trials_table

from sweeper.analysis import stats, stepdown

REPS = 4000


def within_binomial(hits: float, reps: int, rate: float, sds: float = 4.0) -> bool:
    """hits (a proportion of reps) is within `sds` binomial standard deviations of rate."""
    return abs(hits - rate) <= sds * np.sqrt(rate * (1 - rate) / reps)


def compare(values: np.ndarray, statuses: np.ndarray | None = None, direction: str = "maximize") -> pd.DataFrame:
    trials = trials_table(values, statuses)
    summary = stats.summarize(trials, ["x"], "val_acc", direction)
    return stats.compare_to_best(trials, summary, "val_acc", direction)


# -- (a) no real difference: a difference is flagged about 5 % of the time -----------------
def test_paired_test_false_positive_rate_is_nominal():
    rng = np.random.default_rng(1)
    data = null_studies(rng, REPS, seeds=5, configs=2)
    p = stats.paired_test(data[:, :, 0] - data[:, :, 1])["p_value"]
    assert within_binomial(np.mean(p < stats.ALPHA), REPS, stats.ALPHA)


@pytest.mark.parametrize("configs", [2, 5, 12])
def test_picking_the_best_then_testing_keeps_the_family_error_at_alpha(configs):
    """With every configuration tied, the chance that *any* is called worse than the observed
    best is ALPHA, however many there are (testing the winner with plain Holm gives ~13 % at 12)."""
    rng = np.random.default_rng(configs)
    data = null_studies(rng, REPS, seeds=5, configs=configs)
    observed = stats.worse_t(data).max(axis=-1)  # the first step of the step-down decides any rejection
    null = stats.worse_t(np.random.default_rng(99).standard_normal((20_000, 5, configs))).max(axis=-1)
    p = (1 + np.sum(null[None, :] >= observed[:, None], axis=1)) / (1 + len(null))
    assert within_binomial(np.mean(p < stats.ALPHA), REPS, stats.ALPHA)


@pytest.mark.slow
def test_whole_comparison_flags_about_5_percent_of_null_studies(monkeypatch):
    """End to end through the tables (fewer repetitions, so a looser check than above)."""
    monkeypatch.setattr(stepdown, "NULL_DRAWS", 500)
    rng = np.random.default_rng(3)
    reps = 100
    flagged = [(compare(v)["verdict"] == stats.WORSE).any() for v in null_studies(rng, reps, seeds=6, configs=4)]
    assert within_binomial(np.mean(flagged), reps, stats.ALPHA)


# -- (b) a real difference of a few standard deviations, with enough seeds, is found --------
def test_real_difference_is_found(monkeypatch):
    monkeypatch.setattr(stepdown, "NULL_DRAWS", 500)
    rng = np.random.default_rng(4)
    reps = 40
    found = [(compare(v)["verdict"] == stats.WORSE).sum() for v in null_studies(rng, reps, 10, 4, shift=[3, 0, 0, 0])]
    assert np.mean(np.array(found) == 3) >= 0.9  # all three worse configurations, in nearly every study


def test_power_matches_theory_at_the_seeds_needed():
    rng = np.random.default_rng(5)
    effect = 1.0  # paired differences: mean 1 sd
    n = int(stats.seeds_needed(effect))
    p = stats.paired_test(rng.normal(effect, 1.0, size=(REPS, n)))["p_value"]
    power = float(stats.power_paired(effect, n))
    assert power >= stats.POWER
    assert within_binomial(np.mean(p < stats.ALPHA), REPS, power)


def test_seeds_needed_matches_published_values():
    # G*Power, paired t-test, two-sided alpha 0.05, power 0.8: dz 0.5 -> 34 pairs, dz 1 -> 10
    assert stats.seeds_needed(0.5) == 34
    assert stats.seeds_needed(-1.0) == 10
    assert np.isnan(stats.seeds_needed(0.0))
    assert stats.seeds_needed(1e-4) == stats.MAX_SEEDS


# -- (c) the confidence intervals cover the true mean at about their nominal rate ----------
@pytest.mark.parametrize("n", [3, 5, 20])
def test_mean_interval_coverage_is_nominal(n):
    rng = np.random.default_rng(n)
    s = stats.mean_ci(rng.normal(0.9, 0.02, size=(REPS, n)))
    covered = (s["ci_low"] <= 0.9) & (0.9 <= s["ci_high"])
    assert within_binomial(np.mean(covered), REPS, stats.CONFIDENCE)


def test_difference_interval_coverage_is_nominal():
    rng = np.random.default_rng(6)
    data = null_studies(rng, REPS, seeds=5, configs=2, shift=[1.0])
    true = 0.02 * 1.0
    s = stats.paired_test(data[:, :, 1] - data[:, :, 0])
    covered = (s["ci_low"] <= -true) & (-true <= s["ci_high"])
    assert within_binomial(np.mean(covered), REPS, stats.CONFIDENCE)


def test_summary_intervals_are_the_ones_whose_coverage_is_checked():
    rng = np.random.default_rng(7)
    values = rng.normal(0.9, 0.02, size=(6, 9))
    s = stats.summarize(trials_table(values), ["x"], "val_acc", "maximize")
    expected = stats.moderated_ci(values.T)
    assert np.all(expected["df"] > 5)  # 9 configurations: moderated
    assert s["val_acc_ci_low"].to_numpy() == pytest.approx(expected["ci_low"])
    assert s["val_acc_ci_high"].to_numpy() == pytest.approx(expected["ci_high"])
    assert s["val_acc_sd"].to_numpy() == pytest.approx(values.std(axis=0, ddof=1))  # each configuration's own


@pytest.mark.parametrize(("configs", "seeds"), [(3, 3), (8, 3), (12, 5)])
def test_moderated_interval_coverage_is_nominal(configs, seeds):
    """Configurations with equal variances: the moderated intervals cover their means at 95 %
    (below 8 configurations they are each configuration's own t intervals)."""
    rng = np.random.default_rng(configs + seeds)
    reps = REPS // configs
    s = stats.moderated_ci(rng.normal(0.9, 0.02, size=(reps, configs, seeds)))
    covered = (s["ci_low"] <= 0.9) & (0.9 <= s["ci_high"])
    assert within_binomial(np.mean(covered), reps * configs, stats.CONFIDENCE, sds=5)
    assert (np.median(s["df"]) > seeds - 1) == (configs >= stats.MODERATED_INTERVALS)  # they borrowed


# -- the tables ----------------------------------------------------------------------------
def test_summary_excludes_failed_and_diverged_seeds_but_counts_them():
    values = np.array([[0.9, 0.5], [0.92, 0.6], [0.94, 0.7], [0.1, 0.8]])
    statuses = np.array([["ok", "ok"], ["ok", "ok"], ["ok", "failed"], ["diverged", "ok"]], dtype=object)
    s = stats.summarize(trials_table(values, statuses), ["x"], "val_acc", "maximize").set_index("trial")
    assert s.loc["c0", ["n_seeds", "n_ok", "n_failed", "n_diverged"]].tolist() == [4, 3, 0, 1]
    assert s.loc["c1", ["n_ok", "n_failed"]].tolist() == [3, 1]
    assert s.loc["c0", "val_acc_mean"] == pytest.approx(0.92)
    low, high = st.t.interval(0.95, 2, loc=0.92, scale=st.sem([0.9, 0.92, 0.94]))
    assert (s.loc["c0", "val_acc_ci_low"], s.loc["c0", "val_acc_ci_high"]) == pytest.approx((low, high))
    assert s.loc["c0", "val_acc_min"] == 0.9 and s.loc["c0", "val_acc_max"] == 0.94
    assert s["rank"].tolist() == [1, 2]


def test_an_unstable_configuration_is_not_ranked_best_on_the_seeds_it_survived():
    values = np.array([[0.90, 0.99]] * 8) + np.arange(8)[:, None] * 0.001
    statuses = np.array([["ok", "ok"]] + [["ok", "diverged"]] * 7, dtype=object)
    trials = trials_table(values, statuses)
    s = stats.summarize(trials, ["x"], "val_acc", "maximize")
    assert s["rank"].tolist() == [1, 2] and stats.best_trial(s) == "c0"
    c = stats.compare_to_best(trials, s, "val_acc", "maximize").set_index("trial")
    assert "ranked with each lost seed at the worst value" in c.loc["c1", "reason"]


@pytest.mark.parametrize("metric, direction, good, bad, lost_rank", [
    ("val_acc", "maximize", 0.9, (0.6, 0.7), 2),  # a lost seed counts as 0 accuracy: 0.675, between 0.6 and 0.7
    ("val_loss", "minimize", 0.1, (0.5, 0.3), 3),  # no worst loss to count it as: after every one that lost none
])
def test_a_lost_seed_counts_against_its_configuration_in_the_rank(metric, direction, good, bad, lost_rank):
    values = np.array([[good, *bad]] * 4)
    statuses = np.array([["ok", "ok", "ok"]] * 3 + [["diverged", "ok", "ok"]], dtype=object)
    s = stats.summarize(trials_table(values, statuses, metric), ["x"], metric, direction)
    assert s["rank"].tolist() == [lost_rank, 3 if lost_rank == 2 else 2, 1] and stats.best_trial(s) == "c2"


def test_equal_scores_share_a_rank_and_the_first_proposed_is_the_best():
    s = stats.summarize(trials_table(np.array([[0.5, 0.8, 0.8]] * 3)), ["x"], "val_acc", "maximize")
    assert s["rank"].tolist() == [3, 1, 1] and stats.best_trial(s) == "c1"


def test_summary_ranks_by_direction_and_keeps_first_appearance_order():
    values = np.array([[0.3, 0.1, 0.2], [0.31, 0.11, 0.21]])
    s = stats.summarize(trials_table(values, metric="val_loss"), ["x"], "val_loss", "minimize")
    assert s["trial"].tolist() == ["c0", "c1", "c2"]
    assert s["rank"].tolist() == [3, 1, 2]
    assert s["label"].tolist() == ["x=0", "x=1", "x=2"]


def test_comparison_pairs_on_common_seeds_and_flags_too_few():
    values = np.array([[0.90, 0.80, 0.5], [0.91, 0.81, 0.5], [0.92, 0.83, 0.5], [0.93, 0.82, 0.5]])
    statuses = np.array([["ok", "ok", "failed"], ["ok", "ok", "failed"], ["ok", "failed", "ok"], ["ok", "ok", "failed"]],
                        dtype=object)
    c = compare(values, statuses).set_index("trial")
    assert c.loc["c0", "verdict"] == stats.BEST
    assert c.loc["c1", "n_common"] == 3
    assert c.loc["c1", "difference"] == pytest.approx(np.mean([-0.10, -0.10, -0.11]))
    assert c.loc["c2", "verdict"] == stats.UNTESTED and c.loc["c2", "n_common"] == 1


def test_undecided_comparison_says_how_many_seeds_are_needed():
    values = np.array([[0.90, 0.895], [0.91, 0.912], [0.92, 0.913]])
    c = compare(values).set_index("trial")
    assert c.loc["c1", "verdict"] == stats.SAME
    assert c.loc["c1", "seeds_needed"] > 3


def test_two_configurations_reduce_to_the_paired_t_test():
    rng = np.random.default_rng(9)
    values = rng.normal(size=(6, 2))
    values[:, 0] += 1.0
    p_t = st.ttest_rel(values[:, 0], values[:, 1]).pvalue
    assert stats.stepdown(values)[1] == pytest.approx(p_t, rel=1e-9)  # exact: no simulation


def test_losses_are_compared_with_lower_as_better():
    rng = np.random.default_rng(10)
    values = 0.3 + 0.01 * rng.normal(size=(8, 3)) + np.array([0.0, 0.1, 0.002])
    trials = trials_table(values, metric="val_loss")
    summary = stats.summarize(trials, ["x"], "val_loss", "minimize")
    c = stats.compare_to_best(trials, summary, "val_loss", "minimize").set_index("trial")
    assert c.loc["c0", "verdict"] == stats.BEST
    assert c.loc["c1", "verdict"] == stats.WORSE and c.loc["c1", "difference"] > 0
    assert c.loc["c2", "verdict"] == stats.SAME


def test_verdicts_do_not_depend_on_the_order_rows_were_written():
    values = null_studies(np.random.default_rng(3), 1, 6, 8)[0]
    table = trials_table(values)
    shuffled = table.sample(frac=1, random_state=1).reset_index(drop=True)
    results = []
    for t in (table, shuffled):
        summary = stats.summarize(t, ["x"], "val_acc", "maximize")
        results.append(stats.compare_to_best(t, summary, "val_acc", "maximize").set_index("trial")["p_adjusted"])
    assert results[0].sort_index().equals(results[1].sort_index())


def test_comparisons_record_the_method_and_the_moderated_degrees_of_freedom():
    rng = np.random.default_rng(12)
    c = compare(null_studies(rng, 1, seeds=3, configs=8, shift=[4])[0]).set_index("trial")
    tested = c["verdict"] != stats.BEST
    assert (c["method"] == "moderated step-down v2").all()
    assert (c.loc[tested, "df"] > c.loc[tested, "n_common"] - 1).all()  # the prior added degrees of freedom
    t = c.loc[tested].iloc[0]
    half = (t["diff_ci_high"] - t["diff_ci_low"]) / 2
    se = abs(t["difference"] / t["effect_size"]) / np.sqrt(t["n_common"])
    assert half == pytest.approx(st.t.ppf(0.975, t["df"]) * se)  # the interval uses the moderated variance
    assert t["p_value"] == pytest.approx(2 * st.t.sf(abs(t["difference"]) / se, t["df"]))


def test_two_configurations_keep_the_plain_paired_t_test_and_interval():
    rng = np.random.default_rng(13)
    values = rng.normal(0.9, 0.02, size=(5, 2))
    c = compare(values).set_index("trial")
    d = values[:, 1] - values[:, 0]
    plain = stats.paired_test(d)
    assert c.loc["c1", "df"] == 4 and c.loc["c1", "p_value"] == pytest.approx(float(plain["p_value"]))
    assert c.loc["c1", "diff_ci_low"] == pytest.approx(float(plain["ci_low"]))


def test_seeds_needed_counts_the_degrees_of_freedom_the_prior_adds():
    assert stats.seeds_needed(1.0, prior_df=20) < stats.seeds_needed(1.0) == 10
    assert stats.power_paired(1.0, 5, prior_df=20) > stats.power_paired(1.0, 5)


def test_power_has_no_gaps_where_the_wrong_tail_underflows():
    """scipy's non-central t gives NaN for the wrong side's vanishing share at some seed counts;
    the power must still rise with the seeds, and seeds needed must not jump when the prior's
    degrees of freedom move by 1e-12 (it said 7 or 11 seeds for the same comparison)."""
    alpha, effect = 0.05 / 1187, -2.565832
    power = stats.power_paired(effect, np.arange(2, 20), alpha, 11.9992)
    assert np.all(np.isfinite(power)) and np.all(np.diff(power) > 0)
    assert {stats.seeds_needed(effect, alpha, prior_df=11.9992 + d) for d in (-1e-12, 0.0, 1e-12)} == {7.0}
