"""torch.optim's update rules, written once, for one model or many trained together.

SGD (with momentum and Nesterov), Adam, AdamW and RMSprop update every element on its own
(no norm over a whole tensor), so one update of parameters stacked along a first "model"
dimension is the update of each model's slice. The formulas, and their order of operations,
are those of torch.optim's single-tensor code (what it runs on the CPU);
tests/builtin/test_optim.py checks them against torch.optim. The state is stacked the same
way, so `keep` can drop the models that stopped training.

The hyperparameters come in two shapes, and only the few operations that multiply by them
differ between the two:

- `Shared`: one learning rate, momentum and weight decay for every model (one model, or the
  seeds of one configuration): torch.optim's own arithmetic with numbers, which keeps a
  seed's run equal, bit for bit, to the course's loop;
- `PerModel`: a value per model (configurations that differ in their optimiser's numbers,
  trained as one stacked model): tensors along the model dimension.

The trainers use this rather than torch.optim itself: torch.optim's first `step` imports
torch._dynamo, two seconds of start-up in every worker process, and its per-step wrapping
costs more than the update of a small model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

ADAM_BETAS = (0.9, 0.999)  # torch.optim's defaults (a study cannot change them)
ADAM_EPS = 1e-8
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


class Shared:
    """The hyperparameters of every model as numbers."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.lr = float(config["learning_rate"])
        self.wd = float(config["weight_decay"])
        self.momentum = float(config["momentum"])
        self.gamma = float(config["lr_decay"])
        self.any_wd, self.any_momentum = self.wd != 0, self.momentum != 0

    def rate(self, row: int) -> float:
        return self.lr

    def decay(self) -> None:
        if self.gamma != 1:  # multiplied, as torch's ExponentialLR does, not recomputed
            self.lr *= self.gamma

    def keep(self, index: Tensor) -> None:
        """Every model has the same numbers: nothing to drop."""

    def restore(self, lrs: Mapping[Any, float]) -> None:
        """The learning rate a checkpoint saved (every model's is the same)."""
        if lrs:
            self.lr = next(iter(lrs.values()))

    def freeze(self, rows: list[int]) -> None:
        raise ValueError("models sharing one learning rate cannot be frozen one by one")

    def prepare(self, param: Tensor) -> None:
        """Nothing to shape: numbers broadcast."""

    # the operations that multiply by a hyperparameter
    def l2(self, grad: Tensor, param: Tensor) -> Tensor:
        return grad.add(param, alpha=self.wd)

    def accumulate(self, buf: Tensor, grad: Tensor) -> None:
        buf.mul_(self.momentum).add_(grad)

    def nesterov(self, grad: Tensor, buf: Tensor) -> Tensor:
        return grad.add(buf, alpha=self.momentum)

    def descend(self, param: Tensor, update: Tensor) -> None:
        param.add_(update, alpha=-self.lr)

    def decouple(self, param: Tensor) -> None:
        param.mul_(1 - self.lr * self.wd)

    def adam(self, param: Tensor, exp_avg: Tensor, denom: Tensor, bias1: float) -> None:
        param.addcdiv_(exp_avg, denom, value=-(self.lr / bias1))

    def scaled(self, param: Tensor, grad: Tensor, avg: Tensor) -> None:
        param.addcdiv_(grad, avg, value=-self.lr)

    def momentum_of(self) -> Any:
        return self.momentum


