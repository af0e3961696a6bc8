"""A bank of configurations of several shapes or optimizers: one bank per part, one driver.

Configurations that differ in their model's shape (hidden size, layers, normalization,
dropout) or in their optimizer cannot share stacked tensors, but they can share everything
else: the training loop, each seed's batches, evaluation, the task and its worker. Each part
(configurations of one shape and one optimizer, with every seed) is a bank of its own: a
`StackedBank`, or `OneModel` for a part of one model. A part's numbers are those it has
trained alone, bit for bit: the parts share no tensor.

What it saves, measured on 2 CPU cores: one task per group instead of one per part, or per
model where a part held a single configuration (`tutorial_optimizer`, `tutorial_hidden_size`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from sweeper.builtin.bank import Bank, ModelFn, OneModel
from sweeper.builtin.data import Tensors
from sweeper.builtin.stacked import StackedBank


class MixedBank(Bank):
    """Configurations in `parts` (lists of indices into `configs`), each part a bank with every
    seed; model m = s * C + c, as in every bank."""

    def __init__(self, configs: Sequence[Mapping[str, Any]], seeds: Sequence[int], data: Tensors,
                 parts: Sequence[Sequence[int]], model_fn: ModelFn | None = None,
                 init: Callable[[int], int] | None = None) -> None:
        super().__init__(configs, seeds, init)
        self.parts: list[Bank] = []
        self.place: dict[int, tuple[int, int]] = {}  # model -> (part, the part's own model number)
        C = len(configs)
        for k, part in enumerate(parts):
            own = [configs[c] for c in part]
            self.parts.append(OneModel(own[0], seeds[0], data, model_fn, init) if len(own) * len(seeds) == 1
                              else StackedBank(own, seeds, data, model_fn, init))
            for j, c in enumerate(part):
                for s in range(len(seeds)):
                    self.place[s * C + c] = (k, s * len(part) + j)
        self.optimizer = self.parts[0].optimizer  # every part steps together: its count is theirs

    def live_seeds(self) -> list[int]:
        return sorted({s for part in self.parts if part.active for s in part.live_seeds()})

    def step(self, idx: Tensor) -> list[float]:
        live = self.live_seeds()
        losses: dict[tuple[int, int], float] = {}
        for k, part in enumerate(self.parts):
            if not part.active:
                continue
            rows = [live.index(s) for s in part.live_seeds()]
            mine = idx if len(rows) == len(live) else idx[rows]
            losses.update({(k, m): loss for m, loss in zip(part.active, part.step(mine), strict=True)})
        return [losses[self.place[m]] for m in self.active]

    def outputs(self, x: Tensor, models: Sequence[int]) -> Tensor:
        asked: dict[int, list[int]] = {}
        for m in models:
            k, own = self.place[m]
            asked.setdefault(k, []).append(own)
        out: list[Tensor | None] = [None] * len(models)
        for k, own_models in asked.items():
            got = self.parts[k].outputs(x, own_models)
            rows = {own: r for r, own in enumerate(own_models)}
            for i, m in enumerate(models):
                if self.place[m][0] == k:
                    out[i] = got[rows[self.place[m][1]]]
        return torch.stack(out)  # type: ignore[arg-type]

    def eval_chunk(self, models: int) -> int:
        return min(part.eval_chunk(len(part.active)) for part in self.parts if part.active)

    def lr(self, m: int) -> float:
        k, own = self.place[m]
        return self.parts[k].lr(own)

    def decay_lr(self) -> None:
        for part in self.parts:
            part.decay_lr()

    def drop(self, models: Sequence[int], diverged: bool) -> None:
        super().drop(models, diverged)
        for k, part in enumerate(self.parts):
            own = [self.place[m][1] for m in models if self.place[m][0] == k]
            if own:
                part.drop(own, diverged)
        live = [part for part in self.parts if part.active]
        if live:
            self.optimizer = live[0].optimizer

    # -- state: each model's, from its part ------------------------------------------
    def parameters(self) -> list[Tensor]:
        return [t for part in self.parts for t in part.parameters()]

    def named_tensors(self) -> dict[str, Tensor]:
        raise NotImplementedError("a mixed bank's models have tensors of several shapes: ask a part")

    def row(self, m: int) -> int | None:
        k, own = self.place[m]
        return self.parts[k].row(own)

    def weights(self, m: int) -> dict[str, Tensor]:
        k, own = self.place[m]
        return self.parts[k].weights(own)

    def model_state(self, m: int) -> dict[str, Tensor]:
        k, own = self.place[m]
        return self.parts[k].model_state(own)

    def load_states(self, states: Mapping[int, Mapping[str, Tensor]], lrs: Mapping[int, float], steps: int,
                    active: Sequence[int]) -> None:
        for k, part in enumerate(self.parts):
            mine = {m: own for m, (p, own) in self.place.items() if p == k}
            part.load_states({own: states[m] for m, own in mine.items() if m in states},
                             {own: lrs[m] for m, own in mine.items() if m in lrs}, steps,
                             [own for m, own in sorted(mine.items(), key=lambda kv: kv[1]) if m in set(active)])
        self.active = [m for m in self.active if m in set(active)]
        live = [part for part in self.parts if part.active]
        self.optimizer = (live or self.parts)[0].optimizer
