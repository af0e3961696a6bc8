"""The training driver: the one epoch flow of every built-in way of training.

A bank (`bank.py`: one model, a configuration's seeds, or stacked configurations) supplies
the tensor code; this module owns everything else, once: each seed's data order, the
training steps, divergence, evaluation and curves, the learning-rate log, `max_steps`,
early stopping, the best epoch and each model's outcome.

The seed fixes a model's initialisation (torch's global RNG, seeded just before the model is
built, so the same seed gives the notes' own MLP the same weights) and its data order (a
generator of its own that draws one permutation per epoch; models of one seed share it).
Batches are drawn from tensors already in memory, evaluation runs under
`torch.inference_mode` on whole splits, and nothing is printed: the driver returns metrics
and curves.

Train and validation loss and accuracy are recorded before training (epoch 0, iteration 0:
the untrained model), at every evaluation and at the end of every epoch, the test split
(if loaded) and the learning rate at the end of every epoch, the mini-batch loss at every
iteration. The last incomplete batch of an epoch is skipped, as in the notes. A model that
diverges is evaluated after the diverging step and stops there; one that stops early stops
at the end of its epoch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from sweeper.builtin.bank import Bank, ModelFn, OneModel
from sweeper.builtin.data import Tensors
from sweeper.builtin.measures import (
    DIVERGED_LOSS,
    MetricFns,
    predict_correct,
    primary_measure,
    summed_loss,
    user_metrics,
)
from sweeper.usercode.plugin import Curve, FitOptions, Outcome

__all__ = ["Outcome", "SeedLog", "evaluate", "fit", "train"]


class SeedLog:
    """What one model's training records: its curves, its latest metrics, its best epoch and
    its early-stopping count."""

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

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the log (JSON values). The curves, which grow by every
        step's row, are one JSON string: walked value by value, they made every epoch's
        checkpoint cost more than the epoch's training."""
        return {"curves": json.dumps(self.curves), "last": self.last, "best_val": self.best_val,
                "best_epoch": self.best_epoch, "best_val_loss": self.best_val_loss, "stale": self.stale,
                "epochs_run": self.epochs_run}

    def load(self, state: Mapping[str, Any]) -> None:
        curves = state["curves"]
        curves = json.loads(curves) if isinstance(curves, str) else curves  # a list: an older checkpoint
        self.curves = [tuple(c) for c in curves]  # type: ignore[misc]
        self.last = dict(state["last"])
        self.best_val, self.best_epoch = state["best_val"], state["best_epoch"]
        self.best_val_loss, self.stale, self.epochs_run = state["best_val_loss"], state["stale"], state["epochs_run"]

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


def eval_interval(eval_every: str | int) -> int | None:
    """Iterations between mid-epoch evaluations; None for once per epoch."""
    return 1 if eval_every == "iteration" else (eval_every if isinstance(eval_every, int) else None)


def splits(data: Tensors, with_test: bool) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """The splits evaluated at a record: train and val, and test (if loaded) when asked."""
    out = [("train", data.x_train, data.y_train), ("val", data.x_val, data.y_val)]
    if with_test and data.x_test is not None and data.y_test is not None:
        out.append(("test", data.x_test, data.y_test))
    return out


@torch.inference_mode()
def evaluate(bank: Bank, models: Sequence[int], x: torch.Tensor, y: torch.Tensor, regress: bool = False,
             metrics: MetricFns | None = None) -> list[dict[str, float]]:
    """For each of `models`: {"loss": mean loss, "acc": accuracy} over a whole split (for
    regression "rmse" in place of "acc"), then every user metric `fn(outputs, targets)` on
    the whole split's outputs."""
    primary = primary_measure(regress)[0]
    if len(x) == 0:
        return [{"loss": math.nan, primary: math.nan, **{name: math.nan for name in metrics or {}}}] * len(models)
    total = torch.zeros(len(models), dtype=torch.float64, device=x.device)
    correct = torch.zeros(len(models), dtype=torch.int64, device=x.device)
    outs = []
    chunk = bank.eval_chunk(len(models))
    for i in range(0, len(x), chunk):
        out = bank.outputs(x[i:i + chunk], models)
        yb = y[i:i + chunk].expand(len(models), *y[i:i + chunk].shape)
        total += summed_loss(out, yb, regress).double()
        if not regress:
            correct += predict_correct(out, yb).sum(-1)
        if metrics:
            outs.append(out)
    losses = (total / len(x)).tolist()
    scores = [math.sqrt(v) for v in losses] if regress else (correct.double() / len(x)).tolist()
    return [{"loss": loss, primary: score} | user_metrics(metrics, [o[r] for o in outs], y)
            for r, (loss, score) in enumerate(zip(losses, scores, strict=True))]