class PerModel:
    """The hyperparameters as tensors with one value per model, for S seeds x C configurations
    stacked as models s * C + c. A model whose learning rate is set to zero (`freeze`) no
    longer moves."""

    def __init__(self, configs: Sequence[Mapping[str, Any]], n_seeds: int, device: torch.device) -> None:
        def per_model(key: str) -> Tensor:
            return torch.tensor([float(c[key]) for _ in range(n_seeds) for c in configs], dtype=torch.float64,
                                device=device)

        self.lr, self.wd, self.momentum = per_model("learning_rate"), per_model("weight_decay"), per_model("momentum")
        self.gamma = per_model("lr_decay")
        self.any_wd, self.any_momentum = bool((self.wd != 0).any()), bool((self.momentum != 0).any())
        self._shape: tuple[int, ...] = (-1,)
        self._cast: dict[str, Tensor] = {}  # the hyperparameters in the parameters' dtype, until one changes
        self._views: dict[int, dict[str, Tensor]] = {}  # ... shaped for parameters of each number of dimensions
        self._h: dict[str, Tensor] = {}

    def _changed(self) -> None:
        self._cast, self._views = {}, {}

    def rate(self, row: int) -> float:
        return float(self.lr[row])

    def decay(self) -> None:
        self.lr *= self.gamma
        self._changed()

    def freeze(self, rows: list[int]) -> None:
        self.lr[rows] = 0.0
        self._changed()

    def keep(self, index: Tensor) -> None:
        self.lr, self.wd, self.momentum, self.gamma = (t[index] for t in (self.lr, self.wd, self.momentum, self.gamma))
        self._changed()

    def restore(self, lrs: Mapping[int, float]) -> None:
        """Each model's learning rate as a checkpoint saved it, by row (0 for a frozen model)."""
        for row, lr in lrs.items():
            self.lr[row] = lr
        self._changed()

    def begin(self, dtype: torch.dtype) -> None:
        """Once per step: the hyperparameters in the parameters' dtype (cast again only once
        one changed: casting and checking them at every step cost a small model's step 7%)."""
        if self._cast and self._cast["lr"].dtype == dtype:
            return
        self._changed()
        self._cast = {"lr": self.lr.to(dtype), "wd": self.wd.to(dtype), "momentum": self.momentum.to(dtype)}
        self.any_wd = bool((self.wd != 0).any())
        self.any_momentum = bool((self.momentum != 0).any())

    def prepare(self, param: Tensor) -> None:
        """Per parameter: the hyperparameters shaped to broadcast over its model dimension."""
        self._shape = (-1,) + (1,) * (param.dim() - 1)
        views = self._views.get(param.dim())
        if views is None:
            views = self._views[param.dim()] = {k: v.view(self._shape) for k, v in self._cast.items()}
        self._h = views

    def l2(self, grad: Tensor, param: Tensor) -> Tensor:
        return grad.addcmul(param, self._h["wd"])

    def accumulate(self, buf: Tensor, grad: Tensor) -> None:  # buf * momentum + grad, in one pass
        torch.addcmul(grad, buf, self._h["momentum"], out=buf)

    def nesterov(self, grad: Tensor, buf: Tensor) -> Tensor:
        return grad.addcmul(buf, self._h["momentum"])

    def descend(self, param: Tensor, update: Tensor) -> None:
        param.addcmul_(update, self._h["lr"], value=-1)

    def decouple(self, param: Tensor) -> None:
        param.mul_((1 - self.lr * self.wd).to(param.dtype).view(self._shape))

    def adam(self, param: Tensor, exp_avg: Tensor, denom: Tensor, bias1: float) -> None:
        param.addcmul_(exp_avg / denom, (self.lr / bias1).to(param.dtype).view(self._shape), value=-1)

    def scaled(self, param: Tensor, grad: Tensor, avg: Tensor) -> None:
        param.addcmul_(grad / avg, self._h["lr"], value=-1)

    def momentum_of(self) -> Any:
        return self._h["momentum"]


