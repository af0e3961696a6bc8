"""torch.optim's update rules, for one model's parameters or for several seeds' stacked ones.

SGD, Adam, AdamW and RMSprop update every element on its own (no norm over a whole
tensor), so one update of a tensor stacked along a first "seed" dimension is the update of
each seed's slice. The formulas, and their order of operations, are those of torch.optim's
single-tensor code (what it runs on the CPU); tests/builtin/test_optim.py checks them
against torch.optim. The state is stacked the same way, so `keep` can drop the seeds that
stopped training.

Both trainers use this rather than torch.optim itself: torch.optim's first `step` imports
torch._dynamo, two seconds of start-up in every worker process, and its per-step wrapping
costs more than the update of a small model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

ADAM_BETAS = (0.9, 0.999)  # torch.optim's defaults (a study cannot change them)
ADAM_EPS = 1e-8
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8


class Optimizer:
    """The configuration's optimizer, learning rate, momentum and weight decay, for a list of
    parameters given at each step (one model's, or every seed's stacked copy)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.name = config["optimizer"]
        if self.name not in ("sgd", "adam", "adamw", "rmsprop"):
            raise ValueError(f"unknown optimizer {self.name!r}")
        self.lr = float(config["learning_rate"])
        self.weight_decay = float(config["weight_decay"])
        self.momentum = float(config["momentum"])
        self.nesterov = bool(config["nesterov"]) and self.momentum > 0
        self.steps = 0  # every seed steps together, so one count serves them all
        self.state: dict[str, list[Tensor]] = {}  # kind of state -> one stacked tensor per parameter

    def decay_lr(self, gamma: float) -> None:
        """One step of ExponentialLR (the lr is multiplied, as torch does, not recomputed)."""
        if gamma != 1:
            self.lr *= gamma

    def keep(self, index: Tensor) -> None:
        """Keep only the seeds at `index` (positions along the first dimension)."""
        self.state = {kind: [t[index] for t in tensors] for kind, tensors in self.state.items()}

    @torch.no_grad()
    def step(self, params: list[Tensor], grads: list[Tensor]) -> None:
        self.steps += 1
        update = {"sgd": self._sgd, "adam": self._adam, "adamw": self._adam, "rmsprop": self._rmsprop}[self.name]
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            update(i, param, grad)

    def _state_of(self, kind: str, i: int, make: Callable[[], Tensor]) -> tuple[Tensor, bool]:
        """Parameter i's state tensor `kind`, and whether it was just made (on the first step,
        parameters come in order, so appending keeps the lists aligned with them)."""
        tensors = self.state.setdefault(kind, [])
        if i < len(tensors):
            return tensors[i], False
        tensors.append(make())
        return tensors[i], True

    def _l2(self, param: Tensor, grad: Tensor) -> Tensor:
        return grad.add(param, alpha=self.weight_decay) if self.weight_decay != 0 else grad

    def _sgd(self, i: int, param: Tensor, grad: Tensor) -> None:
        grad = self._l2(param, grad)
        if self.momentum != 0:
            buf, new = self._state_of("momentum_buffer", i, lambda: torch.clone(grad).detach())
            if not new:
                buf.mul_(self.momentum).add_(grad)
            grad = grad.add(buf, alpha=self.momentum) if self.nesterov else buf
        param.add_(grad, alpha=-self.lr)

    def _adam(self, i: int, param: Tensor, grad: Tensor) -> None:
        beta1, beta2 = ADAM_BETAS
        if self.name == "adamw":
            param.mul_(1 - self.lr * self.weight_decay)
        else:
            grad = self._l2(param, grad)
        exp_avg, _ = self._state_of("exp_avg", i, lambda: torch.zeros_like(param))
        exp_avg_sq, _ = self._state_of("exp_avg_sq", i, lambda: torch.zeros_like(param))
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = float(self.steps)
        step_size = self.lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(ADAM_EPS)
        param.addcdiv_(exp_avg, denom, value=-step_size)

    def _rmsprop(self, i: int, param: Tensor, grad: Tensor) -> None:
        grad = self._l2(param, grad)
        square_avg, _ = self._state_of("square_avg", i, lambda: torch.zeros_like(param))
        square_avg.mul_(RMSPROP_ALPHA).addcmul_(grad, grad, value=1 - RMSPROP_ALPHA)
        avg = square_avg.sqrt().add_(RMSPROP_EPS)
        if self.momentum > 0:
            buf, _ = self._state_of("momentum_buffer", i, lambda: torch.zeros_like(param))
            buf.mul_(self.momentum).addcdiv_(grad, avg)
            param.add_(buf, alpha=-self.lr)
        else:
            param.addcdiv_(grad, avg, value=-self.lr)
