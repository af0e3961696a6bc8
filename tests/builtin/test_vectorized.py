"""The vectorized trainer trains each seed as `train` trains it alone: same initial weights,
same batches in the same order, same rows; and the same mean accuracy over 8 seeds."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest
import torch

from sweeper.builtin.data import Tensors
from sweeper.builtin.hparams import resolve
from sweeper.builtin.loop import Outcome, train, train_seeds
from sweeper.builtin.models import build
from sweeper.builtin.vectorized import stack_seeds

SEEDS = [0, 1, 5, 7]
MODELS = {
    "mlp": {},
    "mlp-bn-after-relu": {"normalization": "bn_after_relu"},
    "mlp-bn-before-relu": {"normalization": "bn_before_relu", "num_layers": 2},
    "mlp-layernorm": {"normalization": "layernorm"},
    "cnn": {"model": "cnn"},
    "cnn-bn": {"model": "cnn", "normalization": "bn_after_relu"},
}


def config(**options: object) -> dict:
    return resolve({"epochs": 2, "learning_rate": 0.05, "momentum": 0.9, **options})


def keys(outcome: Outcome) -> list[tuple]:
    return [c[:4] for c in outcome.curves]


@pytest.mark.parametrize("model", MODELS)
def test_each_seed_starts_from_the_weights_it_has_alone(model: str, small_data: Tensors) -> None:
    cfg = config(**MODELS[model])
    stack = stack_seeds(cfg, SEEDS, small_data)
    for i, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        alone = build(cfg, small_data.input_shape, small_data.n_outputs)
        for name, tensor in [*alone.named_parameters(), *alone.named_buffers()]:
            stacked = stack.params.get(name, stack.buffers.get(name))
            assert torch.equal(stacked[i], tensor), f"seed {seed}: {name} differs"


def batch_losses(outcome: Outcome) -> list[float]:
    return [c[4] for c in outcome.curves if c[3] == "batch_loss"]


# With a learning rate of almost nothing the weights stay put, so a batch's loss depends
# only on the initial weights and on which images the batch holds: another batch moves it
# by about 1e-3 (checked below), floating-point noise by about 1e-7.
STILL = {"learning_rate": 1e-12, "momentum": 0.0, "epochs": 2, "batch_size": 100}


def test_batch_losses_tell_another_order_apart(small_data: Tensors) -> None:
    cfg = config(**STILL)
    shuffled, fixed = train(cfg, 0, small_data), train({**cfg, "shuffle": False}, 0, small_data)
    assert all(abs(a - b) > 1e-5 * a for a, b in zip(batch_losses(shuffled), batch_losses(fixed), strict=True))


@pytest.mark.parametrize("model", MODELS)
def test_each_seed_sees_the_batches_it_sees_alone(model: str, small_data: Tensors) -> None:
    cfg = config(**MODELS[model], **STILL)
    for seed, vec in zip(SEEDS, train_seeds(cfg, SEEDS, small_data), strict=True):
        alone = train(cfg, seed, small_data)
        assert batch_losses(vec) == pytest.approx(batch_losses(alone), rel=1e-5)


def test_rows_have_the_same_metrics_and_curves_as_alone(small_data: Tensors) -> None:
    cfg = config(lr_decay=0.8, epochs=3, optimizer="adam", learning_rate=0.01)
    for seed, vec in zip(SEEDS, train_seeds(cfg, SEEDS, small_data, "epoch"), strict=True):
        alone = train(cfg, seed, small_data, "epoch")
        assert vec.status == alone.status
        assert vec.metrics.keys() == alone.metrics.keys()
        assert keys(vec) == keys(alone)
        for k in ("best_epoch", "epochs_run", "iterations"):
            assert vec.metrics[k] == alone.metrics[k]
        assert vec.metrics["val_acc"] == pytest.approx(alone.metrics["val_acc"], abs=0.01)


def test_early_stopping_is_per_seed(small_data: Tensors) -> None:
    cfg = config(epochs=8, patience=1, learning_rate=0.3, momentum=0.0)
    seeds = list(range(8))
    together = train_seeds(cfg, seeds, small_data)
    alone = [train(cfg, seed, small_data) for seed in seeds]
    assert [o.metrics["epochs_run"] for o in together] == [o.metrics["epochs_run"] for o in alone]
    assert [keys(o) for o in together] == [keys(o) for o in alone]


def test_a_diverging_seed_stops_alone_and_the_others_go_on(small_data: Tensors) -> None:
    """One NaN image makes each seed diverge at the first batch that holds it: a different
    iteration for each seed (or never, if it falls in a skipped last batch)."""
    x = small_data.x_train.clone()
    x[7] = math.nan
    data = dataclasses.replace(small_data, x_train=x)
    cfg = config(epochs=2, batch_size=128)
    seeds = list(range(8))
    together = train_seeds(cfg, seeds, data, "iteration")
    alone = [train(cfg, seed, data, "iteration") for seed in seeds]
    assert [o.status for o in together] == [o.status for o in alone]
    assert [o.metrics["iterations"] for o in together] == [o.metrics["iterations"] for o in alone]
    assert len({o.metrics["iterations"] for o in alone}) > 1  # they diverge at different times
    assert [keys(o) for o in together] == [keys(o) for o in alone]


@pytest.mark.parametrize("options", [
    {"normalization": "none"},
    {"normalization": "bn_after_relu"},
    {"normalization": "bn_before_relu", "dropout": 0.2},
], ids=["no-norm", "batchnorm", "batchnorm-dropout"])
def test_mean_validation_accuracy_over_8_seeds_agrees(options: dict, small_data: Tensors) -> None:
    cfg = config(**options, epochs=3)
    seeds = list(range(8))
    alone = [train(cfg, seed, small_data).metrics["val_acc"] for seed in seeds]
    together = [o.metrics["val_acc"] for o in train_seeds(cfg, seeds, small_data)]
    # Two independent means over 8 seeds differ by about sd * sqrt(2 / 8); allow three
    # such standard errors. Without dropout the runs are the same up to float noise.
    se = statistics.stdev(alone) * math.sqrt(2 / len(seeds))
    assert abs(statistics.fmean(together) - statistics.fmean(alone)) <= max(3 * se, 0.005)