class Optimizer:
    """A configuration's optimizer (its kind and Nesterov are shared by every model it
    updates) over parameters given at each step, with `Shared` or `PerModel` hyperparameters."""

    def __init__(self, name: str, nesterov: bool, hyper: Shared | PerModel) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}")
        self.name, self.hyper = name, hyper
        self.nesterov = nesterov
        self.steps = 0  # every model steps together, so one count serves them all
        self.state: dict[str, list[Tensor]] = {}  # kind of state -> one stacked tensor per parameter

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Optimizer:
        """One configuration's optimizer, for one model or its seeds."""
        hyper = Shared(config)
        return cls(config["optimizer"], bool(config["nesterov"]) and hyper.momentum > 0, hyper)

    @classmethod
    def stacked(cls, configs: Sequence[Mapping[str, Any]], n_seeds: int, device: torch.device) -> Optimizer:
        """Configurations with one optimizer kind and Nesterov, each with its seeds."""
        return cls(configs[0]["optimizer"], bool(configs[0]["nesterov"]), PerModel(configs, n_seeds, device))

    @property
    def lr(self) -> float:
        """The shared learning rate (with `Shared` hyperparameters)."""
        return self.hyper.rate(0)

    def decay_lr(self) -> None:
        """One step of ExponentialLR for every model."""
        self.hyper.decay()

    def freeze(self, rows: list[int]) -> None:
        self.hyper.freeze(rows)

    def keep(self, index: Tensor) -> None:
        """Keep only the models at `index` (positions along the first dimension)."""
        self.hyper.keep(index)
        self.state = {kind: [t[index] for t in tensors] for kind, tensors in self.state.items()}

    @torch.no_grad()
    def step(self, params: list[Tensor], grads: list[Tensor]) -> None:
        self.steps += 1
        if isinstance(self.hyper, PerModel):
            self.hyper.begin(params[0].dtype)
        update = {"sgd": self._sgd, "adam": self._adam, "adamw": self._adam, "rmsprop": self._rmsprop}[self.name]
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            self.hyper.prepare(param)
            update(i, param, grad)

    def _state_of(self, kind: str, i: int, make: Callable[[], Tensor]) -> tuple[Tensor, bool]:
        """Parameter i's state tensor `kind`, and whether it was just made (on the first step,
        parameters come in order, so appending keeps the lists aligned with them)."""
        tensors = self.state.setdefault(kind, [])
        if i < len(tensors):
            return tensors[i], False
        tensors.append(make())
        return tensors[i], True

    def _sgd(self, i: int, param: Tensor, grad: Tensor) -> None:
        h = self.hyper
        if h.any_wd:
            grad = h.l2(grad, param)
        if h.any_momentum:  # with momentum 0 in some stacked models: buf = grad, torch's update without one
            buf, new = self._state_of("momentum_buffer", i, lambda: torch.clone(grad).detach())
            if not new:
                h.accumulate(buf, grad)
            grad = h.nesterov(grad, buf) if self.nesterov else buf
        h.descend(param, grad)

    def _adam(self, i: int, param: Tensor, grad: Tensor) -> None:
        h = self.hyper
        beta1, beta2 = ADAM_BETAS
        if self.name == "adamw":
            h.decouple(param)
        elif h.any_wd:
            grad = h.l2(grad, param)
        exp_avg, _ = self._state_of("exp_avg", i, lambda: torch.zeros_like(param))
        exp_avg_sq, _ = self._state_of("exp_avg_sq", i, lambda: torch.zeros_like(param))
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = float(self.steps)
        denom = (exp_avg_sq.sqrt() / ((1 - beta2**step) ** 0.5)).add_(ADAM_EPS)
        h.adam(param, exp_avg, denom, 1 - beta1**step)

    def _rmsprop(self, i: int, param: Tensor, grad: Tensor) -> None:
        h = self.hyper
        if h.any_wd:
            grad = h.l2(grad, param)
        square_avg, _ = self._state_of("square_avg", i, lambda: torch.zeros_like(param))
        square_avg.mul_(RMSPROP_ALPHA).addcmul_(grad, grad, value=1 - RMSPROP_ALPHA)
        avg = square_avg.sqrt().add_(RMSPROP_EPS)
        if h.any_momentum:  # with momentum 0 in some stacked models: buf = grad / avg, as without one
            buf, _ = self._state_of("momentum_buffer", i, lambda: torch.zeros_like(param))
            buf.mul_(h.momentum_of()).addcdiv_(grad, avg)
            h.descend(param, buf)
        else:
            h.scaled(param, grad, avg)
