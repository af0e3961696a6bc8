"""A sweep keeps what it trained: each kept (configuration, seed)'s weights at its best epoch
give back its row's best validation accuracy; `sweep test` evaluates the chosen
configuration's seeds on the test split without training; the kept files are data."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

import sweeper
from sweeper import Split, Study
from sweeper.cli import main
from sweeper.errors import ResultsError, StudyError
from sweeper.execution.runner import run_study

GRID = {"learning_rate": [0.05, 0.3], "momentum": [0.0, 0.9]}


def tiny(**fields: object) -> Study:
    defaults: dict = dict(name="w", dataset="digits", split=Split(train=400, val=200, test=True), seeds=3,
                          fixed={"hidden_size": 16, "epochs": 4, "batch_size": 32}, space=GRID)
    return Study(**{**defaults, **fields})


def _run(study: Study, root: Path, **options: object) -> sweeper.analysis.results.Results:  # type: ignore[name-defined]
    run_study(study, results_root=root, data_root="unused", jobs=1, executor="sequential", show_progress=False,
              stream=io.StringIO(), **options)
    return sweeper.load(root / study.name)


def _val_acc(model: nn.Module, study: Study) -> float:
    trainer = study.trainer
    trainer.prepare("unused", lambda msg: None, study.foreseen_configs())
    from sweeper.usercode.plugin import FitOptions

    return trainer.evaluate(model, "val", FitOptions(data_root="unused"))["acc"]


def test_every_kept_seed_gives_back_its_rows_best_validation_accuracy(tmp_path):
    study = tiny(weights="all", keep_last=True)
    r = _run(study, tmp_path)
    assert len(list((tmp_path / "w" / "weights").glob("*.best.safetensors"))) == len(r.trials) == 12
    for rank in range(1, 5):
        trial = r.summary.sort_values("rank").iloc[rank - 1]["trial"]
        for seed in range(3):
            row = r.trials[(r.trials["trial"] == trial) & (r.trials["seed"] == seed)].iloc[0]
            assert _val_acc(r.model(rank, seed), study) == row["best_val_acc"]
            assert _val_acc(r.model(rank, seed, which="last"), study) == row["val_acc"]


def test_by_default_only_the_best_configurations_seeds_keep_their_weights(tmp_path):
    r = _run(tiny(), tmp_path)
    best = r.summary.sort_values("rank").iloc[0]["trial"]
    kept = sorted(p.name for p in (tmp_path / "w" / "weights").iterdir())
    assert kept == [f"{best}.{s}.best.safetensors" for s in range(3)]
    with pytest.raises(ResultsError, match="keeps the best configuration's weights only"):
        r.model(rank=2, seed=0)
    assert not list((tmp_path / "w").glob("checkpoints/*"))  # finished trials leave no checkpoint behind


def test_an_own_model_is_rebuilt_from_the_study_never_from_the_folder(tmp_path):
    def net(config):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, config["width"]), nn.ReLU(), nn.Linear(config["width"], 10))

    study = tiny(model=net, fixed={"epochs": 3, "batch_size": 32}, space={"width": [8, 24]}, seeds=2)
    r = _run(study, tmp_path)
    with pytest.raises(StudyError, match="pass study="):
        r.model()
    model = r.model(study=study)
    row = r.trials.query("trial == @r.summary.sort_values('rank').iloc[0]['trial'] and seed == 0").iloc[0]
    assert isinstance(model, nn.Sequential) and _val_acc(model, study) == row["best_val_acc"]


def test_sweep_test_reports_the_chosen_configurations_test_split_and_sweep_weights_writes_a_file(tmp_path, capsys,
                                                                                                monkeypatch):
    source = tmp_path / "w.py"
    source.write_text("from sweeper import Split, Study\nstudy = Study(name='w', dataset='digits', seeds=3, "
                      "split=Split(train=400, val=200, test=True), fixed={'hidden_size': 16, 'epochs': 3, "
                      "'batch_size': 32}, space={'learning_rate': [0.05, 0.3]})\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "w.py", "--executor", "sequential", "-q"]) == 0
    capsys.readouterr()
    assert main(["test", "w.py"]) == 0
    out = capsys.readouterr().out
    assert "rank 1" in out and "test_acc: 0." in out and "[" in out
    table = pd.read_csv(tmp_path / "results" / "w" / "test.csv")
    assert set(table["metric"]) == {"test_loss", "test_acc"} and sorted(set(table["seed"])) == [0, 1, 2]
    assert main(["weights", "w", "--out", "m.safetensors", "--seed", "2"]) == 0
    from safetensors.torch import load_file

    state = load_file(str(tmp_path / "m.safetensors"))
    assert set(state) == {"net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias"}
    assert tuple(state["net.1.weight"].shape) == (16, 64) and tuple(state["net.3.weight"].shape) == (10, 16)
    assert main(["clean", "w"]) == 0 and "removed" in capsys.readouterr().out


def test_a_study_without_a_test_split_is_told_so_in_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "v.py").write_text("from sweeper import Split, Study\nstudy = Study(name='v', dataset='digits', "
                                   "seeds=2, split=Split(train=300, val=100), fixed={'hidden_size': 8, 'epochs': 1, "
                                   "'batch_size': 32}, space={'learning_rate': [0.1]})\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "v.py", "--executor", "sequential", "-q"]) == 0
    capsys.readouterr()
    assert main(["test", "v.py"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sweep: error: ") and "no test split" in err and "test=True" in err and "\n" not in err


def test_weights_crafted_as_pickles_are_never_unpickled(tmp_path):
    r = _run(tiny(weights="all"), tmp_path)

    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("a kept file was unpickled",))

    for path in (tmp_path / "w" / "weights").iterdir():
        path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(Exception) as e:  # noqa: PT011 (safetensors' own error)
        r.model(1, 0)
    assert "unpickled" not in str(e.value)
    assert torch.get_default_dtype() == torch.float32


def test_the_test_figure_beside_a_configuration_is_its_kept_weights_and_says_so(tmp_path):
    """sweep show, the report and the live page give the kept (best-epoch) weights' test
    figure, equal to what `sweep test` evaluates, and say which epoch it is from."""
    from sweeper.analysis import show
    from sweeper.analysis.report import write_report
    from sweeper.web.page import _table
    from sweeper.weights import chosen, test

    study = tiny(split=Split(train=300, val=150, test=True), space={"learning_rate": [0.05, 0.5]}, weights="all")
    r = _run(study, tmp_path)
    assert (r.complete["best_epoch"] < r.complete["epochs_run"]).any()  # some seed's last epoch is not its best
    summary = r.summary.set_index("trial")
    header = "test_acc at best epoch (kept weights), mean [95% CI]"
    shown = show.text(r)
    page = _table(r, verdicts=True)
    column = page["columns"].index(header)
    write_report(r)
    index = (tmp_path / "w" / "report" / "index.html").read_text()
    assert header in shown and header in index and "at last epoch" not in shown
    for rank in (1, 2):
        given = test(study, r, rank)  # what `sweep test` prints
        acc = given.loc[given["metric"] == "test_acc", "value"].mean()
        trial = chosen(r, rank)
        assert summary.loc[trial, "kept_test_acc_mean"] == pytest.approx(acc, abs=1e-12)
        figure = f"{acc:.4f} ["
        row = next(x for x in page["rows"] if x["trial"] == trial)
        assert row["cells"][column].startswith(figure)
        assert any(line.startswith(str(rank)) and figure in line for line in shown.splitlines())
        assert figure in index
    assert (summary["kept_test_acc_mean"] - summary["test_acc_mean"]).abs().max() > 1e-3  # two figures, one shown


def test_without_test_curves_the_table_says_its_test_figure_is_the_last_epochs(tmp_path):
    study = tiny(split=Split(train=300, val=150, test=True), space={"learning_rate": [0.05]}, seeds=1)
    r = _run(study, tmp_path)
    (tmp_path / "w" / "curves.csv").write_text((tmp_path / "w" / "curves.csv").read_text().splitlines()[0] + "\n")
    r = sweeper.load(tmp_path / "w")
    from sweeper.analysis.report_data import display_table

    assert r.kept_test.empty
    assert "test_acc at last epoch, mean [95% CI]" in display_table(r.summary, r.comparisons, r.metric).columns
