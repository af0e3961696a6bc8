"""`sweep run` then `sweep report` on a tiny real study (digits, no files needed)."""

from __future__ import annotations

import pandas as pd
import pytest

import sweeper
from sweeper.cli import main

STUDY = """
from sweeper import Split, Study

study = Study(name="tiny", dataset="digits", split=Split(train=300, val=200),
              fixed={"model": "mlp", "hidden_size": 16, "epochs": 2, "batch_size": 32},
              space={"learning_rate": [0.05, 0.5], "optimizer": ["sgd", "adam"]}, seeds=2)
"""


@pytest.mark.slow
def test_run_then_report_on_real_training(tmp_path, capsys):
    study = tmp_path / "tiny.py"
    study.write_text(STUDY)
    results = tmp_path / "results"
    assert main(["run", str(study), "--results", str(results), "--executor", "sequential", "--quiet"]) == 0
    assert main(["report", str(study), "--results", str(results)]) == 0
    report = results / "tiny" / "report"
    assert {p.name for p in report.iterdir()} == {
        "index.html", "summary.csv", "comparisons.csv", "curves_val_acc.png", "curves_train_loss.png",
        "seeds.png", "by_learning_rate.png", "by_optimizer.png", "gap.png", "importance.png", "parallel.png",
        "slice_learning_rate.png", "slice_optimizer.png"}
    summary = pd.read_csv(report / "summary.csv")
    assert len(summary) == 4 and summary["n_seeds"].eq(2).all()
    r = sweeper.load("tiny", results=results)
    assert r.curves["iteration"].max() == r.trials["iterations"].max()
    capsys.readouterr()
    assert main(["ls", "--results", str(results)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:4] == ["tiny", "8/8", "0", "0"]
