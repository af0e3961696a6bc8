"""A bank of models: what the training driver (`loop.py`) trains, in one of three shapes.

The driver owns the epoch flow: each seed's data order, the steps, divergence, evaluation
and curves, the learning rate's decay, early stopping and the outcome of every model. A bank
owns the tensor code: it holds its models (numbered 0..M-1, each a configuration trained
with one seed), takes one optimiser step of every model still training and returns their
losses, returns every asked model's outputs on a chunk of examples, tells each model's
learning rate, and drops models that stopped. Three banks ship:

- `OneModel` (here): one configuration, one seed: the course's loop, torch's own loss;
- `SeedBank` (`vectorized.py`): one configuration's seeds at once, through torch.func;
- `StackedBank` (`stacked.py`): several configurations and their seeds as one stacked model.

Models that share a seed see the same batches: the driver draws one order per seed and hands
the bank one row of example indices per seed that still trains (`live_seeds`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sweeper.builtin.data import Tensors
from sweeper.builtin.measures import batch_loss, loss_function
from sweeper.builtin.models import build
from sweeper.builtin.optim import Optimizer

ModelFn = Callable[[Mapping[str, Any]], nn.Module]
EVAL_CHUNK = 4096  # images per evaluation chunk of one model


class Bank(ABC):
    """Models trained together. `members[m]` is model m's (configuration index, seed index)
    into the `configs` and `seeds` it was built with; `active` lists the models still
    training, in order."""

    def __init__(self, configs: Sequence[Mapping[str, Any]], seeds: Sequence[int],
                 init: Callable[[int], int] | None = None) -> None:
        self.configs, self.seeds = list(configs), list(seeds)
        self.init = init or (lambda seed: seed)  # a trial seed's initialisation seed (study/seeds.py)
        self.members = [(c, s) for s in range(len(self.seeds)) for c in range(len(self.configs))]
        self.active = list(range(len(self.members)))

    @property
    def config(self) -> Mapping[str, Any]:
        """What every model shares: the epochs, the batch size, the data order's shuffling."""
        return self.configs[0]

    def live_seeds(self) -> list[int]:
        """The seed indices that still have a model training, in order: the rows of `step`'s idx."""
        return sorted({self.members[m][1] for m in self.active})

    @abstractmethod
    def step(self, idx: Tensor) -> list[float]:
        """One optimiser step of every active model on its seed's batch (idx: live seeds x
        batch, indices into the training split); each active model's mean loss, in `active`'s order."""

    @abstractmethod
    def outputs(self, x: Tensor, models: Sequence[int]) -> Tensor:
        """The outputs of `models` (active ones) on x, in evaluation mode: models x examples x outputs."""

    def eval_chunk(self, models: int) -> int:
        """Examples per evaluation call for `models` models."""
        return EVAL_CHUNK

    @abstractmethod
    def lr(self, m: int) -> float:
        """Model m's learning rate in the epoch just trained."""

    @abstractmethod
    def decay_lr(self) -> None:
        """One epoch's learning-rate decay of every model."""

    def drop(self, models: Sequence[int], diverged: bool) -> None:
        """Take `models` out of training (diverged: their numbers are no longer finite)."""
        self.active = [m for m in self.active if m not in set(models)]

    # -- state, for checkpoints and kept weights: each model's slice of the bank's tensors --
    optimizer: Optimizer

    @abstractmethod
    def parameters(self) -> list[Tensor]:
        """The tensors the optimizer steps, in its order (stacked along the model rows, but
        for `OneModel`)."""

    @abstractmethod
    def named_tensors(self) -> dict[str, Tensor]:
        """Every parameter and buffer by its name in a model's state_dict, with a first
        dimension of model rows."""

    @abstractmethod
    def row(self, m: int) -> int | None:
        """Model m's row in the bank's tensors (None: no longer in them)."""

    def counters(self) -> dict[str, int]:
        """Counts every model shares (BatchNorm's batches, where a model keeps one)."""
        return {}

    def set_counters(self, counts: Mapping[str, int]) -> None:  # noqa: B027 (nothing to set by default)
        """Put back what `counters` gave."""

    def weights(self, m: int) -> dict[str, Tensor]:
        """Model m's state_dict, on the CPU (its own copy)."""
        r = self.row(m)
        assert r is not None, "a model no longer in the bank has no weights"
        out = {k: t[r].detach().to("cpu", copy=True) for k, t in self.named_tensors().items()}
        return out | {k: torch.tensor(v) for k, v in self.counters().items()}

    def model_state(self, m: int) -> dict[str, Tensor]:
        """Model m's weights and optimiser state, for a checkpoint ({} once it left the bank)."""
        r = self.row(m)
        if r is None:
            return {}
        out = {f"model/{k}": v for k, v in self.weights(m).items()}
        for kind, tensors in self.optimizer.state.items():
            out |= {f"opt/{kind}/{i}": self._opt_row(t, r).detach().to("cpu", copy=True) for i, t in enumerate(tensors)}
        return out

    def _opt_row(self, t: Tensor, r: int) -> Tensor:
        return t[r]

    def load_states(self, states: Mapping[int, Mapping[str, Tensor]], lrs: Mapping[int, float], steps: int,
                    active: Sequence[int]) -> None:
        """Put a checkpoint back into a bank built afresh with every model: each model's
        tensors (`model_state`), learning rate and the optimiser's step count, then take out
        the models that had stopped (their tensors, where the bank kept them, are restored too)."""
        named, params = self.named_tensors(), self.parameters()
        kinds = sorted({key.split("/")[1] for st in states.values() for key in st if key.startswith("opt/")})
        state: dict[str, list[Tensor]] = {kind: [self._opt_empty(p) for p in params] for kind in kinds}
        with torch.no_grad():
            for m, st in states.items():
                r = self.row(m)
                if r is None or not st:
                    continue
                for k, t in named.items():
                    t[r].copy_(st[f"model/{k}"])
                for kind in kinds:
                    for i in range(len(params)):
                        self._opt_set(state[kind][i], r, st[f"opt/{kind}/{i}"])
        self.set_counters({k[len("model/"):]: int(v) for st in states.values() for k, v in st.items()
                           if k.endswith("num_batches_tracked")})
        self.optimizer.state, self.optimizer.steps = state, steps
        rows = {m: self.row(m) for m in lrs}
        self.optimizer.hyper.restore({r: lr for m, lr in lrs.items() if (r := rows[m]) is not None})
        self.drop([m for m in range(len(self.members)) if m not in set(active)], diverged=False)

    def _opt_empty(self, param: Tensor) -> Tensor:
        return torch.zeros_like(param, requires_grad=False)

    def _opt_set(self, target: Tensor, r: int, value: Tensor) -> None:
        target[r].copy_(value)


