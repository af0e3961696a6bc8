"""The report draws the study's own metric: its learning curves, labels and gap plot follow `metric`, a user's too."""

from __future__ import annotations

import json

import pandas as pd
from synthetic_results import write_results

import sweeper
from sweeper.analysis import plots
from sweeper.analysis.report import _curves, write_report
from sweeper.analysis.results import Results


def test_a_loss_study_draws_its_loss_curves(tmp_path):
    folder = write_results(tmp_path / "loss", {"learning_rate": [0.01, 0.1]}, seeds=3, metric="val_loss")
    files = {p.file for p in write_report(sweeper.load(folder)).plots}
    assert "curves_val_loss.png" in files and "curves_val_acc.png" not in files
    assert "curves_train_loss.png" in files and "gap.png" in files


def test_a_user_metric_draws_its_own_curves_and_labels(tmp_path):
    folder = write_results(tmp_path / "f1", {"learning_rate": [0.01, 0.1]}, seeds=3)
    r = sweeper.load(folder)
    trials = r.trials.assign(val_f1=r.trials["val_acc"] * 0.9)
    trials = trials[[*[c for c in trials.columns if c not in ("val_f1", "seconds", "error")], "val_f1", "seconds", "error"]]
    val = r.curves[(r.curves["split"] == "val") & (r.curves["metric"] == "acc")].astype({"metric": str})
    curves = pd.concat([r.curves.astype({"metric": str}), val.assign(metric="f1")], ignore_index=True)
    study = {**json.loads((folder / "study.json").read_text()), "metric": "val_f1", "direction": "maximize"}
    own = Results(folder, study, trials, curves)
    drawn = list(_curves(own, tmp_path))
    assert [p.file for p in drawn] == ["curves_val_f1.png", "curves_train_loss.png"]
    assert "validation F1" in drawn[0].caption and (tmp_path / "curves_val_f1.png").exists()
    assert own.summary["val_f1_mean"].notna().all()


def test_labels_come_from_the_metric_names_not_a_table_of_known_ones():
    assert plots.metric_label("val_acc") == "validation accuracy (fraction correct)"
    assert plots.metric_label("train_loss") == "training loss"  # cross-entropy or MSE: the task decides
    assert plots.metric_label("val_rmse", "minimize") == "validation RMSE (lower is better)"
    assert plots.metric_label("val_f1", "maximize") == "validation F1 (higher is better)"
    assert not hasattr(plots, "NAMES")
