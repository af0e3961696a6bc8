"""Faults found by trying the report as a new user would, each pinned by a test: bands past
an accuracy's range, per-epoch curves drawn against "mini-batch steps", test metrics not
shown, a notebook cell flooded by the results object."""

from __future__ import annotations

import pandas as pd
import pytest
from synthetic_results import write_results

import sweeper
from sweeper.analysis import plots, report_data, show
from sweeper.analysis.report import write_report
from sweeper.cli import main


@pytest.fixture
def folder(tmp_path):
    return write_results(tmp_path / "results" / "faults", {"learning_rate": [0.01, 0.1]}, seeds=3)


def spread(folder, trial="cfg001", values=(0.99, 0.5, 0.99)):
    """One configuration's seeds far apart at every evaluation, near the top of the range."""
    curves = pd.read_csv(folder / "curves.csv")
    for seed, v in enumerate(values):
        hit = (curves["trial"] == trial) & (curves["seed"] == seed) & (curves["metric"] == "acc")
        curves.loc[hit, "value"] = v
    curves.to_csv(folder / "curves.csv", index=False)


def test_an_accuracy_band_stays_within_0_and_1(folder):
    spread(folder)
    r = sweeper.load(folder)
    data = report_data.learning_curves(r.curves, r.summary, "val", "acc")
    assert data["ci_high"].max() == 1.0 and data["ci_low"].min() >= 0  # the t interval alone reaches 1.6


def test_per_epoch_curves_are_drawn_against_epochs_and_said_to_be(folder, monkeypatch):
    curves = pd.read_csv(folder / "curves.csv")
    curves = curves[curves["metric"] != "batch_loss"]  # a user's loop: log(epoch=..., train_loss=..., val_acc=...)
    curves.to_csv(folder / "curves.csv", index=False)
    drawn = {}
    original = plots.curves
    monkeypatch.setattr(plots, "curves", lambda data, path, **kw: drawn.setdefault(path.name, kw) and original(
        data, path, **kw))
    report = write_report(sweeper.load(folder))
    assert {kw["x"] for kw in drawn.values()} == {"epoch"} and {kw["xlabel"] for kw in drawn.values()} == {"epoch"}
    caption = next(p.caption for p in report.plots if p.file == "curves_train_loss.png")
    assert "mini-batch" not in caption and "one value per epoch" in caption


def test_mini_batch_losses_stay_against_iterations(folder):
    r = sweeper.load(folder)
    assert report_data.curve_axis(report_data.learning_curves(r.curves, r.summary, "train", "batch_loss")) == "iteration"
    caption = next(p.caption for p in write_report(r).plots if p.file == "curves_train_loss.png")
    assert "each mini-batch's loss" in caption


def test_test_metrics_are_in_the_table_of_show_and_the_report(folder, capsys):
    trials = pd.read_csv(folder / "trials.csv")
    trials.insert(trials.columns.get_loc("seconds"), "test_acc", trials["val_acc"] - 0.01)
    trials.to_csv(folder / "trials.csv", index=False)
    r = sweeper.load(folder)
    assert "test_acc at last epoch, mean [95% CI]" in report_data.display_table(r.summary, r.comparisons, r.metric)
    assert main(["show", str(folder)]) == 0
    assert "test_acc at last epoch, mean [95% CI]" in capsys.readouterr().out
    assert "test_acc at last epoch, mean [95% CI]" in write_report(r).index.read_text()


def test_the_results_object_is_one_line_in_a_notebook_and_a_table_in_html(folder, monkeypatch):
    r = sweeper.load(folder)
    text = repr(r)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("<Results faults: 6 trials (6 planned), 2 configurations, best learning_rate=")
    page = r._repr_html_()
    assert page.count("<tr") == 3 and "verdict" in page
    monkeypatch.setattr(show, "answer", lambda results: "Best: learning_rate=0.1; 1 of 2 configurations is worse.")
    assert "Best: learning_rate=0.1; 1 of 2 configurations is worse." in r._repr_html_()


def test_show_prints_what_sweep_show_prints(folder, capsys):
    assert main(["show", str(folder), "--top", "1"]) == 0
    printed = capsys.readouterr().out
    sweeper.load(folder).show(top=1)
    assert capsys.readouterr().out == printed and "verdict" in printed
    assert "spent" not in printed  # a plain study spends its design: no budget line that reads as one
