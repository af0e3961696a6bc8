"""Training several configurations, and each one's seeds, as one stacked model.

Configurations that differ only in optimiser hyperparameters (learning rate, momentum,
weight decay, lr decay, patience) have models of the same shape. Their models, one per
(configuration, seed), are stacked: every parameter and buffer gets a first "model"
dimension, and the model's own `forward` runs on a batch that holds every model's examples
one after the other (model-major, `models * batch` rows), with each layer that has
parameters replaced by a stacked one (`stacked_layers.py`). Elementwise layers, pooling,
flattening and reshapes by `x.size(0)` work on such a batch unchanged.

Models that share a seed see the same batches, so the first layer reads one input per seed
rather than one per model: for a Linear layer, the weights of a seed's models side by side
are one wide matrix product; in evaluation, where every model reads the whole split, all
of them are one product. The update rules take each model's learning rate, momentum and
weight decay as tensors (`StackedOptimizer`).

Each model keeps its own initialisation (torch's RNG seeded with its seed just before
`build`, as `loop.train` does), data order (its seed's generator), curves, best epoch,
early stopping and divergence, recorded by a `SeedLog` of its own. A model that stops
(early stopping, divergence) is no longer recorded and no longer moves; its rows cost time
until its configuration or seed has stopped everywhere, when the stacks shrink. Results
differ from one-at-a-time training only by floating-point noise, except with dropout
(each model draws its own masks, but not those it would draw alone).

A model that cannot be stacked (a layer with parameters of a kind not listed in
`stacked_layers.LAYERS`, a layer called twice, or outputs that differ from the model's own
on a probe batch) raises `NotStackable`; the trainer then trains it one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sweeper.builtin.data import Tensors
from sweeper.builtin.loop import (
    MetricFns,
    ModelFn,
    SeedLog,
    build_model,
    epoch_order,
    eval_interval,
    predict_correct,
    primary_measure,
    splits,
    steps_per_epoch,
    summed_loss,
    user_metrics,
)
from sweeper.builtin.stacked_layers import NotStackable, StackedModel
from sweeper.builtin.stacked_optim import StackedOptimizer
from sweeper.engine.plugin import Outcome

__all__ = ["NotStackable", "train_group"]


def train_group(configs: Sequence[Mapping[str, Any]], seeds: Sequence[int], data: Tensors,
                eval_every: str | int = "epoch", max_steps: int | None = None, model_fn: ModelFn | None = None,
                metrics: MetricFns | None = None) -> list[list[Outcome]]:
    """Train every configuration once per seed, all at once: `outcomes[c][s]` is what
    `loop.train(configs[c], seeds[s], ...)` gives, up to floating-point noise."""
    run = _Run(list(configs), list(seeds), data, model_fn, metrics)
    every = eval_interval(eval_every)
    run.record(0, with_test=False, models=run.active_models())  # the untrained models, as `loop.train` records them
    for epoch in range(1, run.epochs + 1):
        run.train_epoch(epoch, every, max_steps)
        if not run.active.any():
            break
        for m in run.active_models():
            run.logs[m].epochs_run = epoch
        run.record(epoch, with_test=True, models=run.active_models())
        for m in run.active_models():
            run.logs[m].learning_rate(epoch, run.iteration, float(run.optimizer.lr[run.row(m)]))
        if max_steps and run.iteration >= max_steps:
            break
        run.stop([m for m in run.active_models() if run.logs[m].end_epoch(epoch)], "ok")
        if not run.active.any():
            break
        run.optimizer.decay_lr()
    return run.outcomes()


def slower_stacked(model: nn.Module, device: torch.device) -> bool:
    """Measured: on the CPU, a CNN's grouped convolutions (tutorial CNN, 30 models) take longer
    than training its models one at a time (0.74x); stacked MLPs are 2.6-2.9x faster."""
    return device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())


class _Run:
    """One stacked run. Models are numbered m = s * C + c (seed-major) among the C
    configurations and S seeds given; the stacks hold the rows of the seeds and
    configurations still training (`seed_rows`, `config_rows`), in the same order."""

    def __init__(self, configs: list[Mapping[str, Any]], seeds: list[int], data: Tensors, model_fn: ModelFn | None,
                 metrics: MetricFns | None) -> None:
        self.configs, self.seeds, self.data, self.metrics = configs, seeds, data, metrics
        first = configs[0]
        self.epochs, self.bs = int(first["epochs"]), int(first["batch_size"])
        self.steps = steps_per_epoch(first, data)
        self.device = data.x_train.device
        self.regress = data.regress
        models = []
        for seed in seeds:
            for config in configs:
                torch.manual_seed(seed)
                models.append(build_model(config, data, model_fn).to(self.device))
        if slower_stacked(models[0], self.device):
            raise NotStackable("a convolutional model on the CPU is faster one model at a time")
        self.model = StackedModel(models, data.x_train[:2])
        self.optimizer = StackedOptimizer(configs, len(seeds), self.device)
        self.rngs = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.logs = [SeedLog(int(config["patience"]), data.regress) for _ in seeds for config in configs]
        self.status = ["ok"] * len(self.logs)
        self.iterations = [0] * len(self.logs)
        self.active = torch.ones(len(seeds), len(configs), dtype=torch.bool)  # who still trains
        self.seed_rows, self.config_rows = list(range(len(seeds))), list(range(len(configs)))
        self._number_rows()
        self.iteration = 0
        # one buffer for every step's images (a copy per seed): allocated once, not per step
        self.batch = torch.empty(len(seeds) * self.bs, *data.input_shape, device=self.device)

    # -- positions ------------------------------------------------------------------------
    def active_models(self) -> list[int]:
        return [s * len(self.configs) + c for s, c in self.active.nonzero().tolist()]

    def row(self, m: int) -> int:
        """Model m's row in the stacks."""
        return self._rows[m]

    def _number_rows(self) -> None:
        C = len(self.configs)
        self._rows = {s * C + c: i * len(self.config_rows) + j
                      for i, s in enumerate(self.seed_rows) for j, c in enumerate(self.config_rows)}

    # -- training -------------------------------------------------------------------------
    def train_epoch(self, epoch: int, every: int | None, max_steps: int | None) -> None:
        n = len(self.data.x_train)
        perms = {s: epoch_order(self.configs[0], n, self.rngs[s], self.device) for s in self.seed_rows}
        for b in range(self.steps):
            idx = torch.stack([perms[s][b * self.bs:(b + 1) * self.bs] for s in self.seed_rows])
            losses = self.step(idx)
            self.iteration += 1
            diverged = []
            for m in self.active_models():
                if not self.logs[m].batch_loss(epoch, self.iteration, losses[self.row(m)]):
                    diverged.append(m)
            if diverged:  # as `train` does: evaluate after the diverging step, then stop
                for m in diverged:
                    self.logs[m].epochs_run = epoch
                self.record(epoch, with_test=True, models=diverged)
                self.stop(diverged, "diverged")
                if not self.active.any():
                    return
            if every and self.iteration % every == 0 and b < self.steps - 1:
                self.record(epoch, with_test=False, models=self.active_models())
            if max_steps and self.iteration >= max_steps:
                return

    def step(self, idx: Tensor) -> list[float]:
        """One update of every model in the stacks on its seed's batch (idx: seeds x batch);
        each model's loss."""
        x = torch.index_select(self.data.x_train, 0, idx.flatten(), out=self.batch[:idx.numel()])
        y = self.data.y_train[idx]  # seeds x batch
        y = y.unsqueeze(1).expand(y.shape[0], len(self.config_rows), *y.shape[1:]).flatten(0, 1)
        self.model.train()
        out = self.model(x, groups=len(self.seed_rows))
        losses = summed_loss(out.view(y.shape[0], y.shape[1], *out.shape[1:]), y, self.regress) / y.shape[1]
        params = self.model.params
        grads = torch.autograd.grad(losses.sum(), params, allow_unused=True)
        self.optimizer.step(params, [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)])
        return losses.tolist()

    def stop(self, models: list[int], status: str) -> None:
        """Take models out of training; shrink the stacks when a seed or a configuration
        has no model left in training."""
        if not models:
            return
        for m in models:
            s, c = divmod(m, len(self.configs))
            self.active[s, c] = False
            self.status[m], self.iterations[m] = status, self.iteration
        frozen = [self.row(m) for m in models]
        self.optimizer.freeze(frozen)
        if status == "diverged":  # keep the stacks finite: NaN rows would cost time in every product
            self.model.zero_rows(frozen)
        seeds_left = [s for s in self.seed_rows if self.active[s].any()]
        configs_left = [c for c in self.config_rows if self.active[:, c].any()]
        if (seeds_left, configs_left) != (self.seed_rows, self.config_rows) and seeds_left:
            keep = [self.seed_rows.index(s) * len(self.config_rows) + self.config_rows.index(c)
                    for s in seeds_left for c in configs_left]
            index = torch.tensor(keep, dtype=torch.long, device=self.device)
            self.model.keep(index)
            self.optimizer.keep(index)
            self.seed_rows, self.config_rows = seeds_left, configs_left
            self._number_rows()

    # -- evaluation -----------------------------------------------------------------------
    def record(self, epoch: int, with_test: bool, models: list[int]) -> None:
        """Evaluate every model in the stacks on each split; log those in `models`."""
        if not models:
            return
        for split, x, y in splits(self.data, with_test):
            values = self.evaluate(x, y)
            for m in models:
                self.logs[m].evaluated(epoch, self.iteration, split, values[self.row(m)])

    @torch.inference_mode()
    def evaluate(self, x: Tensor, y: Tensor) -> list[dict[str, float]]:
        """What `loop.evaluate` gives for each model in the stacks, over a whole split."""
        rows = len(self.seed_rows) * len(self.config_rows)
        primary = primary_measure(self.regress)[0]
        if len(x) == 0:
            return [{"loss": math.nan, primary: math.nan, **{k: math.nan for k in self.metrics or {}}}] * rows
        self.model.eval()
        total = torch.zeros(rows, dtype=torch.float64, device=x.device)
        correct = torch.zeros(rows, dtype=torch.int64, device=x.device)
        outs = []
        chunk = self.model.eval_chunk(rows)
        for i in range(0, len(x), chunk):
            out = self.model(x[i:i + chunk], groups=1)
            out = out.view(rows, -1, *out.shape[1:])
            yb = y[i:i + chunk].expand(rows, *y[i:i + chunk].shape)
            total += summed_loss(out, yb, self.regress).double()
            if not self.regress:
                correct += predict_correct(out, yb).sum(-1)
            if self.metrics:
                outs.append(out)
        losses = (total / len(x)).tolist()
        scores = [math.sqrt(v) for v in losses] if self.regress else (correct.double() / len(x)).tolist()
        return [{"loss": loss, primary: score} | user_metrics(self.metrics, [o[r] for o in outs], y)
                for r, (loss, score) in enumerate(zip(losses, scores, strict=True))]

    def outcomes(self) -> list[list[Outcome]]:
        for m in self.active_models():
            self.iterations[m] = self.iteration
        C = len(self.configs)
        return [[self.logs[s * C + c].outcome(self.status[s * C + c], self.iterations[s * C + c])
                 for s in range(len(self.seeds))] for c in range(C)]
