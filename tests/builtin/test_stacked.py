"""Stacked training gives every (configuration, seed) the run it has alone: its own initial
weights, batches, learning rate, early stopping and divergence; the test fails if stacking
mixes up seeds or configurations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sweeper.builtin import stacked
from sweeper.builtin.data import Tensors
from sweeper.builtin.hparams import resolve
from sweeper.builtin.loop import Outcome, train, train_group
from sweeper.builtin.models import build
from sweeper.builtin.stacked import NotStackable
from sweeper.builtin.stacked_layers import StackedModel

SEEDS = [0, 3, 4]
GRID = [{"learning_rate": 0.01, "momentum": 0.0}, {"learning_rate": 0.2, "momentum": 0.5},
        {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 1e-3, "lr_decay": 0.8}]


@pytest.fixture(scope="module")
def small_data() -> Tensors:
    """Digits, wherever the test runs: on MNIST two of the pairs below end within the
    tolerance of each other, and the test could no longer tell a mix-up from noise."""
    from sweeper.builtin import data as datasets
    from sweeper.builtin.data import DataSpec
    from sweeper.study.study import Split

    return datasets.load(DataSpec("digits", "", Split(1000, 300)))


def configs(grid: list[dict] = GRID, **fixed: object) -> list[dict]:
    return [resolve({"epochs": 2, "hidden_size": 16, **fixed, **point}) for point in grid]


def keys(outcome: Outcome) -> list[tuple]:
    return [c[:4] for c in outcome.curves]


def assert_same_runs(group: list[list[Outcome]], cfgs: list[dict], data: Tensors, tol: float,
                     model_fn: object = None) -> None:
    """Every (configuration, seed) of the group against `train` alone: same rows, same
    curves, metrics within `tol`, and further from every other pair's than that."""
    alone = [[train(c, s, data, model_fn=model_fn) for s in SEEDS] for c in cfgs]  # type: ignore[arg-type]
    for c in range(len(cfgs)):
        for s in range(len(SEEDS)):
            got, want = group[c][s], alone[c][s]
            assert got.status == want.status, (c, s)
            assert keys(got) == keys(want), (c, s)
            assert got.metrics.keys() == want.metrics.keys()
            for name in ("iterations", "epochs_run", "best_epoch"):
                assert got.metrics[name] == want.metrics[name], (c, s, name)
            assert got.metrics["val_loss"] == pytest.approx(want.metrics["val_loss"], abs=tol, nan_ok=True), (c, s)
            if got.status == "diverged":
                continue
            others = [alone[c2][s2].metrics["val_loss"] for c2 in range(len(cfgs)) for s2 in range(len(SEEDS))
                      if (c2, s2) != (c, s)]
            assert min(abs(v - got.metrics["val_loss"]) for v in others if v == v) > tol, "the test cannot tell pairs apart"


def test_each_configuration_and_seed_trains_as_it_does_alone(small_data: Tensors) -> None:
    cfgs = configs()
    assert_same_runs(train_group(cfgs, SEEDS, small_data), cfgs, small_data, tol=1e-4)


def test_with_batchnorm_and_layernorm(small_data: Tensors) -> None:
    for normalization in ("bn_before_relu", "layernorm"):
        cfgs = configs(normalization=normalization, num_layers=2)
        assert_same_runs(train_group(cfgs, SEEDS, small_data), cfgs, small_data, tol=2e-3)


def test_adam_and_rmsprop(small_data: Tensors) -> None:
    for optimizer in ("adam", "adamw", "rmsprop"):
        grid = [{"learning_rate": 0.001, "momentum": 0.0, "weight_decay": 0.01},
                {"learning_rate": 0.003, "momentum": 0.5, "weight_decay": 0.0}]
        cfgs = configs(grid, optimizer=optimizer)
        assert_same_runs(train_group(cfgs, SEEDS, small_data), cfgs, small_data, tol=1e-3)


def test_early_stopping_and_divergence_are_each_models_own(small_data: Tensors) -> None:
    grid = [{"learning_rate": 0.05, "patience": 1}, {"learning_rate": 1e20, "momentum": 0.9},
            {"learning_rate": 0.5, "patience": 2}]
    cfgs = configs(grid, epochs=6)
    group = train_group(cfgs, SEEDS, small_data)
    assert {o.status for o in group[1]} == {"diverged"}
    assert_same_runs(group, cfgs, small_data, tol=1e-3)


def test_a_users_own_model_with_batchnorm(small_data: Tensors) -> None:
    def model(config: dict) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(small_data.x_train[0].numel(), 12), nn.BatchNorm1d(12),
                             nn.ReLU(), nn.Linear(12, small_data.n_outputs))

    cfgs = [resolve({"epochs": 2, "learning_rate": lr}) for lr in (0.02, 0.1)]
    assert_same_runs(train_group(cfgs, SEEDS, small_data, model_fn=model), cfgs, small_data, tol=2e-3,
                     model_fn=model)


