"""Study(lightning=...): a LightningModule and its datamodule as they are, trained by
lightning.Trainer: curve rows from self.log, kept weights, pruning, racing, resume after a
kill, one-line errors, and the MNIST study's verdicts against the built-in trainer's."""

from __future__ import annotations

import dataclasses
import io
import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

pytest.importorskip("lightning")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import sweeper  # noqa: E402
from sweeper import Racing, Rungs, Study, StudyError  # noqa: E402
from sweeper.execution.runner import run_study  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.test_crash import run_file, table  # noqa: E402

TINY = '''
import torch, lightning as L
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Net(L.LightningModule):
    """A small classifier of 3 classes from 4 features."""

    def __init__(self, lr=0.1, hidden=8):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, i):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        out = self(x)
        self.log("val_loss", nn.functional.cross_entropy(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)


class Data(L.LightningDataModule):
    """240 points in memory: 200 to train on, 40 to validate on in one batch."""

    def __init__(self, batch_size=20):
        super().__init__()
        self.batch_size = batch_size
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(240, 4, generator=g)
        self.y = (self.x[:, 0] > 0).long() + (self.x[:, 1] > 0).long()

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x[:200], self.y[:200]), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self):
        return DataLoader(TensorDataset(self.x[200:], self.y[200:]), batch_size=40)
'''
exec(compile(TINY, "<tiny lightning study>", "exec"))  # Net and Data, the same classes the study files use
QUIET = dict(data_root="unused", jobs=1, executor="sequential", show_progress=False)


def tiny(**fields) -> Study:
    base = dict(name="tiny_lightning", lightning=Net, datamodule=Data,  # noqa: F821 (defined by exec above)
                fixed={"max_epochs": 3}, space={"lr": [0.001, 0.3]}, seeds=3)
    return Study(**{**base, **fields})


def run(study: Study, tmp_path) -> pd.DataFrame:
    run_study(study, results_root=tmp_path, stream=io.StringIO(), **QUIET)
    return pd.read_csv(tmp_path / study.name / "trials.csv")


def test_self_log_values_become_curve_rows_and_the_last_ones_the_row(tmp_path):
    rows = run(tiny(), tmp_path)
    curves = pd.read_csv(tmp_path / "tiny_lightning" / "curves.csv")
    assert (rows["status"] == "ok").all() and len(rows) == 6
    assert {("val", "acc"), ("val", "loss"), ("train", "loss")} == set(zip(curves.split, curves.metric))
    assert sorted(curves.epoch.unique()) == [1, 2, 3]
    last = curves[(curves.epoch == 3) & (curves.metric == "acc")].set_index(["trial", "seed"])["value"]
    assert rows.set_index(["trial", "seed"])["val_acc"].sort_index().tolist() == last.sort_index().tolist()
    best = curves[curves.metric == "acc"].groupby(["trial", "seed"])["value"].max()
    assert rows.set_index(["trial", "seed"])["best_val_acc"].sort_index().tolist() == best.sort_index().tolist()
    assert not (tmp_path / "tiny_lightning" / "lightning_logs").exists()
    assert not list(tmp_path.rglob("*.ckpt"))  # Lightning wrote no checkpoint files of its own


def test_kept_weights_load_into_the_users_class_and_reproduce_best_val_acc(tmp_path):
    study = tiny()
    rows = run(study, tmp_path)
    results = sweeper.load("tiny_lightning", tmp_path)
    model = results.model(rank=1, seed=0, study=study)
    assert isinstance(model, Net)  # noqa: F821
    data = Data()  # noqa: F821
    with torch.no_grad():
        acc = (model(data.x[200:]).argmax(1) == data.y[200:]).float().mean().item()
    best = rows[(rows.trial == results.summary.sort_values("rank").trial.iloc[0]) & (rows.seed == 0)]
    assert acc == pytest.approx(best["best_val_acc"].item(), abs=1e-6)
    with pytest.raises(StudyError, match=r"trained from a LightningModule .*: pass study="):
        results.model(rank=1, seed=0)  # a results folder's code is never run


def test_code_identity_covers_the_module_and_the_datamodule():
    code = tiny().to_dict()["code"]
    assert set(code["roles"]) == {"lightning", "datamodule"}
    assert any("Net" in key for key in code["objects"]) and any("Data" in key for key in code["objects"])


def test_a_pruned_study_spends_less_and_its_survivors_go_on_from_their_rung(tmp_path):
    study = tiny(fixed={"max_epochs": 4}, space={"lr": [0.0001, 0.3, 0.001]}, prune=Rungs("max_epochs", rungs=(1,)),
                 checkpoint_every=1)
    rows = run(study, tmp_path)
    spent = (rows["epochs_run"] - rows["resumed_epoch"]).sum()
    assert (rows["status"] == "pruned").any()
    assert spent < 3 * 3 * 4  # configurations x seeds x epochs
    assert (rows.loc[rows.status == "ok", "resumed_epoch"] == 1).all()  # from the rung's checkpoint, not afresh


def test_a_raced_study_spends_less_than_the_full_design(tmp_path):
    rows = run(tiny(space={"lr": [0.0001, 0.3]}, seeds=Racing(start=3, max=6)), tmp_path)
    assert len(rows) < 2 * 6
    race = pd.read_csv(tmp_path / "tiny_lightning" / "racing.csv").set_index("trial")
    assert race.loc[rows.loc[rows.lr == 0.0001, "trial"].iloc[0], "state"] == "dropped"


