"""Training one configuration with one seed: a small, explicitly seeded function.

The seed fixes the model's initialisation (torch's global RNG, seeded just before the model
is built, so the same seed gives the notes' own MLP the same weights) and the data order (a
generator of its own that draws one permutation per epoch). Batches are drawn from tensors
already in memory, evaluation runs under `torch.inference_mode` on whole splits, and nothing
is printed: the function returns its metrics and curves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sweeper.train.data import Tensors
from sweeper.train.models import build

EVAL_CHUNK = 4096
DRY_RUN_EVAL = 1024


@dataclass
class Outcome:
    status: str  # ok or diverged
    metrics: dict[str, float]
    curves: list[tuple[int, int, str, str, float]] = field(default_factory=list)  # epoch, iteration, split, metric, value


def make_optimizer(config: Mapping[str, Any], params: Any) -> torch.optim.Optimizer:
    name, lr, wd = config["optimizer"], config["learning_rate"], config["weight_decay"]
    if name == "sgd":
        nesterov = config["nesterov"] and config["momentum"] > 0
        return torch.optim.SGD(params, lr=lr, momentum=config["momentum"], nesterov=nesterov, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config["momentum"], weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}")


def loss_function(n_outputs: int) -> nn.Module:
    return nn.BCEWithLogitsLoss() if n_outputs == 1 else nn.CrossEntropyLoss()


def predict_correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if out.shape[1] == 1:  # one logit: positive means "label < 3"
        return (out[:, 0] > 0).float() == y
    return out.argmax(1) == y


def batch_loss(loss_fn: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return loss_fn(out[:, 0], y) if out.shape[1] == 1 else loss_fn(out, y)


@torch.inference_mode()
def evaluate(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) over a whole split, in eval mode (BatchNorm uses running stats)."""
    if len(x) == 0:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for i in range(0, len(x), EVAL_CHUNK):
        out = model(x[i:i + EVAL_CHUNK])
        yb = y[i:i + EVAL_CHUNK]
        total_loss += float(batch_loss(loss_fn, out, yb)) * len(yb)
        correct += int(predict_correct(out, yb).sum())
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


def train(config: Mapping[str, Any], seed: int, data: Tensors, eval_every: str | int = "epoch",
          max_steps: int | None = None) -> Outcome:
    """Train one model; evaluate every `eval_every` ("epoch", "iteration" or k iterations).

    Train and validation loss and accuracy are recorded at every evaluation and at the end
    of every epoch, the test split (if loaded) and the learning rate at the end of every
    epoch, the mini-batch loss at every iteration. The last incomplete
    batch of an epoch is skipped, as in the notes. `max_steps` stops early and evaluates on
    at most DRY_RUN_EVAL images per split (dry runs: a smoke test, not a measurement).
    """
    torch.manual_seed(seed)
    model = build(config, data.input_shape, data.n_outputs)
    order_rng = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(config, model.parameters())
    decay = config["lr_decay"]
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=decay) if decay != 1 else None
    loss_fn = loss_function(data.n_outputs)
    bs, n = config["batch_size"], len(data.x_train)
    steps = n // bs
    if steps == 0:
        raise ValueError(f"batch_size {bs} is larger than the training set ({n} images)")
    every = 1 if eval_every == "iteration" else (eval_every if isinstance(eval_every, int) else None)

    curves: list[tuple[int, int, str, str, float]] = []
    last: dict[str, float] = {}
    best_val_acc, best_epoch, best_val_loss, stale = -math.inf, 0, math.inf, 0
    status, iteration, epochs_run = "ok", 0, 0

    def record(epoch: int, with_test: bool) -> None:
        splits = [("train", data.x_train, data.y_train), ("val", data.x_val, data.y_val)]
        if with_test and data.x_test is not None and data.y_test is not None:
            splits.append(("test", data.x_test, data.y_test))
        for split, x, y in splits:
            if max_steps:
                x, y = x[:DRY_RUN_EVAL], y[:DRY_RUN_EVAL]
            loss, acc = evaluate(model, loss_fn, x, y)
            last[f"{split}_loss"], last[f"{split}_acc"] = loss, acc
            curves.append((epoch, iteration, split, "loss", loss))
            curves.append((epoch, iteration, split, "acc", acc))

    model.train()
    for epoch in range(1, config["epochs"] + 1):
        perm = torch.randperm(n, generator=order_rng) if config["shuffle"] else torch.arange(n)
        for b in range(steps):
            idx = perm[b * bs:(b + 1) * bs]
            loss = batch_loss(loss_fn, model(data.x_train[idx]), data.y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            iteration += 1
            value = loss.item()
            curves.append((epoch, iteration, "train", "batch_loss", value))
            if not math.isfinite(value):
                status = "diverged"
                break
            if every and iteration % every == 0 and b < steps - 1:
                record(epoch, with_test=False)
            if max_steps and iteration >= max_steps:
                break
        epochs_run = epoch
        record(epoch, with_test=True)
        curves.append((epoch, iteration, "train", "lr", optimizer.param_groups[0]["lr"]))
        if status == "diverged" or (max_steps and iteration >= max_steps):
            break
        val_acc, val_loss = last["val_acc"], last["val_loss"]
        if val_acc > best_val_acc:  # earliest epoch with the best validation accuracy
            best_val_acc, best_epoch = val_acc, epoch
        if val_loss < best_val_loss:
            best_val_loss, stale = val_loss, 0
        else:
            stale += 1
        if config["patience"] and stale >= config["patience"]:
            break
        if scheduler is not None:
            scheduler.step()

    metrics = {k: last.get(k, math.nan) for k in
               ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")}
    metrics["best_val_acc"] = best_val_acc if best_epoch else last.get("val_acc", math.nan)
    metrics["best_epoch"] = best_epoch or epochs_run
    metrics["epochs_run"] = epochs_run
    metrics["iterations"] = iteration
    return Outcome(status, metrics, curves)
