"""sweeper's optimizers take, for every seed, the step torch.optim takes for it alone."""

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


@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_every_seed_steps_as_torch_optim_steps_it(name: str, options: dict) -> None:
    config = resolve({"optimizer": name, "learning_rate": 0.05, **options})
    alone, stacked = _start()
    optimizers = [torch_optimizer(config, list(p.values())) for p in alone]
    schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.5) for o in optimizers]
    together = Optimizer(config)
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
            together.decay_lr(0.5)
    for i, params in enumerate(alone):
        for k, p in params.items():
            torch.testing.assert_close(stacked[k][i], p.detach(), rtol=1e-6, atol=1e-7)


def test_keep_drops_seeds_and_the_others_go_on_unchanged() -> None:
    config = resolve({"optimizer": "adam", "learning_rate": 0.05})
    _, full = _start()
    _, part = _start()
    opt_full, opt_part = Optimizer(config), Optimizer(config)
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
