"""A bank of several configurations, and each one's seeds, trained as one stacked model.

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
weight decay as tensors (`optim.PerModel`).

Each model keeps its own initialisation (torch's RNG seeded with its seed just before
`build`, as `OneModel` does), data order (its seed's generator), curves, best epoch, early
stopping and divergence (the driver's). A model that stops (early stopping, divergence) no
longer moves; its rows cost time until its configuration or seed has stopped everywhere,
when the stacks shrink. Results differ from one-at-a-time training only by floating-point
noise, except with dropout (each model draws its own masks, but not those it would draw alone).

A model that cannot be stacked (a layer with parameters of a kind not listed in
`stacked_layers.LAYERS`, a layer called twice, or outputs that differ from the model's own
on a probe batch) raises `NotStackable`; the trainer then trains it one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sweeper.builtin.bank import Bank, ModelFn, seeded_model
from sweeper.builtin.data import Tensors
from sweeper.builtin.fused import FusedMLP, linear_relu_chain
from sweeper.builtin.measures import summed_loss
from sweeper.builtin.optim import Optimizer
from sweeper.builtin.stacked_layers import NotStackable, StackedModel

__all__ = ["NotStackable", "StackedBank", "slower_stacked"]


def slower_stacked(model: nn.Module, device: torch.device) -> bool:
    """Measured: on the CPU, a CNN's grouped convolutions (tutorial CNN, 30 models) take longer
    than training its models one at a time (0.74x); stacked MLPs are 2.6-2.9x faster."""
    return device.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())


class StackedBank(Bank):
    """C configurations x S seeds as one stacked model; model m = s * C + c (seed-major). The
    stacks hold the rows of the seeds and configurations still training (`seed_rows`,
    `config_rows`), in the same order."""

    def __init__(self, configs: Sequence[Mapping[str, Any]], seeds: Sequence[int], data: Tensors,
                 model_fn: ModelFn | None = None, init: Callable[[int], int] | None = None) -> None:
        super().__init__(configs, seeds, init)
        self.data, self.device = data, data.x_train.device
        self.bs = int(self.config["batch_size"])
        models = [seeded_model(config, self.init(seed), data, model_fn).to(self.device)
                  for seed in seeds for config in configs]
        if slower_stacked(models[0], self.device):
            raise NotStackable("a convolutional model on the CPU is faster one model at a time")
        self.model = StackedModel(models, data.x_train[:2])
        chain = linear_relu_chain(self.model.template) if not data.regress and data.n_outputs > 1 else None
        self.fused = FusedMLP(chain) if chain else None  # a plain MLP's step, by hand (`fused.py`)
        self.optimizer = Optimizer.stacked(self.configs, len(seeds), self.device)
        self.seed_rows, self.config_rows = list(range(len(seeds))), list(range(len(configs)))
        self._number_rows()
        # one buffer for every step's images (a copy per seed): allocated once, not per step
        self.batch = torch.empty(len(seeds) * self.bs, *data.input_shape, device=self.device)

    def _number_rows(self) -> None:
        C = len(self.configs)
        self._rows = {s * C + c: i * len(self.config_rows) + j
                      for i, s in enumerate(self.seed_rows) for j, c in enumerate(self.config_rows)}

    def live_seeds(self) -> list[int]:
        return list(self.seed_rows)

    def parameters(self) -> list[Tensor]:
        return self.model.params

    def named_tensors(self) -> dict[str, Tensor]:
        return self.model.named_tensors()

    def counters(self) -> dict[str, int]:
        return self.model.counters()

    def set_counters(self, counts: Mapping[str, int]) -> None:
        self.model.set_counters(dict(counts))

    def row(self, m: int) -> int | None:
        return self._rows.get(m)

    def step(self, idx: Tensor) -> list[float]:
        """One update of every model in the stacks on its seed's batch (idx: seeds x batch)."""
        x = torch.index_select(self.data.x_train, 0, idx.flatten(), out=self.batch[:idx.numel()])
        y = self.data.y_train[idx]  # seeds x batch
        params = self.model.params
        if self.fused is not None:
            losses, grads = self.fused.step(x, y)
        else:
            y = y.unsqueeze(1).expand(y.shape[0], len(self.config_rows), *y.shape[1:]).flatten(0, 1)
            self.model.train()
            out = self.model(x, groups=len(self.seed_rows))
            losses = summed_loss(out.view(y.shape[0], y.shape[1], *out.shape[1:]), y, self.data.regress) / y.shape[1]
            found = torch.autograd.grad(losses.sum(), params, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, found, strict=True)]
        self.optimizer.step(params, grads)
        every = losses.tolist()
        return [every[self._rows[m]] for m in self.active]

    def outputs(self, x: Tensor, models: Sequence[int]) -> Tensor:
        """Every model in the stacks reads x (one wide product); the rows of `models` are returned."""
        rows = len(self.seed_rows) * len(self.config_rows)
        if self.fused is not None:
            out = self.fused.outputs(x)
        else:
            self.model.eval()
            out = self.model(x, groups=1)
            out = out.view(rows, -1, *out.shape[1:])
        return out[[self._rows[m] for m in models]]

    def eval_chunk(self, models: int) -> int:
        return self.model.eval_chunk(len(self.seed_rows) * len(self.config_rows))

    def lr(self, m: int) -> float:
        return self.optimizer.hyper.rate(self._rows[m])

    def decay_lr(self) -> None:
        self.optimizer.decay_lr()

    def drop(self, models: Sequence[int], diverged: bool) -> None:
        """Freeze the models; shrink the stacks when a seed or a configuration has no model
        left in training."""
        super().drop(models, diverged)
        frozen = [self._rows[m] for m in models]
        self.optimizer.freeze(frozen)
        if diverged:  # keep the stacks finite: NaN rows would cost time in every product
            self.model.zero_rows(frozen)
        C = len(self.configs)
        live = {divmod(m, C) for m in self.active}
        seeds_left = [s for s in self.seed_rows if any(s == ls for ls, _ in live)]
        configs_left = [c for c in self.config_rows if any(c == lc for _, lc in live)]
        if (seeds_left, configs_left) != (self.seed_rows, self.config_rows) and seeds_left:
            keep = [self.seed_rows.index(s) * len(self.config_rows) + self.config_rows.index(c)
                    for s in seeds_left for c in configs_left]
            index = torch.tensor(keep, dtype=torch.long, device=self.device)
            self.model.keep(index)
            self.optimizer.keep(index)
            self.seed_rows, self.config_rows = seeds_left, configs_left
            self._number_rows()
