"""The built-in trainer's defaults are torch's where torch has one (momentum 0 for SGD and
RMSprop), a folder made with the former default (0.9) resumes with its ids and trains 0.9,
and `sweep run --dry-run` says every hyperparameter the first configuration trains with."""

from __future__ import annotations

import dataclasses
import io
import json
import textwrap

import pandas as pd
import pytest
import torch

from sweeper import Split, Study
from sweeper.builtin import hparams
from sweeper.execution.runner import run_study
from tests.test_cli import sweep


def test_the_defaults_that_torch_has_are_torchs():
    sgd = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1).defaults
    rms = torch.optim.RMSprop([torch.zeros(1, requires_grad=True)]).defaults
    table = {name: p.default for name, p in hparams.HPARAMS.items()}
    assert table["momentum"] == sgd["momentum"] == rms["momentum"] == 0
    assert table["nesterov"] is sgd["nesterov"] is False
    assert table["weight_decay"] == sgd["weight_decay"] == rms["weight_decay"] == 0


def _study(**fields) -> Study:
    return Study(**{"name": "mom", "dataset": "digits", "split": Split(train=300, val=100), "seeds": 1,
                    "fixed": {"hidden_size": 8, "epochs": 1, "batch_size": 32}, "space": {"learning_rate": [0.05, 0.1]},
                    **fields})


def _run(study, tmp_path, **options):
    return run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO(), **options)


def test_a_folder_made_with_momentum_09_resumes_with_its_ids_and_trains_09(tmp_path, monkeypatch):
    old = dataclasses.replace(hparams.HPARAMS["momentum"], default=0.9)
    monkeypatch.setitem(hparams.HPARAMS, "momentum", old)
    made = _run(_study(), tmp_path / "r")
    monkeypatch.undo()
    assert json.loads((made.folder / "study.json").read_text())["identity"]["defaults"]["momentum"] == 0.9
    before = pd.read_csv(made.folder / "trials.csv")
    grown = _run(_study(), tmp_path / "r", seeds=2)  # today's default is 0; the folder's is 0.9
    assert (grown.trained, grown.reused) == (2, 2)
    rows = pd.read_csv(made.folder / "trials.csv")
    assert set(rows["trial"]) == set(before["trial"]) and (rows["momentum"] == 0.9).all()
    # the new seed trained with 0.9: the same numbers as a new folder that states momentum 0.9
    stated = _run(_study(name="stated", fixed={**_study().fixed, "momentum": 0.9}), tmp_path / "r", seeds=2)
    new = rows[rows["seed"] == 1].sort_values("learning_rate")["val_loss"].tolist()
    same = pd.read_csv(stated.folder / "trials.csv").query("seed == 1").sort_values("learning_rate")["val_loss"].tolist()
    assert new == pytest.approx(same, abs=1e-6)
    fresh = _run(_study(name="fresh"), tmp_path / "r")  # a new folder trains today's default
    assert (pd.read_csv(fresh.folder / "trials.csv")["momentum"] == 0.0).all()


def test_dry_run_prints_every_hyperparameter_the_first_configuration_trains_with(tmp_path):
    (tmp_path / "dry.py").write_text(textwrap.dedent("""\
        from sweeper import Split, Study
        study = Study(name="dry", dataset="digits", split=Split(train=300, val=100), seeds=1,
                      fixed={"hidden_size": 8, "epochs": 1, "optimizer": "SGD"}, space={"learning_rate": [0.05]})
    """))
    out = sweep("run", "dry.py", "--dry-run", "--executor", "sequential", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("first configuration: "))
    shown = dict(item.split("=", 1) for item in line.removeprefix("first configuration: ").split())
    assert list(shown) == list(hparams.HPARAMS)  # the defaults included, in the table's order
    assert shown["learning_rate"] == "0.05" and shown["momentum"] == "0.0" and shown["optimizer"] == "sgd"
    assert shown["batch_size"] == "64" and shown["shuffle"] == "True"
