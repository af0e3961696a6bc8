"""sweeper.analysis.report: the report folder of grid and random studies, its tables, PNGs and page."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from synthetic_results import write_results

import sweeper
from sweeper.analysis.report import write_report
from sweeper.errors import ResultsError


@pytest.fixture(scope="module")
def grid_report(tmp_path_factory):
    folder = write_results(tmp_path_factory.mktemp("r") / "grid",
                           {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.9], "normalization": ["none", "bn_after_relu"]},
                           seeds=3, fail=[(0, 0, "diverged"), (2, 1, "failed")])
    return write_report(sweeper.load(folder))


@pytest.fixture(scope="module")
def random_report(tmp_path_factory):
    rng = np.random.default_rng(0)
    space = {"learning_rate": list(np.exp(rng.uniform(-7, 0, 8))), "optimizer": list(rng.choice(["sgd", "adam"], 8))}
    folder = write_results(tmp_path_factory.mktemp("r") / "rand", space, seeds=2, sampler="random")
    study = json.loads((folder / "study.json").read_text())
    study["space"]["learning_rate"] = "loguniform(0.001, 1.0)"
    (folder / "study.json").write_text(json.dumps(study))
    return write_report(sweeper.load(folder))


def test_grid_report_has_tables_and_the_plots_its_space_calls_for(grid_report):
    files = {p.file for p in grid_report.plots}
    assert files == {"curves_val_acc.png", "curves_train_loss.png", "heatmap.png", "seeds.png",
                     "by_normalization.png", "gap.png", "importance.png", "parallel.png", "contour.png",
                     *(f"slice_{n}.png" for n in ("learning_rate", "momentum", "normalization"))}
    summary = pd.read_csv(grid_report.folder / "summary.csv")
    assert len(summary) == 8 and {"rank", "n_ok", "n_failed", "n_diverged", "val_acc_ci_low", "train_loss_mean"} <= set(summary)
    comparisons = pd.read_csv(grid_report.folder / "comparisons.csv")
    assert {"difference", "diff_ci_low", "p_value", "p_adjusted", "verdict", "seeds_needed"} <= set(comparisons)
    assert (comparisons["verdict"] == "best").sum() == 1


def test_random_report_has_history_and_metric_against_each_hyperparameter(random_report):
    files = {p.file for p in random_report.plots}
    assert {"best_so_far.png", "by_learning_rate.png", "by_optimizer.png", "seeds.png", "gap.png"} <= files
    assert "heatmap.png" not in files


@pytest.mark.parametrize("which", ["grid_report", "random_report"])
def test_every_plot_is_a_real_image_and_on_the_page(which, request):
    report = request.getfixturevalue(which)
    page = report.index.read_text()
    for p in report.plots:
        image = imread(report.folder / p.file)
        assert image.shape[0] > 200 and image.shape[1] > 300 and image.std() > 0.01
        assert f'src="{p.file}"' in page
    assert sorted(f.name for f in report.folder.glob("*.png")) == sorted(p.file for p in report.plots)


def test_page_works_offline(grid_report):
    page = grid_report.index.read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from a network
    assert "<script" not in page and '<table id="summary">' in page
    assert page.count("<tr class=") == 8


def test_a_second_report_drops_plots_it_no_longer_draws(tmp_path):
    folder = write_results(tmp_path / "s", {"learning_rate": [0.01, 0.1]}, seeds=2)
    (folder / "report").mkdir()
    (folder / "report" / "heatmap.png").write_bytes(b"old")
    report = write_report(sweeper.load(folder))
    assert not (report.folder / "heatmap.png").exists()


def test_no_trials_yet_is_one_clear_error(tmp_path):
    folder = write_results(tmp_path / "empty", {"learning_rate": [0.01]}, seeds=1)
    (folder / "trials.csv").write_text(",".join(pd.read_csv(folder / "trials.csv").columns) + "\n")
    with pytest.raises(ResultsError, match="no finished trials yet"):
        write_report(sweeper.load(folder))
