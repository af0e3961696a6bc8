"""Training every seed of one configuration at once, with torch.func.

Each seed's model is built exactly as `loop.train` builds it (torch's RNG seeded with the
seed just before `build`) and draws its batches from its own generator, so every seed
starts from the same weights and sees the same batches as it would alone. The models'
parameters and buffers are stacked along a first "seed" dimension, and one `vmap` of
`functional_call` runs all seeds' forward passes as one batched computation; one backward
pass then gives each seed its own gradients (the seeds' losses are independent, so the
gradient of their sum is each seed's gradient). BatchNorm's running statistics are stacked
buffers that the training forward pass updates in place, one slice per seed; evaluation
runs the model in eval mode, on those running statistics.

A seed that diverges, or stops early, is evaluated as `train` would evaluate it and then
dropped from the stacks, so it neither costs time nor touches the others. Results differ
from one-at-a-time training only by floating-point noise, except with dropout: each seed
then draws its own masks (`randomness="different"`), but not the masks it would draw alone.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from sweeper.builtin.data import Tensors
from sweeper.builtin.loop import (
    EVAL_CHUNK,
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
from sweeper.builtin.optim import Optimizer
from sweeper.engine.plugin import Outcome

MIN_EVAL_CHUNK = 64  # images per evaluation chunk, however many seeds share it


class SeedStack:
    """The parameters and buffers of several seeds' models, stacked, and the functions that
    run all of them at once on a template module that holds no data of its own."""

    def __init__(self, models: list[nn.Module], device: torch.device, regress: bool = False,
                 metrics: MetricFns | None = None) -> None:
        self.regress, self.metrics = regress, metrics
        params, buffers = stack_module_state(models)  # type: ignore[arg-type]
        self.params = {k: v.detach().to(device).requires_grad_() for k, v in params.items()}
        self.buffers = {k: v.to(device) for k, v in buffers.items()}
        self.template = copy.deepcopy(models[0]).to("meta")

    def __len__(self) -> int:
        return len(next(iter(self.params.values())))

    def keep(self, index: Tensor) -> None:
        """Keep only the seeds at `index`: fresh leaf tensors for the parameters."""
        self.params = {k: v.detach()[index].requires_grad_() for k, v in self.params.items()}
        self.buffers = {k: v[index] for k, v in self.buffers.items()}

    def _logits(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.template, (params, buffers), (x,))

    def train_losses(self, x: Tensor, y: Tensor) -> Tensor:
        """Each seed's mean loss on its own batch (x: seeds x batch x ...), in training mode:
        BatchNorm normalises with batch statistics and updates each seed's running ones."""
        self.template.train()
        out = vmap(self._logits, randomness="different")(self.params, self.buffers, x)
        return summed_loss(out, y, self.regress) / y.shape[1]

    @torch.inference_mode()
    def evaluate(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> list[dict[str, float]]:
        """What `loop.evaluate` gives, for each seed (or each seed at `index`) over a whole
        split, in eval mode."""
        params, buffers = self.params, self.buffers
        if index is not None:
            params = {k: v[index] for k, v in params.items()}
            buffers = {k: v[index] for k, v in buffers.items()}
        seeds = len(next(iter(params.values())))
        primary = primary_measure(self.regress)[0]
        if len(x) == 0:
            return [{"loss": math.nan, primary: math.nan, **{m: math.nan for m in self.metrics or {}}}] * seeds
        self.template.eval()
        run = vmap(self._logits, in_dims=(0, 0, None))
        chunk = max(MIN_EVAL_CHUNK, EVAL_CHUNK // seeds)
        total_loss = torch.zeros(seeds, dtype=torch.float64, device=x.device)
        correct = torch.zeros(seeds, dtype=torch.int64, device=x.device)
        outs = []
        for i in range(0, len(x), chunk):
            out = run(params, buffers, x[i:i + chunk])
            yb = y[i:i + chunk].expand(seeds, *([-1] * y.dim()))
            total_loss += summed_loss(out, yb, self.regress).double()
            if not self.regress:
                correct += predict_correct(out, yb).sum(-1)
            if self.metrics:
                outs.append(out)
        losses = (total_loss / len(x)).tolist()
        scores = [math.sqrt(v) for v in losses] if self.regress else (correct.double() / len(x)).tolist()
        return [{"loss": loss, primary: score} | user_metrics(self.metrics, [o[s] for o in outs], y)
                for s, (loss, score) in enumerate(zip(losses, scores, strict=True))]


def stack_seeds(config: Mapping[str, Any], seeds: list[int], data: Tensors, model_fn: ModelFn | None = None,
                metrics: MetricFns | None = None) -> SeedStack:
    """Every seed's freshly initialised model, built exactly as `loop.train` builds it, stacked."""
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build_model(config, data, model_fn))
    return SeedStack(models, data.x_train.device, data.regress, metrics)


def train_seeds(config: Mapping[str, Any], seeds: list[int], data: Tensors, eval_every: str | int = "epoch",
                max_steps: int | None = None, model_fn: ModelFn | None = None,
                metrics: MetricFns | None = None) -> list[Outcome]:
    """Train one model per seed, all at once; one `Outcome` per seed, in the order of `seeds`,
    with the same metrics and curves as `loop.train` gives for that seed."""
    run = _Run(config, seeds, data, model_fn, metrics)
    every = eval_interval(eval_every)
    run.record(0, with_test=False)  # the untrained models, as `loop.train` records them
    for epoch in range(1, config["epochs"] + 1):
        run.train_epoch(epoch, every, max_steps)
        if not run.active:  # every seed diverged
            break
        for s in run.active:
            run.logs[s].epochs_run = epoch
        run.record(epoch, with_test=True)
        for s in run.active:
            run.logs[s].learning_rate(epoch, run.iteration, run.optimizer.lr)
        if max_steps and run.iteration >= max_steps:
            break
        stopped = [row for row, s in enumerate(run.active) if run.logs[s].end_epoch(epoch)]
        if len(stopped) == len(run.active):
            break
        run.drop(stopped)
        run.optimizer.decay_lr(config["lr_decay"])
    return run.outcomes()


class _Run:
    """One vectorized run: the stacks, the optimizer, each seed's generator and log, and which
    seeds are still training. Seeds are named by their position in `seeds`, stack rows by
    their position in `active`."""

    def __init__(self, config: Mapping[str, Any], seeds: list[int], data: Tensors, model_fn: ModelFn | None,
                 metrics: MetricFns | None) -> None:
        self.config, self.data, self.device = config, data, data.x_train.device
        self.stack = stack_seeds(config, seeds, data, model_fn, metrics)
        self.optimizer = Optimizer(config)
        self.rngs = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.logs = [SeedLog(config["patience"], data.regress) for _ in seeds]
        self.status, self.iterations = ["ok"] * len(seeds), [0] * len(seeds)
        self.active = list(range(len(seeds)))
        self.iteration = 0
        # one buffer for every step's images (all seeds' batches): reusing it instead of
        # allocating 1-2 MB per step saved about 0.1 ms of a 3-4 ms step on the CPU
        self.batch = torch.empty(len(seeds) * config["batch_size"], *data.input_shape, device=self.device)

    def train_epoch(self, epoch: int, every: int | None, max_steps: int | None) -> None:
        """One pass over the training set, each seed in its own order, as `train` makes it."""
        bs, steps, n = self.config["batch_size"], steps_per_epoch(self.config, self.data), len(self.data.x_train)
        perms = torch.stack([epoch_order(self.config, n, self.rngs[s], self.device) for s in self.active])
        for b in range(steps):
            diverged = self.step(epoch, perms[:, b * bs:(b + 1) * bs])
            if diverged:  # as `train` does: evaluate after the diverging step, then stop
                for row in diverged:
                    self.status[self.active[row]], self.logs[self.active[row]].epochs_run = "diverged", epoch
                self.record(epoch, with_test=True, rows=diverged)
                self.drop(diverged)
                perms = perms[[row for row in range(len(perms)) if row not in diverged]]
                if not self.active:
                    return
            if every and self.iteration % every == 0 and b < steps - 1:
                self.record(epoch, with_test=False)
            if max_steps and self.iteration >= max_steps:
                return

    def step(self, epoch: int, idx: Tensor) -> list[int]:
        """One optimizer step of every active seed on its batch (idx: seeds x batch); the
        stack rows whose loss was NaN or infinite."""
        x = torch.index_select(self.data.x_train, 0, idx.flatten(), out=self.batch[:idx.numel()])
        losses = self.stack.train_losses(x.view(*idx.shape, *self.data.input_shape), self.data.y_train[idx])
        params = list(self.stack.params.values())
        self.optimizer.step(params, list(torch.autograd.grad(losses.sum(), params)))
        self.iteration += 1
        return [row for row, value in enumerate(losses.tolist())
                if not self.logs[self.active[row]].batch_loss(epoch, self.iteration, value)]

    def record(self, epoch: int, with_test: bool, rows: list[int] | None = None) -> None:
        """Evaluate the seeds at stack rows `rows` (all when None) into their logs."""
        rows = list(range(len(self.active))) if rows is None else rows
        index = None if len(rows) == len(self.active) else self._index(rows)
        for split, x, y in splits(self.data, with_test):
            for row, values in zip(rows, self.stack.evaluate(x, y, index), strict=True):
                self.logs[self.active[row]].evaluated(epoch, self.iteration, split, values)

    def drop(self, rows: list[int]) -> None:
        """Take the seeds at stack rows `rows` out of training."""
        if not rows:
            return
        for row in rows:
            self.iterations[self.active[row]] = self.iteration
        keep = [row for row in range(len(self.active)) if row not in rows]
        self.stack.keep(self._index(keep))
        self.optimizer.keep(self._index(keep))
        self.active = [self.active[row] for row in keep]

    def outcomes(self) -> list[Outcome]:
        for s in self.active:
            self.iterations[s] = self.iteration
        return [log.outcome(status, iterations)
                for log, status, iterations in zip(self.logs, self.status, self.iterations, strict=True)]

    def _index(self, rows: list[int]) -> Tensor:
        return torch.tensor(rows, dtype=torch.long, device=self.device)
