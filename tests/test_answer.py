"""sweeper.analysis.answer: the study's answer in one sentence, whatever state the study is in."""

from __future__ import annotations

import numpy as np
import pandas as pd
from synthetic_results import trials_table, write_results

from sweeper.analysis import answer, stats

EIGHT = np.array([  # 8 configurations x 3 seeds: the best at 0.80, six close to it (x=6 at 0.715 apart on its
    # own interval, not once adjusted), one far behind
    [0.80, 0.79, 0.78, 0.77, 0.76, 0.75, 0.72, 0.30],
    [0.83, 0.80, 0.80, 0.79, 0.80, 0.77, 0.71, 0.30],
    [0.77, 0.78, 0.80, 0.78, 0.77, 0.76, 0.715, 0.35]])


def tables(values: np.ndarray, statuses: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    trials = trials_table(values, statuses)
    summary = stats.summarize(trials, ["x"], "val_acc", "maximize")
    return summary, stats.compare_to_best(trials, summary, "val_acc", "maximize")


def test_the_answer_names_the_best_its_interval_and_the_verdicts():
    summary, comparisons = tables(EIGHT)
    text = answer.answer(summary, comparisons, "val_acc")
    low, high = summary.loc[0, ["val_acc_ci_low", "val_acc_ci_high"]]
    assert text.startswith(f"Best: x=0, val_acc 0.800 [{low:.3f}, {high:.3f}] over 3 seeds; ")
    assert "5 of the 7 others are within the noise of 3 seeds (about " in text
    assert "seeds would separate #2 from #1); 1 is not separated yet (its own interval excludes 0" in text
    assert text.endswith("1 is worse.")
    needed = comparisons.set_index("trial").loc["c2", "seeds_needed"]  # #2 by its mean, 0.793
    assert f"about {needed} seeds" in text


def test_one_configuration_and_no_successful_seed():
    summary, comparisons = tables(EIGHT[:, :1])
    assert answer.answer(summary, comparisons, "val_acc").startswith("Only one configuration: x=0, val_acc 0.800")
    statuses = np.full(EIGHT.shape, "failed", dtype=object)
    summary, comparisons = tables(EIGHT, statuses)
    assert answer.answer(summary, comparisons, "val_acc") == "No configuration has a successful seed yet, so there is no best one."


def test_ties_failed_seeds_and_too_few_seeds_are_said():
    values = np.array([[0.8, 0.8, 0.5], [0.9, 0.9, 0.6]])  # two seeds: nothing can be tested
    statuses = np.array([["ok", "ok", "ok"], ["ok", "ok", "ok"]], dtype=object)
    summary, comparisons = tables(values, statuses)
    text = answer.answer(summary, comparisons, "val_acc")
    assert text.startswith("Best (tied on the mean with 1 other): x=0, val_acc 0.850 over 2 seeds;")  # no interval
    assert text.endswith("2 are untested (fewer than 3 seeds in common); none is worse.")
    statuses = np.array([["ok"] * 8, ["ok"] * 8, ["failed"] * 8, ["ok"] * 8], dtype=object)
    summary, comparisons = tables(np.vstack([EIGHT, EIGHT[:1]]), statuses)
    assert "over 3 of 4 seeds (1 failed);" in answer.answer(summary, comparisons, "val_acc")


def test_pruned_configurations_are_counted_apart():
    summary, comparisons = tables(EIGHT)
    comparisons.loc[comparisons["trial"].isin(["c6", "c7"]), "verdict"] = stats.PRUNED
    text = answer.answer(summary, comparisons, "val_acc")
    assert text.endswith("2 are pruned; none is worse.") and "5 of the 7 others" in text


def test_the_moderation_note_says_how_much_was_borrowed():
    summary, comparisons = tables(EIGHT)
    note = answer.moderation_note(comparisons)
    worth = (comparisons["df"] - 2).max()
    assert 0 < worth <= 3 * 2  # a difference's variance borrows at most 3 (n - 1): see stepdown._most
    assert note.startswith(f"Variances moderated across 8 configurations: the prior is worth {worth:.1f} seeds, so "
                           f"3-seed comparisons have {2 + worth:.1f} degrees of freedom instead of 2")
    assert (comparisons["method"] == "moderated step-down v2").all()
    five = answer.moderation_note(tables(EIGHT[:, :5])[1])
    assert five.startswith("The verdicts' test borrows across the 5 configurations' variances; the intervals")
    two = answer.moderation_note(tables(EIGHT[:, :2])[1])
    assert two.startswith("Variances not moderated (too few configurations")


def test_the_report_and_show_open_with_the_answer(tmp_path, capsys):
    from synthetic_results import write_results

    import sweeper
    from sweeper.analysis.report import write_report
    from sweeper.cli import main

    folder = write_results(tmp_path / "grid", {"learning_rate": [0.01, 0.1, 0.2, 0.3]}, seeds=3)
    page = write_report(sweeper.load(folder)).index.read_text()
    sentence = sweeper.load(folder).answer()
    assert f'<h1>grid</h1>\n<p class="answer">{sentence}</p>' in page and sentence.startswith("Best: learning_rate=")
    assert "The verdicts&#x27; test borrows across the 4 configurations" in page
    assert main(["show", "grid", "--results", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == sentence


# The case: 3 seeds, the best at 0.80, x=1 at 0.55, 0.33, 0.33 (mean 0.40), six more
# configurations so that the step-down adjusts for 7 comparisons.
APART = np.array([
    [0.80, 0.55, 0.70, 0.85, 0.60, 0.75, 0.90, 0.65],
    [0.85, 0.33, 0.90, 0.60, 0.80, 0.70, 0.55, 0.85],
    [0.75, 0.33, 0.55, 0.80, 0.70, 0.90, 0.70, 0.60]])


def test_an_interval_excluding_zero_is_never_called_within_the_noise(tmp_path):
    """The words beside a difference's interval agree with it, in comparisons.csv (written by
    the report), the answer sentence and the table `sweep show` prints."""
    import sweeper
    from sweeper.analysis import show
    from sweeper.analysis.report import write_report

    folder = write_results(tmp_path / "apart", {"learning_rate": [0.01 * (c + 1) for c in range(8)]}, sampler="random")
    trials = pd.read_csv(folder / "trials.csv")
    trials["val_acc"] = APART[trials["seed"], trials["trial"].str[3:].astype(int)]
    trials.to_csv(folder / "trials.csv", index=False)
    r = sweeper.load(folder)
    write_report(r)
    comparisons = pd.read_csv(folder / "report" / "comparisons.csv").set_index("label")
    apart = comparisons.loc["learning_rate=0.02"]
    assert apart["diff_ci_high"] < 0 and apart["p_adjusted"] >= stats.ALPHA  # apart alone, not once adjusted for 7
    assert apart["verdict"] == stats.UNSEPARATED == "not separated yet" and apart["seeds_needed"] == 4
    undecided = comparisons[comparisons["verdict"].isin(stats.UNDECIDED)]
    excludes = (undecided["diff_ci_low"] > 0) | (undecided["diff_ci_high"] < 0)
    assert ((undecided["verdict"] == stats.UNSEPARATED) == excludes).all() and len(undecided) == 7
    said = r.answer()
    assert "6 of the 7 others are within the noise of 3 seeds" in said
    assert "1 is not separated yet (its own interval excludes 0" in said and "about 4 seeds would tell" in said
    line = next(x for x in show.text(r).splitlines() if "learning_rate=0.02 " in x)
    low, high = apart["diff_ci_low"], apart["diff_ci_high"]
    assert f"[{low:+.4f}, {high:+.4f}]" in line and "not separated yet: about 4 seeds would tell" in line
    assert "indistinguishable" not in line and "within the noise" not in line