def test_crossed_seeds_and_a_function_that_builds_the_module(tmp_path):
    rows = run(tiny(lightning=lambda config: Net(lr=config["lr"]), seeds=sweeper.Crossed(init=2, order=2)),  # noqa: F821
               tmp_path)
    assert len(rows) == 8 and (rows["status"] == "ok").all()


@pytest.mark.parametrize(("fields", "message"), [
    ({"lightning": nn.Linear}, r"field `lightning`: Linear .* is not a lightning.LightningModule; subclass"),
    ({"fixed": {"max_epochs": 3, "lrr": 0.1}}, r"`lrr` is neither a parameter of Net\(lr, hidden\) nor of "
                                               r"Data\(batch_size\) nor of lightning.Trainer \(did you mean `lr`\?\)"),
    ({"fixed": {"max_epochs": 3, "devices": 2}}, r"`devices` is a lightning.Trainer argument that sweeper sets"),
    ({"model": "mlp"}, r"field `model` cannot be used with `lightning`"),
])
def test_bad_input_is_one_line(fields, message):
    with pytest.raises(StudyError, match=message):
        tiny(**fields)


def test_a_datamodule_that_cannot_find_its_data_stops_the_run_before_training(tmp_path):
    class Missing(Data):  # noqa: F821
        def setup(self, stage):
            raise FileNotFoundError("no points.csv here")

    with pytest.raises(StudyError, match=r"field `datamodule`: .*Missing.*setup\('fit'\) raised FileNotFoundError: no po"):
        run(tiny(datamodule=Missing), tmp_path)
    assert not (tmp_path / "tiny_lightning" / "trials.csv").exists()


@pytest.mark.slow  # a fresh interpreter importing lightning
def test_an_unknown_name_in_a_study_file_is_one_line_and_exit_code_2(tmp_path):
    source = TINY + "from sweeper import Study\nstudy = Study(name='bad', lightning=Net, datamodule=Data,\n" \
        "              fixed={'max_epochs': 2, 'momentun': 0.9}, seeds=1)\n"
    (tmp_path / "bad.py").write_text(source)
    out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "bad.py"], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "bad.py" in out.stderr and "`momentun` is neither a parameter of Net(lr, hidden)" in out.stderr


def test_sweep_help_does_not_import_lightning():
    code = "import sys, sweeper, sweeper.cli; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_sigkill_half_way_then_the_same_command_gives_the_rows_of_an_uninterrupted_run(tmp_path):
    source = TINY + "from sweeper import Study\nstudy = Study(name='killed', lightning=Net, datamodule=Data,\n" \
        "              fixed={'max_epochs': 12}, space={'lr': [0.01, 0.3]}, seeds=2, checkpoint_every=1)\n"
    (tmp_path / "killed.py").write_text(source)
    run_study(sweeper.load_study(tmp_path / "killed.py"), results_root=tmp_path / "reference", stream=io.StringIO(),
              **QUIET)  # uninterrupted, in this process
    reference = table(tmp_path / "reference" / "killed")
    folder = tmp_path / "again" / "killed"
    proc = run_file(tmp_path, "killed", source, "again")
    deadline = time.monotonic() + 240
    while not list((folder / "checkpoints").glob("*.safetensors")):  # a trial half-way, its checkpoint saved
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint was saved"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (folder / "trials.csv").exists() or len(table(folder)) < 4
    final = run_file(tmp_path, "killed", source, "again")
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err
    assert "the stacked default does not apply" in out
    resumed = table(folder)
    per_run = ["seconds", "started", "host", "worker", "device", "resumed_epoch"]
    columns = [c for c in reference.columns if c not in per_run]
    pd.testing.assert_frame_equal(resumed[columns], reference[columns])
    assert (resumed["resumed_epoch"] > 0).any()  # a trial went on from its checkpoint, not afresh
    curves = pd.read_csv(folder / "curves.csv")
    assert not curves.duplicated(["trial", "seed", "epoch", "split", "metric"]).any()


@pytest.mark.slow
def test_the_mnist_study_agrees_with_the_built_in_trainer(tmp_path, mnist_root):
    own = sweeper.load_study(ROOT / "studies" / "lightning_mnist.py")
    space = {"lr": [0.01, 0.1], "momentum": [0.9]}
    lightning = dataclasses.replace(own, space=space, seeds=3)
    builtin = dataclasses.replace(sweeper.load_study(ROOT / "studies" / "lr_momentum.py"), seeds=3,
                                  space={"learning_rate": [0.01, 0.1], "momentum": [0.9]})
    for study in (lightning, builtin):
        run_study(study, results_root=tmp_path, stream=io.StringIO(), **{**QUIET, "data_root": mnist_root, "jobs": 2,
                                                                            "executor": "local"})
    ours = sweeper.load("lightning_mnist", tmp_path).summary.set_index("lr")
    theirs = sweeper.load("lr_momentum", tmp_path).summary.set_index("learning_rate")
    assert ours["rank"].idxmin() == theirs["rank"].idxmin() == 0.1
    for lr in (0.01, 0.1):
        assert theirs.loc[lr, "val_acc_ci_low"] <= ours.loc[lr, "val_acc_mean"] <= theirs.loc[lr, "val_acc_ci_high"]
    assert math.isfinite(ours.loc[0.1, "val_acc_mean"])
