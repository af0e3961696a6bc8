"""Training one configuration with one seed: a small, explicitly seeded function.

The seed fixes the model's initialisation (torch's global RNG, seeded just before the model
is built, so the same seed gives the notes' own MLP the same weights) and the data order (a
generator of its own that draws one permutation per epoch). Batches are drawn from tensors
already in memory, evaluation runs under `torch.inference_mode` on whole splits, and nothing
is printed: the function returns its metrics and curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from sweeper.builtin.data import Tensors
from sweeper.builtin.models import build
from sweeper.builtin.optim import Optimizer
from sweeper.engine.plugin import Curve, Outcome

MetricFns = Mapping[str, Callable[[torch.Tensor, torch.Tensor], float]]
ModelFn = Callable[[Mapping[str, Any]], nn.Module]

EVAL_CHUNK = 4096
# A mini-batch loss above this counts as diverged, as NaN and infinity do: it is over 400 times
# the loss of guessing among 10 classes (ln 10 = 2.3), which no run that is still learning
# reaches; a run that does (learning rate 1e4: loss 1e4 at chance accuracy) has blown up.
# Classification only: a regression's squared error has the targets' units, and may be large.
DIVERGED_LOSS = 1e3


def loss_function(n_outputs: int, regress: bool = False) -> nn.Module:
    if regress:
        return nn.MSELoss()
    return nn.BCEWithLogitsLoss() if n_outputs == 1 else nn.CrossEntropyLoss()


def primary_measure(regress: bool) -> tuple[str, bool]:
    """The measure beside the loss at every evaluation, and whether higher is better."""
    return ("rmse", False) if regress else ("acc", True)


def predict_correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether each prediction is right; the outputs are the last dimension of `out`."""
    if out.shape[-1] == 1:  # one logit: positive means "label < 3"
        return (out[..., 0] > 0).float() == y
    return out.argmax(-1) == y


def batch_loss(loss_fn: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return loss_fn(out[:, 0], y) if out.shape[1] == 1 else loss_fn(out, y)


def summed_loss(out: torch.Tensor, y: torch.Tensor, regress: bool = False) -> torch.Tensor:
    """The loss of each image, summed: `batch_loss` times the batch size, up to floating-point
    noise. Cross-entropy as logsumexp minus the label's logit, which on the CPU is several
    times faster than torch's log_softmax over 10 classes (this runs at every evaluation).
    For regression, the squared error (averaged over the targets of an example)."""
    if regress:
        one = out.shape[-1] == 1 and y.dim() == out.dim() - 1
        return ((out[..., 0] - y).pow(2) if one else (out - y).pow(2).mean(-1)).sum(-1)
    if out.shape[-1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(out[..., 0], y, reduction="none").sum(-1)
    return (torch.logsumexp(out, -1) - out.gather(-1, y.unsqueeze(-1)).squeeze(-1)).sum(-1)


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, regress: bool = False,
             metrics: MetricFns | None = None) -> dict[str, float]:
    """{"loss": mean loss, "acc": accuracy} over a whole split (for regression "rmse" in place
    of "acc"), then every user metric `fn(outputs, targets)` on the whole split's outputs; in
    the model's current mode (callers set eval mode)."""
    primary = primary_measure(regress)[0]
    if len(x) == 0:
        return {"loss": math.nan, primary: math.nan, **{name: math.nan for name in metrics or {}}}
    total_loss, correct, outs = 0.0, 0, []
    for i in range(0, len(x), EVAL_CHUNK):
        out = model(x[i:i + EVAL_CHUNK])
        yb = y[i:i + EVAL_CHUNK]
        total_loss += float(summed_loss(out, yb, regress))
        if not regress:
            correct += int(predict_correct(out, yb).sum())
        if metrics:
            outs.append(out)
    loss = total_loss / len(x)
    values = {"loss": loss, primary: math.sqrt(loss) if regress else correct / len(x)}
    return values | user_metrics(metrics, outs, y)


def user_metrics(metrics: MetricFns | None, outs: list[torch.Tensor], y: torch.Tensor) -> dict[str, float]:
    """Each user metric on a split's outputs (the model's raw outputs) and targets."""
    if not metrics:
        return {}
    out = torch.cat(outs)
    values = {}
    for name, fn in metrics.items():
        value = fn(out, y)
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metric `{name}` returned {value!r}, not a number")
        values[name] = float(value)
    return values


def has_train_mode(model: nn.Module) -> bool:
    """Whether the model computes differently in train and eval mode (BatchNorm, dropout);
    switching modes walks every submodule, which per-iteration evaluation feels."""
    return any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in model.modules())


def splits(data: Tensors, with_test: bool) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """The splits evaluated at a record: train and val, and test (if loaded) when asked."""
    out = [("train", data.x_train, data.y_train), ("val", data.x_val, data.y_val)]
    if with_test and data.x_test is not None and data.y_test is not None:
        out.append(("test", data.x_test, data.y_test))
    return out


def eval_interval(eval_every: str | int) -> int | None:
    """Iterations between mid-epoch evaluations; None for once per epoch."""
    return 1 if eval_every == "iteration" else (eval_every if isinstance(eval_every, int) else None)