class _Run:
    """One bank's training: each seed's generator and each model's log, status, iterations and
    best weights; its checkpoints (through `options.channel`, one per model)."""

    def __init__(self, bank: Bank, data: Tensors, metrics: MetricFns | None, options: FitOptions) -> None:
        self.bank, self.data, self.metrics, self.options = bank, data, metrics, options
        self.channel = options.channel
        self.reported = [0] * len(bank.members)  # curve rows of each model already handed to the channel
        self.config = bank.config
        self.rngs = [torch.Generator().manual_seed(options.split(seed)[1]) for seed in bank.seeds]  # data order
        self.logs = [SeedLog(int(bank.configs[c]["patience"]), data.regress) for c, _ in bank.members]
        self.status = ["ok"] * len(bank.members)
        self.iterations = [0] * len(bank.members)
        self.iteration = 0
        self.kept: list[dict[str, dict[str, torch.Tensor]]] = [{} for _ in bank.members]  # "best", "last" weights
        self.saved_at = time.monotonic()  # when the last checkpoint was saved (or training began)

    def train_epoch(self, epoch: int, every: int | None, max_steps: int | None) -> None:
        """One pass over the training set, each seed in its own order."""
        bs, steps, n = self.config["batch_size"], steps_per_epoch(self.config, self.data), len(self.data.x_train)
        device = self.data.x_train.device
        perms = {s: epoch_order(self.config, n, self.rngs[s], device) for s in self.bank.live_seeds()}
        for b in range(steps):
            idx = torch.stack([perms[s][b * bs:(b + 1) * bs] for s in self.bank.live_seeds()])
            losses = self.bank.step(idx)
            self.iteration += 1
            diverged = [m for m, loss in zip(self.bank.active, losses, strict=True)
                        if not self.logs[m].batch_loss(epoch, self.iteration, loss)]
            if diverged:  # evaluated after the diverging step, then stopped
                for m in diverged:
                    self.logs[m].epochs_run = epoch
                self.record(epoch, with_test=True, models=diverged)
                self.stop(diverged, "diverged")
                if not self.bank.active:
                    return
            if every and self.iteration % every == 0 and b < steps - 1:
                self.record(epoch, with_test=False, models=self.bank.active)
            if max_steps and self.iteration >= max_steps:
                return

    def record(self, epoch: int, with_test: bool, models: Sequence[int]) -> None:
        """Evaluate `models` on each split into their logs."""
        models = list(models)
        for split, x, y in splits(self.data, with_test):
            for m, values in zip(models, evaluate(self.bank, models, x, y, self.data.regress, self.metrics), strict=True):
                self.logs[m].evaluated(epoch, self.iteration, split, values)

    def end_epoch(self, epoch: int) -> None:
        """Each training model's best epoch and early stopping after the epoch's record: its
        weights kept when this epoch is its best, and it stops when its patience is out."""
        stopped = []
        for m in self.bank.active:
            if self.logs[m].end_epoch(epoch):
                stopped.append(m)
            if "best" in self.options.weights and self.logs[m].best_epoch == epoch:
                self.kept[m]["best"] = self.bank.weights(m)
        self.stop(stopped, "ok")

    def stop(self, models: Sequence[int], status: str) -> None:
        if not models:
            return
        for m in models:
            self.status[m], self.iterations[m] = status, self.iteration
            if "last" in self.options.weights and status != "diverged":
                self.kept[m]["last"] = self.bank.weights(m)
        self.bank.drop(models, diverged=status == "diverged")

    def report(self) -> None:
        """Each model's curve rows since the last report, for a live view of the running trials."""
        if self.channel is None:
            return
        for m, (c, s) in enumerate(self.bank.members):
            rows = self.logs[m].curves[self.reported[m]:]
            if rows:
                self.channel.rows(c, self.bank.seeds[s], rows)
                self.reported[m] = len(self.logs[m].curves)
        self.channel.rows(0, 0, [], flush=True)

    # -- checkpoints: what a resumed run needs to go on as this one would -----------------
    def checkpoint(self, epoch: int) -> None:
        o = self.options
        if self.channel is None or o.max_steps:
            return
        last = epoch == int(self.config["epochs"])
        due = (epoch % o.checkpoint_every == 0) if o.checkpoint_every else \
            o.checkpoint_seconds is not None and time.monotonic() - self.saved_at >= o.checkpoint_seconds
        if not (due or (last and o.checkpoint_final)):
            return
        self.saved_at = time.monotonic()
        shared = {"epoch": epoch, "iteration": self.iteration, "steps": self.bank.optimizer.steps,
                  "global_rng": torch.get_rng_state()}
        if self.data.x_train.is_cuda:
            shared["cuda_rng"] = torch.cuda.get_rng_state(self.data.x_train.device)
        for m, (c, s) in enumerate(self.bank.members):
            self.channel.save(c, self.bank.seeds[s], {
                **shared, "order_rng": self.rngs[s].get_state(), "log": self.logs[m].state(),
                "status": self.status[m], "iterations": self.iterations[m], "active": m in self.bank.active,
                "lr": self.bank.lr(m) if self.bank.row(m) is not None else None,
                "tensors": self.bank.model_state(m), "kept": self.kept[m]})

    def resume(self) -> int:
        """Go on from the checkpoints an earlier attempt saved, at the last epoch every model
        has one of (a kill while a group's models were saved leaves some at the epoch before,
        which the others kept as their previous checkpoint), saved by models that trained in
        step (the same iteration and optimiser steps: one group, or a pruning rung's group of
        which these are the survivors); the epoch they were saved at (0: none, start afresh)."""
        if self.channel is None:
            return 0
        options = [self.channel.resumes(c, self.bank.seeds[s]) for c, s in self.bank.members]
        if not options or not all(options):
            return 0
        epoch = min(max(st["epoch"] for st in states) for states in options)
        found = [next((st for st in states if st["epoch"] == epoch), None) for states in options]
        saved = [st for st in found if st is not None]
        # saved by one group in step (a pruning rung's group may hold more models than its survivors')
        if len(saved) != len(found) or len({(st["iteration"], st["steps"]) for st in saved}) != 1:
            return 0
        first = saved[0]
        active = [m for m, st in enumerate(saved) if st["active"]]
        self.bank.load_states({m: st["tensors"] for m, st in enumerate(saved)},
                              {m: st["lr"] for m, st in enumerate(saved) if st["lr"] is not None}, first["steps"], active)
        for m, st in enumerate(saved):
            self.logs[m].load(st["log"])
            self.status[m], self.iterations[m], self.kept[m] = st["status"], st["iterations"], dict(st["kept"])
            self.rngs[self.bank.members[m][1]].set_state(st["order_rng"])
        self.iteration = first["iteration"]
        torch.set_rng_state(first["global_rng"])
        if "cuda_rng" in first and self.data.x_train.is_cuda:
            torch.cuda.set_rng_state(first["cuda_rng"], self.data.x_train.device)
        return int(first["epoch"])

    def outcomes(self, resumed: int = 0) -> list[Outcome]:
        for m in self.bank.active:
            self.iterations[m] = self.iteration
            if "last" in self.options.weights:
                self.kept[m]["last"] = self.bank.weights(m)
        out = []
        for m, (log, status, iterations) in enumerate(zip(self.logs, self.status, self.iterations, strict=True)):
            outcome = log.outcome(status, iterations)
            outcome.metrics["resumed_epoch"] = resumed  # per run: the epoch it went on from (0: from the start)
            outcome.weights = self.kept[m]
            out.append(outcome)
        return out