def build_model(config: Mapping[str, Any], data: Tensors, model_fn: ModelFn | None) -> nn.Module:
    """The configuration's model: the user's `model(config)`, or a built-in one for the data's shape."""
    if model_fn is None:
        return build(config, data.input_shape, data.n_outputs)
    model = model_fn(config)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model(config) returned {type(model).__name__}, not a torch.nn.Module")
    return model


def seeded_model(config: Mapping[str, Any], seed: int, data: Tensors, model_fn: ModelFn | None) -> nn.Module:
    """A freshly initialised model: torch's RNG seeded with `seed` (the trial's initialisation
    seed) just before it is built, on the CPU, so that it starts from the same weights on
    every device."""
    torch.manual_seed(seed)
    return build_model(config, data, model_fn)


def has_train_mode(model: nn.Module) -> bool:
    """Whether the model computes differently in train and eval mode (BatchNorm, dropout);
    switching modes walks every submodule, which per-iteration evaluation feels."""
    return any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in model.modules())


class OneModel(Bank):
    """One configuration with one seed: the course's loop, with torch's own loss function."""

    def __init__(self, config: Mapping[str, Any], seed: int, data: Tensors, model_fn: ModelFn | None = None,
                 init: Callable[[int], int] | None = None) -> None:
        super().__init__([config], [seed], init)
        self.data = data
        self.model = seeded_model(config, self.init(seed), data, model_fn).to(data.x_train.device)
        self.params: list[Tensor] = list(self.model.parameters())
        self.optimizer = Optimizer.of(config)
        self.loss_fn = loss_function(data.n_outputs, data.regress)
        self.switch_mode = has_train_mode(self.model)
        self._training = True
        self.model.train()

    def _mode(self, training: bool) -> None:
        if self.switch_mode and training != self._training:
            self.model.train(training)
        self._training = training

    def step(self, idx: Tensor) -> list[float]:
        self._mode(True)
        rows = idx[0]
        loss = batch_loss(self.loss_fn, self.model(self.data.x_train[rows]), self.data.y_train[rows])
        self.optimizer.step(self.params, list(torch.autograd.grad(loss, self.params)))
        return [loss.item()]

    def outputs(self, x: Tensor, models: Sequence[int]) -> Tensor:
        self._mode(False)
        return self.model(x).unsqueeze(0)

    def lr(self, m: int) -> float:
        return self.optimizer.lr

    def decay_lr(self) -> None:
        self.optimizer.decay_lr()

    def parameters(self) -> list[Tensor]:
        return self.params

    def named_tensors(self) -> dict[str, Tensor]:
        return {k: v.unsqueeze(0) for k, v in self.model.state_dict(keep_vars=True).items()
                if not k.endswith("num_batches_tracked")}

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.model.state_dict().items() if k.endswith("num_batches_tracked")}

    def set_counters(self, counts: Mapping[str, int]) -> None:
        state = self.model.state_dict(keep_vars=True)
        with torch.no_grad():
            for k, v in counts.items():
                state[k].fill_(v)

    def row(self, m: int) -> int | None:
        return 0

    def _opt_row(self, t: Tensor, r: int) -> Tensor:
        return t  # one model: the state has the parameter's own shape

    def _opt_set(self, target: Tensor, r: int, value: Tensor) -> None:
        target.copy_(value)