class SeedLog:
    """What one seed's training records: its curves, its latest metrics, its best epoch and
    its early-stopping count. Shared by `train` and the vectorized trainer, so that both
    produce the same rows from the same numbers."""

    def __init__(self, patience: int, regress: bool = False) -> None:
        self.patience = patience
        self.primary, self.higher_is_better = primary_measure(regress)
        self.curves: list[Curve] = []
        self.last: dict[str, float] = {}
        self.best_val, self.best_epoch, self.best_val_loss, self.stale = -math.inf, 0, math.inf, 0
        self.epochs_run = 0

    def batch_loss(self, epoch: int, iteration: int, value: float) -> bool:
        """Record a training batch's loss; False if it diverged: NaN, infinite, or (classifying)
        above DIVERGED_LOSS."""
        self.curves.append((epoch, iteration, "train", "batch_loss", value))
        return math.isfinite(value) and (self.primary == "rmse" or value <= DIVERGED_LOSS)

    def evaluated(self, epoch: int, iteration: int, split: str, values: Mapping[str, float]) -> None:
        """Record a split's evaluation: {"loss": ..., "acc": ..., user metrics ...}."""
        for measure, value in values.items():
            self.last[f"{split}_{measure}"] = value
            self.curves.append((epoch, iteration, split, measure, value))

    def learning_rate(self, epoch: int, iteration: int, lr: float) -> None:
        """The learning rate the epoch trained with (it decays per epoch with lr_decay)."""
        self.curves.append((epoch, iteration, "train", "lr", lr))

    def end_epoch(self, epoch: int) -> bool:
        """Update the best epoch and early stopping after the epoch's record; True to stop."""
        val, val_loss = self.last[f"val_{self.primary}"], self.last["val_loss"]
        score = val if self.higher_is_better else -val
        if score > self.best_val:  # earliest epoch with the best validation accuracy (or RMSE)
            self.best_val, self.best_epoch = score, epoch
        if val_loss < self.best_val_loss:
            self.best_val_loss, self.stale = val_loss, 0
        else:
            self.stale += 1
        return bool(self.patience) and self.stale >= self.patience

    def outcome(self, status: str, iterations: int) -> Outcome:
        metrics = dict(self.last)
        best = self.best_val if self.higher_is_better else -self.best_val
        metrics[f"best_val_{self.primary}"] = best if self.best_epoch else self.last.get(f"val_{self.primary}", math.nan)
        metrics["best_epoch"] = self.best_epoch or self.epochs_run
        metrics["epochs_run"] = self.epochs_run
        metrics["iterations"] = iterations
        return Outcome(status, metrics, self.curves)


def steps_per_epoch(config: Mapping[str, Any], data: Tensors) -> int:
    bs, n = config["batch_size"], len(data.x_train)
    if n // bs == 0:
        raise ValueError(f"batch_size {bs} is larger than the training set ({n} images)")
    return n // bs


def epoch_order(config: Mapping[str, Any], n: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """This epoch's order of the training images: drawn on the CPU generator, so that a
    seed's order is the same on every device, then moved once."""
    perm = torch.randperm(n, generator=rng) if config["shuffle"] else torch.arange(n)
    return perm.to(device)


def build_model(config: Mapping[str, Any], data: Tensors, model_fn: ModelFn | None) -> nn.Module:
    """The configuration's model: the user's `model(config)`, or a built-in one for the data's shape."""
    if model_fn is None:
        return build(config, data.input_shape, data.n_outputs)
    model = model_fn(config)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model(config) returned {type(model).__name__}, not a torch.nn.Module")
    return model


def train(config: Mapping[str, Any], seed: int, data: Tensors, eval_every: str | int = "epoch",
          max_steps: int | None = None, model_fn: ModelFn | None = None, metrics: MetricFns | None = None) -> Outcome:
    """Train one model; evaluate every `eval_every` ("epoch", "iteration" or k iterations).

    Train and validation loss and accuracy are recorded before training (epoch 0, iteration
    0: the untrained model), at every evaluation and at the end of every epoch, the test
    split (if loaded) and the learning rate at the end of every epoch, the mini-batch loss
    at every iteration. The last incomplete batch of an epoch is skipped, as in the notes. `max_steps` stops early (dry runs).
    Training runs on the device that holds `data`; the model is built on the CPU first, so
    a seed starts from the same weights everywhere.
    """
    device = data.x_train.device
    torch.manual_seed(seed)
    model = build_model(config, data, model_fn).to(device)
    order_rng = torch.Generator().manual_seed(seed)
    params: list[torch.Tensor] = list(model.parameters())
    optimizer = Optimizer(config)
    loss_fn = loss_function(data.n_outputs, data.regress)
    bs, steps = config["batch_size"], steps_per_epoch(config, data)
    every = eval_interval(eval_every)
    log = SeedLog(config["patience"], data.regress)
    status, iteration = "ok", 0

    switch_mode = has_train_mode(model)

    def record(epoch: int, with_test: bool) -> None:
        if switch_mode:
            model.eval()
        for split, x, y in splits(data, with_test):
            log.evaluated(epoch, iteration, split, evaluate(model, x, y, data.regress, metrics))
        if switch_mode:
            model.train()

    record(0, with_test=False)  # the untrained model: curves start at iteration 0
    model.train()
    for epoch in range(1, config["epochs"] + 1):
        perm = epoch_order(config, len(data.x_train), order_rng, device)
        for b in range(steps):
            idx = perm[b * bs:(b + 1) * bs]
            loss = batch_loss(loss_fn, model(data.x_train[idx]), data.y_train[idx])
            optimizer.step(params, list(torch.autograd.grad(loss, params)))
            iteration += 1
            if not log.batch_loss(epoch, iteration, loss.item()):
                status = "diverged"
                break
            if every and iteration % every == 0 and b < steps - 1:
                record(epoch, with_test=False)
            if max_steps and iteration >= max_steps:
                break
        log.epochs_run = epoch
        record(epoch, with_test=True)
        if status != "diverged":  # a diverged seed's curves end where it diverged, in both trainers
            log.learning_rate(epoch, iteration, optimizer.lr)
        if status == "diverged" or (max_steps and iteration >= max_steps):
            break
        if log.end_epoch(epoch):
            break
        optimizer.decay_lr(config["lr_decay"])
    return log.outcome(status, iteration)
