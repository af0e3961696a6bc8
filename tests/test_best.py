"""One rule for the best configuration (`sweeper.metrics.best`): the progress line, the kept
weights, `sweep show`'s rank 1, the report and the live page name the same configuration,
also where the one with the highest mean over the seeds it survived lost a seed."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd
import torch
from synthetic_results import write_results
from torch import nn

import sweeper
from sweeper import Split, Study
from sweeper.analysis import show
from sweeper.analysis.report import write_report
from sweeper.execution.runner import run_study
from sweeper.metrics import best, range_of
from sweeper.schedules.schedule import Rows
from sweeper.web.page import StudyPage


def _page_best(folder: Path) -> str:
    """The first row of the live page's ranked table, once the server has computed it."""
    page = StudyPage(folder.parent, folder)
    deadline = time.monotonic() + 60
    while (table := page.table())["pending"] or not table["rows"]:
        assert time.monotonic() < deadline, table
        time.sleep(0.05)
    return str(table["rows"][0]["trial"])


def _show_best(results) -> str:
    """The configuration in `sweep show`'s first row."""
    lines = show.text(results).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    first = lines[header + 1].split()
    assert first[0] == "1", lines[header + 1]
    return first[1]


def _report_best(folder: Path, label: str) -> bool:
    """The report's answer (its first sentence) names `label` as the best."""
    index = write_report(sweeper.load(folder), folder / "report").index.read_text()
    answer = index.split('<p class="answer">', 1)[1].split("</p>", 1)[0]
    return answer.split(",", 1)[0].endswith(label) or f": {label}," in answer


def _runner_best(folder: Path, metric: str, direction: str) -> str | None:
    """The configuration the sweep loop picks from the same rows (its `Rows`)."""
    rows = Rows(metric)
    for row in pd.read_csv(folder / "trials.csv").to_dict("records"):
        rows.add(row)
    return best(rows.outcomes, direction == "maximize", range_of(metric))


def test_a_configuration_best_on_the_seeds_it_survived_is_not_the_best_anywhere(tmp_path):
    # learning_rate=3.0 is the best on every seed, but diverged on seed 2: counted at 0 accuracy
    folder = write_results(tmp_path / "grid", {"learning_rate": [0.5, 1.0, 3.0]}, seeds=4,
                           fail=[(2, 2, "diverged")])
    r = sweeper.load(folder)
    ok = r.trials[r.trials["status"] == "ok"].groupby("learning_rate")["val_acc"].mean()
    assert ok.idxmax() == 3.0  # the highest mean over the seeds it survived
    first = r.summary.sort_values("rank").iloc[0]
    assert first["label"] == "learning_rate=1.0"
    assert _runner_best(folder, "val_acc", "maximize") == first["trial"]
    assert _show_best(r) == "learning_rate=1.0"
    assert _report_best(folder, "learning_rate=1.0")
    assert _page_best(folder) == first["trial"]


class _Broken(nn.Module):
    """A model whose outputs are NaN: its seed diverges."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * float("nan")


def _net(config):
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, config["width"]), nn.ReLU(), nn.Linear(config["width"], 10))
    return _Broken(net) if config["width"] == 64 and torch.initial_seed() % 4 == 3 else net


def test_the_progress_line_the_kept_weights_and_the_readers_agree_on_a_real_run(tmp_path):
    """width=64 is the best on the seeds it survived, but one of its four seeds diverges."""
    study = Study(name="lost", dataset="digits", split=Split(train=400, val=200), model=_net,
                  fixed={"epochs": 3, "batch_size": 32, "momentum": 0.9}, space={"width": [32, 64]}, seeds=4)
    summary = run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                        show_progress=False, stream=io.StringIO())
    folder = tmp_path / "lost"
    r = sweeper.load(folder)
    trials = r.trials
    assert (trials["status"] == "diverged").sum() == 1 and trials.loc[trials["status"] == "diverged", "width"].item() == 64
    ok = trials[trials["status"] == "ok"].groupby("width")["val_acc"].mean()
    assert ok.idxmax() == 64  # the highest mean over the seeds it survived
    first = r.summary.sort_values("rank").iloc[0]
    assert first["label"] == "width=32"
    assert summary.best.startswith("width=32 val_acc=")  # the progress line's last word
    kept = {p.name.split(".")[0] for p in (folder / "weights").glob("*.safetensors")}
    assert kept == {first["trial"]}
    assert _show_best(r) == "width=32"
    assert _report_best(folder, "width=32")
    assert _page_best(folder) == first["trial"]
    assert StudyPage(tmp_path, folder).headline()["best"] == summary.best  # the page's list of studies
