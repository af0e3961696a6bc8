"""A trial stopped after any epoch and resumed from its checkpoint ends with exactly the
numbers of an uninterrupted run, in every bank (one model, a configuration's seeds, stacked
configurations with early stopping and divergence in the group); its kept weights are its
best epoch's; checkpoints are data, never pickles."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest
import torch

from sweeper.builtin.data import DataSpec, Tensors
from sweeper.builtin.hparams import resolve
from sweeper.builtin.loop import evaluate, train, train_group, train_seeds
from sweeper.builtin.models import build
from sweeper.storage import checkpoint
from sweeper.storage.live import Channel
from sweeper.study.study import Split
from sweeper.usercode.plugin import FitOptions

SEEDS = [0, 3]


@pytest.fixture(scope="module")
def data() -> Tensors:
    from sweeper.builtin import data as datasets

    return datasets.load(DataSpec("digits", "", Split(600, 200)))


class Memory:
    """A sink that keeps every checkpoint saved, by (trial, seed), in order."""

    def __init__(self) -> None:
        self.saved: dict[tuple[str, int], list[bytes]] = {}

    def emit(self, *args: Any) -> None:
        pass

    def checkpoint(self, trial: str, seed: int, data: bytes) -> None:
        self.saved.setdefault((trial, seed), []).append(data)


def options(sink: Memory, trials: list[str], resume: dict | list | None = None) -> FitOptions:
    return FitOptions(channel=Channel(sink, trials, resume), checkpoint_every=1, weights=("best", "last"))


def same(a, b) -> None:
    assert a.status == b.status and a.curves == b.curves
    assert {k: v for k, v in a.metrics.items() if k != "resumed_epoch"} == \
        {k: v for k, v in b.metrics.items() if k != "resumed_epoch"}
    for which in ("best", "last"):
        assert a.weights.keys() == b.weights.keys()
        if which in a.weights:
            assert all(torch.equal(a.weights[which][k], b.weights[which][k]) for k in a.weights[which])


def at_epoch(sink: Memory, epoch: int) -> dict:
    """Every model's checkpoint of `epoch`, as a stopped sweep would find them on disk."""
    out = {}
    for key, states in sink.saved.items():
        for data in states:
            if checkpoint.loads(data)["epoch"] == epoch:
                out[key] = data
    return out