def fit(bank: Bank, data: Tensors, eval_every: str | int = "epoch", options: FitOptions | None = None,
        metrics: MetricFns | None = None) -> list[Outcome]:
    """Train every model of the bank; evaluate every `eval_every` ("epoch", "iteration" or k
    iterations). With `options`: stop after `max_steps`, keep the `weights` asked for, hand
    each epoch's curve rows to `channel` and save a checkpoint every `checkpoint_every`
    epochs there, or go on from the one an earlier attempt saved. One `Outcome` per model, in
    the bank's order (`bank.members`)."""
    options = options or FitOptions()
    run = _Run(bank, data, metrics, options)
    every = eval_interval(eval_every)
    start = run.resume()
    if not start:
        run.record(0, with_test=False, models=bank.active)  # the untrained models: curves start at iteration 0
    for epoch in range(start + 1, int(bank.config["epochs"]) + 1):
        run.train_epoch(epoch, every, options.max_steps)
        if not bank.active:  # every model diverged
            break
        for m in bank.active:
            run.logs[m].epochs_run = epoch
        run.record(epoch, with_test=True, models=bank.active)
        for m in bank.active:
            run.logs[m].learning_rate(epoch, run.iteration, bank.lr(m))
        if options.max_steps and run.iteration >= options.max_steps:
            break
        run.end_epoch(epoch)
        run.report()
        if not bank.active:
            break
        bank.decay_lr()
        run.checkpoint(epoch)
    run.report()
    return run.outcomes(start)