def test_convolutions_stack_where_they_are_not_slower(small_data: Tensors, monkeypatch: pytest.MonkeyPatch) -> None:
    cfgs = configs(model="cnn", normalization="bn_before_relu")[:2]  # (after the ReLU, a dead channel turns noise into 1e-2)
    with pytest.raises(NotStackable):  # on the CPU they are slower stacked: the trainer trains them alone
        train_group(cfgs, SEEDS, small_data)
    monkeypatch.setattr(stacked, "slower_stacked", lambda *_: False)  # as on a GPU
    assert_same_runs(train_group(cfgs, SEEDS, small_data), cfgs, small_data, tol=2e-3)


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)) * self.scale


def test_what_cannot_be_stacked_says_why() -> None:
    x = torch.randn(2, 64)
    with pytest.raises(NotStackable, match="Scaled"):
        StackedModel([Scaled(), Scaled()], x)
    tied = nn.Linear(64, 64)
    with pytest.raises(NotStackable, match="more than once"):
        StackedModel([nn.Sequential(tied, nn.ReLU(), tied)] * 2, x)


def test_stacked_forward_matches_each_model(small_data: Tensors) -> None:
    cfg = resolve({"model": "cnn", "normalization": "bn_before_relu"})
    models = []
    for seed in (1, 2, 3, 4):
        torch.manual_seed(seed)
        models.append(build(cfg, small_data.input_shape, small_data.n_outputs))
    stack = StackedModel(models, small_data.x_train[:2])
    x = small_data.x_train[:16]
    stack.train()
    got = stack(torch.cat([x, x]), groups=2).view(4, 16, -1)  # two groups of two models, each group its input
    for m, model in enumerate(models):
        model.train()
        assert torch.allclose(got[m], model(x), atol=1e-5), m


def test_a_plain_mlp_steps_by_hand_with_autograds_numbers(small_data: Tensors) -> None:
    """The fused step (`fused.py`) against the stacked model's own forward and autograd, on
    two groups of two models, with two hidden layers."""
    from sweeper.builtin.fused import FusedMLP, linear_relu_chain
    from sweeper.builtin.measures import summed_loss

    cfg = resolve({"hidden_size": 16, "num_layers": 2})
    models = []
    for seed in (1, 2, 3, 4):
        torch.manual_seed(seed)
        models.append(build(cfg, small_data.input_shape, small_data.n_outputs))
    stack = StackedModel(models, small_data.x_train[:2])
    chain = linear_relu_chain(stack.template)
    assert chain is not None and len(chain) == 3
    x, y = small_data.x_train[:64], small_data.y_train[:64].view(2, 32)
    losses, grads = FusedMLP(chain).step(x, y)
    out = stack(x, groups=2)
    labels = y.unsqueeze(1).expand(2, 2, 32).reshape(4, 32)
    want = summed_loss(out.view(4, 32, -1), labels) / 32
    expected = torch.autograd.grad(want.sum(), stack.params)
    torch.testing.assert_close(losses, want.detach(), rtol=1e-5, atol=1e-6)
    for got, exp in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, exp, rtol=1e-4, atol=1e-6)
    assert linear_relu_chain(StackedModel([build(resolve({"normalization": "layernorm"}), small_data.input_shape, 10)] * 2,
                                          small_data.x_train[:2]).template) is None


def test_a_group_mixes_shapes_and_optimizers_each_part_as_alone(small_data: Tensors) -> None:
    """Hidden sizes, normalizations and optimizers in one group (`mixed.MixedBank`): every
    (configuration, seed) trains as it does alone, and a part of one model (`OneModel`) too."""
    cfgs = [resolve({"epochs": 2, "momentum": 0.9, **point}) for point in [
        {"hidden_size": 16, "learning_rate": 0.05}, {"hidden_size": 24, "learning_rate": 0.05},
        {"hidden_size": 16, "learning_rate": 0.1}, {"hidden_size": 16, "optimizer": "adam", "learning_rate": 0.003},
        {"hidden_size": 16, "normalization": "bn_after_relu", "learning_rate": 0.05, "patience": 1}]]
    parts = [[0, 2], [1], [3], [4]]
    assert_same_runs(train_group(cfgs, SEEDS, small_data, parts=parts), cfgs, small_data, tol=2e-3)
    one = train_group(cfgs[:2], SEEDS[:1], small_data, parts=[[0], [1]])
    alone = [train(c, SEEDS[0], small_data) for c in cfgs[:2]]
    assert [o[0].metrics for o in one] == [a.metrics for a in alone]  # parts of one model: OneModel, bit for bit