CASES = {
    "mlp": {"hidden_size": 16, "momentum": 0.9},
    "batchnorm+dropout": {"hidden_size": 16, "normalization": "bn_after_relu", "dropout": 0.2, "optimizer": "adam",
                          "learning_rate": 0.01},
    "rmsprop+decay": {"hidden_size": 16, "optimizer": "rmsprop", "learning_rate": 0.003, "momentum": 0.5,
                      "lr_decay": 0.7},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("stop_after", [1, 3])
def test_one_model_resumed_after_an_epoch_ends_as_an_uninterrupted_run(data, case, stop_after):
    config = resolve({"epochs": 4, "batch_size": 32, **CASES[case]})
    sink = Memory()
    whole = train(config, 0, data, "iteration", options=options(sink, ["t"]))
    resumed = train(config, 0, data, "iteration", options=options(Memory(), ["t"], at_epoch(sink, stop_after)))
    assert resumed.metrics["resumed_epoch"] == stop_after and whole.metrics["resumed_epoch"] == 0
    same(resumed, whole)


def test_a_configurations_seeds_resume_together(data):
    config = resolve({"epochs": 4, "batch_size": 32, "hidden_size": 16, "patience": 1, "learning_rate": 0.3})
    sink = Memory()
    whole = train_seeds(config, SEEDS, data, options=options(sink, ["t"]))
    resumed = train_seeds(config, SEEDS, data, options=options(Memory(), ["t"], at_epoch(sink, 2)))
    for a, b in zip(resumed, whole, strict=True):
        same(a, b)


def test_a_stacked_group_resumes_with_its_stopped_and_diverged_models(data):
    grid = [{"learning_rate": 0.2, "momentum": 0.9, "patience": 1}, {"learning_rate": 50.0},
            {"learning_rate": 0.1, "lr_decay": 0.5}]
    configs = [resolve({"epochs": 5, "batch_size": 32, "hidden_size": 16, **g}) for g in grid]
    sink = Memory()
    whole = train_group(configs, SEEDS, data, options=options(sink, ["a", "b", "c"]))
    assert {o.status for outs in whole for o in outs} == {"ok", "diverged"}
    assert any(o.metrics["epochs_run"] < 5 for o in whole[0])  # one stopped early before the last epoch
    resumed = train_group(configs, SEEDS, data, options=options(Memory(), ["a", "b", "c"], at_epoch(sink, 3)))
    for outs_a, outs_b in zip(resumed, whole, strict=True):
        for a, b in zip(outs_a, outs_b, strict=True):
            same(a, b)


def test_a_group_killed_while_its_models_were_saved_goes_on_from_the_epoch_before(data):
    """Epoch 3's checkpoints written for some models only (a kill between two files): every
    model has epoch 2 as its previous checkpoint, and the group goes on from there, exactly."""
    grid = [{"learning_rate": 0.2, "momentum": 0.9}, {"learning_rate": 0.05}, {"learning_rate": 0.1, "lr_decay": 0.5}]
    configs = [resolve({"epochs": 5, "batch_size": 32, "hidden_size": 16, **g}) for g in grid]
    sink = Memory()
    whole = train_group(configs, SEEDS, data, options=options(sink, ["a", "b", "c"]))
    one, two, three = at_epoch(sink, 1), at_epoch(sink, 2), at_epoch(sink, 3)
    first = list(three)[:2]  # epoch 3 was saved for these two models only
    torn = []  # each model's last checkpoint, then its previous one, as the runner sends them
    for key in two:
        torn += [(key, three[key]), (key, two[key])] if key in first else [(key, two[key]), (key, one[key])]
    resumed = train_group(configs, SEEDS, data, options=options(Memory(), ["a", "b", "c"], torn))
    assert {o.metrics["resumed_epoch"] for outs in resumed for o in outs} == {2}
    for outs_a, outs_b in zip(resumed, whole, strict=True):
        for a, b in zip(outs_a, outs_b, strict=True):
            same(a, b)


def test_a_group_of_several_shapes_and_optimizers_resumes_and_keeps_each_models_own_weights(data):
    """A mixed group (`mixed.MixedBank`): hidden sizes, BatchNorm, Adam, a part of one configuration,
    early stopping and divergence; each kept state loads into the model built alone."""
    grid = [{"hidden_size": 16, "momentum": 0.9, "patience": 1, "learning_rate": 0.2}, {"hidden_size": 24},
            {"hidden_size": 16, "learning_rate": 50.0}, {"hidden_size": 16, "optimizer": "adam", "learning_rate": 0.01},
            {"hidden_size": 16, "normalization": "bn_before_relu", "lr_decay": 0.5}]
    configs = [resolve({"epochs": 5, "batch_size": 32, **g}) for g in grid]
    trials = ["a", "b", "c", "d", "e"]
    parts = [[0, 2], [1], [3], [4]]
    sink = Memory()
    whole = train_group(configs, SEEDS, data, options=options(sink, trials), parts=parts)
    assert {o.status for outs in whole for o in outs} == {"ok", "diverged"}
    resumed = train_group(configs, SEEDS, data, options=options(Memory(), trials, at_epoch(sink, 3)), parts=parts)
    for outs_a, outs_b in zip(resumed, whole, strict=True):
        for a, b in zip(outs_a, outs_b, strict=True):
            assert a.metrics["resumed_epoch"] == 3
            same(a, b)
    for config, outs in zip(configs, whole, strict=True):
        for out in outs:
            if out.status == "ok":
                build(config, data.input_shape, data.n_outputs).load_state_dict(out.weights["best"])


def test_checkpoints_of_another_shape_or_of_different_epochs_start_afresh(data):
    config = resolve({"epochs": 3, "batch_size": 32, "hidden_size": 16})
    sink = Memory()
    train_seeds(config, SEEDS, data, options=options(sink, ["t"]))
    mixed = {("t", 0): at_epoch(sink, 1)[("t", 0)], ("t", 3): at_epoch(sink, 2)[("t", 3)]}
    fresh = train_seeds(config, SEEDS, data, options=options(Memory(), ["t"], mixed))
    assert [o.metrics["resumed_epoch"] for o in fresh] == [0, 0]


def test_kept_weights_are_the_best_epochs_and_give_its_validation_accuracy(data):
    config = resolve({"epochs": 6, "batch_size": 32, "hidden_size": 16, "learning_rate": 0.5, "momentum": 0.9})
    out = train(config, 0, data, options=FitOptions(weights=("best", "last")))
    model = build(config, data.input_shape, data.n_outputs)
    model.load_state_dict(checkpoint.loads(checkpoint.dumps(out.weights["best"])))
    model.eval()

    class One:  # the evaluation the driver ran, on the rebuilt model
        def eval_chunk(self, n):
            return 4096

        def outputs(self, x, models):
            return model(x).unsqueeze(0)

    acc = evaluate(One(), [0], data.x_val, data.y_val)[0]["acc"]  # type: ignore[arg-type]
    assert acc == out.metrics["best_val_acc"]
    assert not all(torch.equal(out.weights["best"][k], out.weights["last"][k]) for k in out.weights["best"]) \
        or out.metrics["best_epoch"] == 6


def test_a_checkpoint_is_read_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("a checkpoint was unpickled",))

    path = tmp_path / "t.0.safetensors"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(Exception) as e:  # noqa: PT011 (safetensors' own error type)
        checkpoint.load(path)
    assert "unpickled" not in str(e.value)
    state = {"model": {"w": torch.ones(2, 3)}, "opt": {"state": {0: {"m": torch.zeros(3)}}, "lr": 0.1}, "n": [1, 2.5]}
    back = checkpoint.loads(checkpoint.dumps(state))
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["opt"]["lr"] == 0.1 and back["n"] == [1, 2.5]
    assert list(back["opt"]["state"]) == [0] and dataclasses.is_dataclass(FitOptions)