def train(config: Mapping[str, Any], seed: int, data: Tensors, eval_every: str | int = "epoch",
          max_steps: int | None = None, model_fn: ModelFn | None = None, metrics: MetricFns | None = None,
          options: FitOptions | None = None) -> Outcome:
    """Train one model, the course's way (see the module's docstring). Training runs on the
    device that holds `data`; the model is built on the CPU first, so a seed starts from
    the same weights everywhere."""
    options = _with(options, max_steps)
    return fit(OneModel(config, seed, data, model_fn, _init(options)), data, eval_every, options, metrics)[0]


def train_seeds(config: Mapping[str, Any], seeds: Sequence[int], data: Tensors, eval_every: str | int = "epoch",
                max_steps: int | None = None, model_fn: ModelFn | None = None,
                metrics: MetricFns | None = None, options: FitOptions | None = None) -> list[Outcome]:
    """Train one model per seed, all at once (`vectorized.SeedBank`); one `Outcome` per seed."""
    from sweeper.builtin.vectorized import SeedBank

    options = _with(options, max_steps)
    return fit(SeedBank(config, seeds, data, model_fn, _init(options)), data, eval_every, options, metrics)


def train_group(configs: Sequence[Mapping[str, Any]], seeds: Sequence[int], data: Tensors,
                eval_every: str | int = "epoch", max_steps: int | None = None, model_fn: ModelFn | None = None,
                metrics: MetricFns | None = None, options: FitOptions | None = None,
                parts: Sequence[Sequence[int]] | None = None) -> list[list[Outcome]]:
    """Train every configuration once per seed as one stacked model (`stacked.StackedBank`), or
    with `parts` (lists of indices into `configs`: configurations of one shape and optimizer)
    as one stacked model per part (`mixed.MixedBank`): `out[c][s]` is what `train(configs[c],
    seeds[s], ...)` gives, up to floating-point noise. Raises `stacked.NotStackable` where the
    models cannot be stacked."""
    from sweeper.builtin.mixed import MixedBank
    from sweeper.builtin.stacked import StackedBank

    options = _with(options, max_steps)
    bank: Bank = StackedBank(configs, seeds, data, model_fn, _init(options)) if parts is None or len(parts) == 1 \
        else MixedBank(configs, seeds, data, parts, model_fn, _init(options))
    flat = fit(bank, data, eval_every, options, metrics)
    C = len(configs)
    return [[flat[s * C + c] for s in range(len(seeds))] for c in range(C)]


def _with(options: FitOptions | None, max_steps: int | None) -> FitOptions:
    options = options or FitOptions()
    return options if max_steps is None else dataclasses.replace(options, max_steps=max_steps)


def _init(options: FitOptions) -> Callable[[int], int]:
    """A trial seed's initialisation seed (itself, or a crossed pair's first: study/seeds.py)."""
    return lambda seed: options.split(seed)[0]
