"""sweeper's optimizer takes, for every model it updates, the step torch.optim takes for that
model alone: with one set of hyperparameters for every model (a configuration's seeds) and
with a set per model (stacked configurations)."""

from __future__ import annotations

import pytest
import torch

from sweeper.builtin.hparams import resolve
from sweeper.builtin.optim import Optimizer

SEEDS = 3
SHAPES = {"weight": (4, 5), "bias": (4,)}
CASES = [
    ("sgd", {"momentum": 0.0}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("adam", {"weight_decay": 0.0}),
    ("adam", {"weight_decay": 0.01}),
    ("adamw", {"weight_decay": 0.1}),
    ("rmsprop", {"momentum": 0.0, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.5}),
]


def torch_optimizer(config: dict, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The torch.optim optimizer the configuration names, as a user would build it."""
    name, lr, wd, momentum = config["optimizer"], config["learning_rate"], config["weight_decay"], config["momentum"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=config["nesterov"], weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd)


def _start() -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    alone = [{k: torch.randn(shape, generator=gen).requires_grad_() for k, shape in SHAPES.items()}
             for _ in range(SEEDS)]
    stacked = {k: torch.stack([p[k].detach() for p in alone]).requires_grad_() for k in SHAPES}
    return alone, stacked


def _per_model(config: dict) -> list[dict]:
    """A configuration per model: the learning rate, and where they are on, the momentum and
    the weight decay differ between models."""
    out = []
    for i in range(SEEDS):
        c = dict(config, learning_rate=config["learning_rate"] * (1 + i))
        if c["momentum"]:
            c["momentum"] = c["momentum"] - 0.2 * i
        if c["weight_decay"]:
            c["weight_decay"] = c["weight_decay"] * (1 + i)
        out.append(c)
    return out


@pytest.mark.parametrize("shape", ["shared", "per_model"])
@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_every_model_steps_as_torch_optim_steps_it(name: str, options: dict, shape: str) -> None:
    config = resolve({"optimizer": name, "learning_rate": 0.05, "lr_decay": 0.5, **options})
    configs = [config] * SEEDS if shape == "shared" else _per_model(config)
    alone, stacked = _start()
    optimizers = [torch_optimizer(c, list(p.values())) for c, p in zip(configs, alone, strict=True)]
    schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5) for o in optimizers]
    together = Optimizer.of(config) if shape == "shared" else Optimizer.stacked(configs, 1, torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    for step in range(6):
        grads = {k: torch.randn(SEEDS, *shape, generator=gen) for k, shape in SHAPES.items()}
        for i, (params, opt) in enumerate(zip(alone, optimizers, strict=True)):
            for k, p in params.items():
                p.grad = grads[k][i].clone()
            opt.step()
        together.step(list(stacked.values()), [grads[k] for k in stacked])
        if step == 2:  # lr decay mid-way, as an epoch boundary would do
            for s in schedulers:
                s.step()
            together.decay_lr()
    for i, params in enumerate(alone):
        for k, p in params.items():
            torch.testing.assert_close(stacked[k][i], p.detach(), rtol=1e-6, atol=1e-7)


def test_a_frozen_model_no_longer_moves() -> None:
    config = resolve({"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    _, stacked = _start()
    before = {k: v.detach().clone() for k, v in stacked.items()}
    opt = Optimizer.stacked([config], SEEDS, torch.device("cpu"))
    opt.freeze([1])
    for _ in range(3):
        opt.step(list(stacked.values()), [torch.ones_like(v) for v in stacked.values()])
    for k in SHAPES:
        assert torch.equal(stacked[k][1], before[k][1])
        assert not torch.equal(stacked[k][0], before[k][0])


def test_keep_drops_seeds_and_the_others_go_on_unchanged() -> None:
    config = resolve({"optimizer": "adam", "learning_rate": 0.05})
    _, full = _start()
    _, part = _start()
    opt_full, opt_part = Optimizer.of(config), Optimizer.of(config)
    gen = torch.Generator().manual_seed(2)
    grads = [{k: torch.randn(SEEDS, *s, generator=gen) for k, s in SHAPES.items()} for _ in range(4)]
    for step, g in enumerate(grads):
        if step == 2:  # seed 1 stops: its parameters and state leave the stacks
            keep = torch.tensor([0, 2])
            part = {k: v.detach()[keep].requires_grad_() for k, v in part.items()}
            opt_part.keep(keep)
        opt_full.step(list(full.values()), list(g.values()))
        opt_part.step(list(part.values()), [v[[0, 2]] if step >= 2 else v for v in g.values()])
    for k in SHAPES:
        torch.testing.assert_close(part[k], full[k][[0, 2]].detach(), rtol=0, atol=0)
