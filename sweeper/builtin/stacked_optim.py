"""torch.optim's update rules for stacked models, each with its own hyperparameters.

The rules and their order of operations are those of `optim.Optimizer` (torch.optim's
single-tensor code); the learning rate, momentum, weight decay and lr decay are tensors
with one value per model (the first dimension of every stacked parameter), so one update
moves every model by its own rule. A model whose learning rate is set to zero (`freeze`)
no longer moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from sweeper.builtin.optim import ADAM_BETAS, ADAM_EPS, RMSPROP_ALPHA, RMSPROP_EPS


class StackedOptimizer:
    """One optimizer for S seeds x C configurations, models numbered s * C + c. The
    configurations share the optimizer and Nesterov (they are part of the stack key)."""

    def __init__(self, configs: Sequence[Mapping[str, Any]], n_seeds: int, device: torch.device) -> None:
        self.name = configs[0]["optimizer"]
        if self.name not in ("sgd", "adam", "adamw", "rmsprop"):
            raise ValueError(f"unknown optimizer {self.name!r}")

        def per_model(key: str) -> Tensor:
            return torch.tensor([float(c[key]) for _ in range(n_seeds) for c in configs], dtype=torch.float64,
                                device=device)

        self.lr, self.weight_decay, self.momentum = per_model("learning_rate"), per_model("weight_decay"), per_model("momentum")
        self.gamma = per_model("lr_decay")
        self.nesterov = bool(configs[0]["nesterov"])
        self.steps = 0
        self.state: dict[str, list[Tensor]] = {}

    def decay_lr(self) -> None:
        """One step of ExponentialLR for every model (multiplied, as torch does)."""
        self.lr *= self.gamma

    def freeze(self, rows: list[int]) -> None:
        self.lr[rows] = 0.0

    def keep(self, index: Tensor) -> None:
        """Keep only the models at `index`."""
        self.lr, self.weight_decay, self.momentum, self.gamma = (
            t[index] for t in (self.lr, self.weight_decay, self.momentum, self.gamma))
        self.state = {kind: [t[index] for t in tensors] for kind, tensors in self.state.items()}

    @torch.no_grad()
    def step(self, params: list[Tensor], grads: list[Tensor]) -> None:
        self.steps += 1
        dtype = params[0].dtype
        hyper = {"lr": self.lr.to(dtype), "wd": self.weight_decay.to(dtype), "momentum": self.momentum.to(dtype)}
        self._any_wd = bool((self.weight_decay != 0).any())
        self._any_momentum = bool((self.momentum != 0).any())
        update = {"sgd": self._sgd, "adam": self._adam, "adamw": self._adam, "rmsprop": self._rmsprop}[self.name]
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            shape = (-1,) + (1,) * (param.dim() - 1)
            update(i, param, grad, {k: v.view(shape) for k, v in hyper.items()})

    def _state(self, kind: str, i: int, make: Any) -> tuple[Tensor, bool]:
        tensors = self.state.setdefault(kind, [])
        if i < len(tensors):
            return tensors[i], False
        tensors.append(make())
        return tensors[i], True

    def _l2(self, param: Tensor, grad: Tensor, h: dict[str, Tensor]) -> Tensor:
        return grad.addcmul(param, h["wd"]) if self._any_wd else grad

    def _sgd(self, i: int, param: Tensor, grad: Tensor, h: dict[str, Tensor]) -> None:
        grad = self._l2(param, grad, h)
        if self._any_momentum:  # momentum 0 gives buf = grad: torch's update without a buffer
            buf, new = self._state("momentum_buffer", i, lambda: torch.clone(grad).detach())
            if not new:  # buf * momentum + grad, in one pass over the state
                torch.addcmul(grad, buf, h["momentum"], out=buf)
            grad = grad.addcmul(buf, h["momentum"]) if self.nesterov else buf
        param.addcmul_(grad, h["lr"], value=-1)

    def _adam(self, i: int, param: Tensor, grad: Tensor, h: dict[str, Tensor]) -> None:
        beta1, beta2 = ADAM_BETAS
        if self.name == "adamw":
            param.mul_((1 - self.lr * self.weight_decay).to(param.dtype).view(h["lr"].shape))
        else:
            grad = self._l2(param, grad, h)
        exp_avg, _ = self._state("exp_avg", i, lambda: torch.zeros_like(param))
        exp_avg_sq, _ = self._state("exp_avg_sq", i, lambda: torch.zeros_like(param))
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = float(self.steps)
        step_size = (self.lr / (1 - beta1**step)).to(param.dtype).view(h["lr"].shape)
        denom = (exp_avg_sq.sqrt() / ((1 - beta2**step) ** 0.5)).add_(ADAM_EPS)
        param.addcmul_(exp_avg / denom, step_size, value=-1)

    def _rmsprop(self, i: int, param: Tensor, grad: Tensor, h: dict[str, Tensor]) -> None:
        grad = self._l2(param, grad, h)
        square_avg, _ = self._state("square_avg", i, lambda: torch.zeros_like(param))
        square_avg.mul_(RMSPROP_ALPHA).addcmul_(grad, grad, value=1 - RMSPROP_ALPHA)
        avg = square_avg.sqrt().add_(RMSPROP_EPS)
        if self._any_momentum:  # momentum 0 gives buf = grad / avg: torch's update without a buffer
            buf, _ = self._state("momentum_buffer", i, lambda: torch.zeros_like(param))
            buf.mul_(h["momentum"]).addcdiv_(grad, avg)
            param.addcmul_(buf, h["lr"], value=-1)
        else:
            param.addcmul_(grad / avg, h["lr"], value=-1)
