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

from sweeper.train.data import Tensors
from sweeper.train.loop import (
    EVAL_CHUNK,
    Outcome,
    SeedLog,
    epoch_order,
    eval_interval,
    predict_correct,
    splits,
    steps_per_epoch,
    summed_loss,
)
from sweeper.train.models import build
from sweeper.train.optim import Optimizer

MIN_EVAL_CHUNK = 64  # images per evaluation chunk, however many seeds share it


class SeedStack:
    """The parameters and buffers of several seeds' models, stacked, and the functions that
    run all of them at once on a template module that holds no data of its own."""

    def __init__(self, models: list[nn.Module], device: torch.device) -> None:
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
        return summed_loss(out, y) / y.shape[1]

    @torch.inference_mode()
    def evaluate(self, x: Tensor, y: Tensor, index: Tensor | None = None) -> tuple[list[float], list[float]]:
        """(mean loss, accuracy) of each seed (or each seed at `index`) over a whole split, in eval mode."""
        params, buffers = self.params, self.buffers
        if index is not None:
            params = {k: v[index] for k, v in params.items()}
            buffers = {k: v[index] for k, v in buffers.items()}
        seeds = len(next(iter(params.values())))
        if len(x) == 0:
            return [math.nan] * seeds, [math.nan] * seeds
        self.template.eval()
        run = vmap(self._logits, in_dims=(0, 0, None))
        chunk = max(MIN_EVAL_CHUNK, EVAL_CHUNK // seeds)
        total_loss = torch.zeros(seeds, dtype=torch.float64, device=x.device)
        correct = torch.zeros(seeds, dtype=torch.int64, device=x.device)
        for i in range(0, len(x), chunk):
            out = run(params, buffers, x[i:i + chunk])
            yb = y[i:i + chunk].expand(seeds, -1)
            total_loss += summed_loss(out, yb).double()
            correct += predict_correct(out, yb).sum(-1)
        return (total_loss / len(x)).tolist(), (correct.double() / len(x)).tolist()


def stack_seeds(config: Mapping[str, Any], seeds: list[int], data: Tensors) -> SeedStack:
    """Every seed's freshly initialised model, built exactly as `loop.train` builds it, stacked."""
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build(config, data.input_shape, data.n_outputs))
    return SeedStack(models, data.x_train.device)


def train_seeds(config: Mapping[str, Any], seeds: list[int], data: Tensors, eval_every: str | int = "epoch",
                max_steps: int | None = None) -> list[Outcome]:
    """Train one model per seed, all at once; one `Outcome` per seed, in the order of `seeds`,
    with the same metrics and curves as `loop.train` gives for that seed."""
    device = data.x_train.device
    stack = stack_seeds(config, seeds, data)
    optimizer = Optimizer(config)
    rngs = [torch.Generator().manual_seed(seed) for seed in seeds]
    logs = [SeedLog(config["patience"]) for _ in seeds]
    status, iterations = ["ok"] * len(seeds), [0] * len(seeds)
    active = list(range(len(seeds)))  # which seeds the stacks hold, in stack order
    bs, steps, n = config["batch_size"], steps_per_epoch(config, data), len(data.x_train)
    every = eval_interval(eval_every)
    iteration = 0

    def record(epoch: int, with_test: bool, rows: list[int] | None = None) -> None:
        """Evaluate the seeds at stack positions `rows` (all when None) into their logs."""
        rows = list(range(len(active))) if rows is None else rows
        index = None if len(rows) == len(active) else torch.tensor(rows, dtype=torch.long, device=device)
        for split, x, y in splits(data, with_test):
            losses, accs = stack.evaluate(x, y, index)
            for row, loss, acc in zip(rows, losses, accs, strict=True):
                logs[active[row]].evaluated(epoch, iteration, split, loss, acc)

    def drop(rows: list[int]) -> None:
        """Take the seeds at stack positions `rows` out of training."""
        nonlocal active
        for row in rows:
            iterations[active[row]] = iteration
        keep = [row for row in range(len(active)) if row not in rows]
        index = torch.tensor(keep, dtype=torch.long, device=device)
        stack.keep(index)
        optimizer.keep(index)
        active = [active[row] for row in keep]

    # one buffer for every step's images (all seeds' batches): reusing it instead of
    # allocating 1-2 MB per step saved about 0.1 ms of a 3-4 ms step on the CPU
    batch = torch.empty(len(seeds) * bs, *data.input_shape, device=device)
    for epoch in range(1, config["epochs"] + 1):
        perms = torch.stack([epoch_order(config, n, rngs[s], device) for s in active])
        for b in range(steps):
            idx = perms[:, b * bs:(b + 1) * bs]
            x = torch.index_select(data.x_train, 0, idx.flatten(), out=batch[:idx.numel()])
            x = x.view(*idx.shape, *data.input_shape)
            losses = stack.train_losses(x, data.y_train[idx])
            params = list(stack.params.values())
            optimizer.step(params, list(torch.autograd.grad(losses.sum(), params)))
            iteration += 1
            diverged = [row for row, value in enumerate(losses.tolist())
                        if not logs[active[row]].batch_loss(epoch, iteration, value)]
            if diverged:  # as `train` does: evaluate after the diverging step, then stop
                for row in diverged:
                    status[active[row]], logs[active[row]].epochs_run = "diverged", epoch
                record(epoch, with_test=True, rows=diverged)
                drop(diverged)
                perms = perms[[row for row in range(len(perms)) if row not in diverged]]
                if not active:
                    break
            if every and iteration % every == 0 and b < steps - 1:
                record(epoch, with_test=False)
            if max_steps and iteration >= max_steps:
                break
        if not active:
            break
        for s in active:
            logs[s].epochs_run = epoch
        record(epoch, with_test=True)
        if max_steps and iteration >= max_steps:
            break
        stopped = [row for row, s in enumerate(active) if logs[s].end_epoch(epoch)]
        if len(stopped) == len(active):
            break
        if stopped:
            drop(stopped)
        optimizer.decay_lr(config["lr_decay"])
    for s in active:
        iterations[s] = iteration
    return [log.outcome(st, it) for log, st, it in zip(logs, status, iterations, strict=True)]
