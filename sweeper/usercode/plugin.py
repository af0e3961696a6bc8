"""The plug-in seam: what the engine asks of whatever trains one configuration.

A `Trainer` is a picklable object that travels to the workers inside every task. The engine
calls it at three moments:

- when a study is built: `params` (the hyperparameters it understands, with defaults and
  rules), `check_config` for each configuration it can foresee (a grid, the choices of a
  search), so that impossible work is refused before anything runs;
- in the driver, once per run: `prepare` (find the data, check that it fits; returns the
  name of the data the rows will record), then `user_code`, `structure` and `describe`,
  for what study.json records of the user's code and data (`usercode/identity.py`);
- in a worker, once per task: `fit(config, seeds, options)`, one `Outcome` per seed. It may
  raise: the engine turns the exception into `failed` rows naming the file and line. Where
  the trainer stacks (`stacks`, and unless the study says `stack=False`), configurations
  with the same `stack_key` go to a task together, in groups the study fixes
  (`schedules/groups.py`), and the worker calls `fit_group(configs, seeds, options)` instead.

Two trainers ship: the built-in one (`sweeper.builtin`: the course's models and datasets,
or a user's `nn.Module`, data and metrics, with its own loop) and `FunctionTrainer`, which
calls a user's `train(config, seed, log)`. The engine never imports the built-in one: the
package registers it as the default (`register_default`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeper.errors import StudyError, closest
from sweeper.study.seeds import split as split_seed
from sweeper.usercode.source import code_hash, describe_callable, source_file

__all__ = ["CannotStack", "Config", "FitOptions", "FunctionTrainer", "OwnFunctionTrainer", "Log", "MissingHyperparameter", "Outcome", "Param",
           "Pruned", "Trainer", "code_hash", "describe_callable", "source_file"]

Curve = tuple[int, int, str, str, float]  # epoch, iteration (step), split, metric, value
# what a trial's row can say: pruned = stopped at a rung (schedules/pruning.py), promoted = a rung's
# row of a configuration that went on to the next one
STATUSES = ("ok", "failed", "diverged", "pruned", "promoted")


@dataclass(frozen=True)
class Param:
    """A hyperparameter a trainer understands: its default and the rule its values obey."""

    name: str
    default: Any
    rule: str  # what is allowed, as the error message states it
    check: Callable[[Any], bool]
    doc: str


@dataclass
class Outcome:
    """What training one seed gave: its status, final metrics and curve rows."""

    status: str  # ok, diverged or pruned (the engine adds failed)
    metrics: dict[str, float]
    curves: list[Curve] = field(default_factory=list)
    error: str = ""
    weights: dict[str, Any] = field(default_factory=dict)  # "best" (and "last"): the model's state_dict, if kept


@dataclass(frozen=True)
class FitOptions:
    """How a task is run, as opposed to what it trains."""

    max_steps: int | None = None  # a dry run: stop after this many steps
    device: str = "cpu"  # cpu, cuda or auto
    data_root: str = "data"  # where named datasets live (a worker may override it)
    debug: bool = False  # let exceptions of user code propagate (`sweep run --pdb`)
    live: Any = None  # where running trials' rows and checkpoints go (storage/live.py), set by the runner
    # the task's way to the results folder while it trains (storage/live.py Channel: rows,
    # save, resume), set in the worker for each task; None where nothing watches or resumes
    channel: Any = field(default=None, compare=False)
    checkpoint_every: int | None = None  # epochs between resume checkpoints (None: by time, below)
    checkpoint_seconds: float | None = None  # with checkpoint_every None: at an epoch's end this long after the last
    checkpoint_final: bool = False  # also at the last epoch's end: a longer run (a pruning rung's survivor) goes on from it
    weights: tuple[str, ...] = ()  # the weights to keep of each trial: "best" (its best epoch's), "last"
    crossed: bool = False  # a seed names an (initialisation, data order) pair (study/seeds.py)

    def split(self, seed: int) -> tuple[int, int]:
        """A trial seed's (initialisation, data order) seeds (study/seeds.py)."""
        return split_seed(seed, self.crossed)

    def for_member(self, c: int) -> FitOptions:
        """These options for the c-th configuration of a group trained one at a time, whose
        `fit` speaks of it as configuration 0."""
        if self.channel is None or c == 0:
            return self
        return dataclasses.replace(self, channel=self.channel.member(c))


class Trainer(ABC):
    """Trains a configuration once per seed. Subclasses set `name` and implement `fit`."""

    name = "trainer"
    #: True when every hyperparameter name reaches user code, so no name can be called unknown
    takes_any_name = False
    #: True when `fit` can train several seeds at once (`--vectorize`)
    vectorizes = False
    #: True when `fit_group` can train several configurations at once (the default where it can; `--no-stack`)
    stacks = False
    #: the file of the user's code, to name in errors raised in it (see `trial.describe_error`)
    source_file = ""
    #: modules every task imports in a worker: a local pool imports them once, before it forks its workers
    preload: tuple[str, ...] = ()
    #: budget hyperparameters (such as "epochs") whose longer run goes on from a shorter one's
    #: checkpoint: pruning's survivors continue from their rung instead of training again
    continues: tuple[str, ...] = ()
    #: why this trainer never stacks, said once in a run's summary line ("" where nothing needs saying)
    unstacks = ""

    def params(self) -> Mapping[str, Param]:
        """The hyperparameters this trainer understands, in the order of trials.csv's columns."""
        return {}

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params().items()}

    def metric_names(self) -> list[str] | None:
        """The metric columns every trial will write, when known before any runs (None: user code decides)."""
        return None

    def renamed(self, name: str) -> str | None:
        """The name this trainer gives a hyperparameter the study spells `name` (`lr`: its
        `learning_rate`), so the study is told to rename it; None where `name` is no other
        spelling of one of its own."""
        return None

    def canonical(self, name: str, value: Any) -> Any:
        """A value as this trainer spells it ("Adam" as "adam"): what checks, ids and rows see."""
        return value

    def check_config(self, config: Mapping[str, Any]) -> None:  # noqa: B027 (a no-op by default)
        """Raise StudyError if this configuration cannot be trained (checked when the study loads)."""

    def effective(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration with every hyperparameter that has no effect in it left out:
        two configurations with the same effective one train the same thing, once."""
        return dict(config)

    def prepare(self, data_root: str, log: Callable[[str], None], configs: Sequence[Mapping[str, Any]]) -> str:
        """Driver-side checks before anything is written or trained, for the configurations
        that can be foreseen (StudyError or DataError if they cannot be trained); returns the
        name of the data that rows record."""
        return "own"

    def setup(self, options: FitOptions) -> None:  # noqa: B027 (a no-op by default)
        """Worker-side, before a task's clock starts: load what every task of this process
        shares (a dataset, kept in memory), so it is not counted as training time."""

    def code(self) -> dict[str, str]:
        """Hashes of the user code and data that shape rows: a change refuses old results.
        Those of `user_code`'s roles count only in folders of an earlier release (identity
        scheme 2); newer ones record and compare that code as `usercode/usercode.py` finds it."""
        return {}

    def user_code(self) -> dict[str, Any]:
        """The user's functions and classes that shape rows, by role ("model", "data",
        "train", "metric f1"): they, and the user's code they reach, are recorded in
        study.json and compared when a folder resumes."""
        return {}

    def structure(self) -> dict[str, Any]:
        """What the user's model is made of, once `prepare` has built it: {"config": the
        configuration built, "modules": {path: {setting: value}}}; {} where there is none."""
        return {}

    def describe(self) -> dict[str, Any]:
        """How study.json names this trainer's parts (e.g. the user's functions, the data)."""
        return {}

    @abstractmethod
    def fit(self, config: Mapping[str, Any], seeds: Sequence[int], options: FitOptions) -> list[Outcome]: ...

    def architecture(self, config: Mapping[str, Any], io: Mapping[str, Any] | None = None) -> Any:
        """The configuration's model, untrained, for kept weights to be loaded into (`io`: the
        data's shapes as study.json records them)."""
        raise StudyError(f"a study trained by its own `train` keeps no weights ({self.name} trainer): save them "
                         "from the loop, e.g. with log.checkpoint(model=model.state_dict())")

    def evaluate(self, model: Any, split: str, options: FitOptions) -> dict[str, float]:
        """A trained model's loss and metrics on one split of the study's data (`prepare` first)."""
        raise StudyError(f"the {self.name} trainer cannot evaluate a kept model")

    def stack_key(self, config: Mapping[str, Any]) -> Hashable | None:
        """Configurations with equal keys can be trained together by `fit_group`; None: this
        one is trained on its own. Called in the driver, for every configuration, when stacking."""
        return None

    def fit_group(self, configs: Sequence[Mapping[str, Any]], seeds: Sequence[int],
                  options: FitOptions) -> list[list[Outcome]]:
        """Train configurations with one stack key, each once per seed: `out[c][s]` is what
        `fit(configs[c], seeds)[s]` gives. Raises `CannotStack` (before training) where they
        cannot be trained together: the engine then trains them one at a time."""
        return [self.fit(config, seeds, options.for_member(c)) for c, config in enumerate(configs)]


_default: Callable[[Any], Trainer] | None = None
_by_field: dict[str, Callable[[Any], Trainer]] = {}


def register_default(factory: Callable[[Any], Trainer]) -> None:
    """Name the trainer of studies that bring no `train` function of their own."""
    global _default
    _default = factory


def register_trainer(field_name: str, factory: Callable[[Any], Trainer]) -> None:
    """Name the trainer of studies that set the field `field_name` (`Study(lightning=...)`)."""
    _by_field[field_name] = factory


def trainer_for(study: Any) -> Trainer:
    for field_name, factory in _by_field.items():
        if getattr(study, field_name, None) is not None:
            return factory(study)
    if study.train is not None:
        return FunctionTrainer(study.train, study.metric)
    if _default is None:
        raise StudyError("no built-in trainer is registered; import sweeper, not sweeper.usercode alone")
    return _default(study)


# -- a user's own training loop -----------------------------------------------------------
class MissingHyperparameter(KeyError):
    """A name that user code read from its configuration, and that the study does not give."""

    def __str__(self) -> str:
        return str(self.args[0])


class Config(dict):  # type: ignore[type-arg]
    """The configuration user code receives: a dict whose missing names raise with a did-you-mean."""

    def __missing__(self, key: Any) -> Any:
        known = sorted(str(k) for k in self)
        raise MissingHyperparameter(f"{key!r} is not in the configuration{closest(str(key), known)}; "
                                    f"it has {', '.join(known)}")


class CannotStack(Exception):
    """`fit_group` cannot train these configurations as one group (the message says why, once,
    in the run's summary line); the engine trains them one at a time."""


class Pruned(Exception):
    """Raised by a user's `train` to stop a seed early: it is recorded as a `pruned` row."""


class Log:
    """The `log` a user's `train(config, seed, log)` receives: `log(epoch=1, val_f1=0.8)`
    appends one curve row per keyword (split `val`, metric `f1`); `step=` numbers rows
    within an epoch. A name without a split prefix is logged with an empty split.
    `log.dry_run` is True under `sweep run --dry-run`: sweeper cannot cut a user's loop
    short, but the loop can (one batch, one epoch).

    A loop can make a stopped sweep resume it where it was: `log.checkpoint(epoch=e,
    model=model.state_dict(), optimizer=opt.state_dict())` after each epoch saves what it
    is given (tensors, state dicts, numbers) with the RNGs' states and the curves so far;
    `log.resume()` at the start returns what was saved last, with the RNGs and curves put
    back, or None for a fresh start."""

    def __init__(self, dry_run: bool = False, channel: Any = None, seed: int = 0) -> None:
        self.curves: list[Curve] = []
        self.dry_run = dry_run
        self._step = 0
        self._channel, self._seed = channel, seed  # rows to a live view, checkpoints to the results folder
        # the seeds of the model's initial weights and of the data's order: both `seed`, or with
        # Study(seeds=Crossed(...)) the pair the seed names (torch, NumPy and random are seeded with the first)
        self.init_seed, self.order_seed = seed, seed

    def __call__(self, epoch: int | None = None, step: int | None = None, **values: float) -> None:
        if step is None:
            self._step += 1
            step = self._step
        rows = []
        for name, value in values.items():
            split, metric = _split_name(name)
            rows.append((int(epoch or 0), int(step), split, metric, _number(name, value)))
        self.curves += rows
        if self._channel is not None:
            self._channel.rows(0, self._seed, rows)

    def checkpoint(self, **state: Any) -> None:
        """Save `state` for a resumed sweep to pick up (see the class's docstring)."""
        if self._channel is None or self.dry_run:
            return
        import numpy as np
        import torch

        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        saved = {"user": state, "curves": [list(c) for c in self.curves], "step": self._step,
                 "random": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
                 "numpy": [kind, torch.from_numpy(np.asarray(keys).astype(np.int64)), pos, has_gauss, gauss],
                 "torch": torch.get_rng_state()}
        self._channel.save(0, self._seed, saved)

    def resume(self) -> dict[str, Any] | None:
        """What `checkpoint` saved last, with the RNGs and curves as they were then; None: none."""
        saved = None if self._channel is None else self._channel.resume(0, self._seed)
        if saved is None:
            return None
        import numpy as np
        import torch

        version, keys, gauss = saved["random"]
        random.setstate((version, tuple(keys), gauss))
        kind, keys, pos, has_gauss, cached = saved["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(saved["torch"])
        self.curves = [tuple(c) for c in saved["curves"]]  # type: ignore[misc]
        self._step = saved["step"]
        return dict(saved["user"])

    def should_stop(self) -> bool:
        """Always False: pruning (`Study(prune=Rungs(...))`) decides between rungs, never
        inside a run; a loop reads its length from `config[resource]` instead."""
        return False


def _split_name(name: str) -> tuple[str, str]:
    for split in ("train", "val", "test"):
        if name.startswith(split + "_"):
            return split, name[len(split) + 1:]
    return "", name


def _number(name: str, value: Any) -> float:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"metric `{name}` = {value!r} is not a number; return and log plain floats")
    return float(value)


def seed_everything(seed: int) -> None:
    """What sweeper seeds before a user's train() runs: Python's `random`, NumPy's global
    RNG (`np.random.seed`) and torch's (`torch.manual_seed`, which seeds CUDA too)."""
    random.seed(seed)
    import numpy as np
    import torch

    np.random.seed(seed)
    torch.manual_seed(seed)


class OwnFunctionTrainer(Trainer):
    """A trainer that is one function of the user's, under the study field `role`: every name
    reaches it, and it is what identifies the study's code and what study.json names."""

    takes_any_name = True
    role = "train"

    def __init__(self, fn: Callable[..., Any], metric: str) -> None:
        self.fn, self.metric = fn, metric
        self.source_file = source_file(fn)

    def code(self) -> dict[str, str]:
        return {self.role: code_hash(self.fn)}

    def user_code(self) -> dict[str, Any]:
        return {self.role: self.fn}

    def describe(self) -> dict[str, Any]:
        return {self.role: describe_callable(self.fn)}


class FunctionTrainer(OwnFunctionTrainer):
    """A user's `train(config, seed, log) -> dict[str, float]`, called once per seed after
    `seed_everything(seed)`. Every key of the returned dict becomes a column of trials.csv;
    a NaN or infinite value of any of them marks the seed as diverged. A dict without the
    study's metric, or with a value that is not a number, fails the seed, naming the metric."""

    name = "function"

    def __init__(self, fn: Callable[..., Any], metric: str) -> None:
        check_train_signature(fn)
        super().__init__(fn, metric)

    def fit(self, config: Mapping[str, Any], seeds: Sequence[int], options: FitOptions) -> list[Outcome]:
        out = []
        for seed in seeds:
            init, order = split_seed(seed, options.crossed)
            seed_everything(init)
            log = Log(dry_run=options.max_steps is not None, channel=options.channel, seed=seed)
            log.init_seed, log.order_seed = init, order
            try:
                returned = self.fn(Config(config), seed, log)
            except Pruned as e:
                out.append(Outcome("pruned", {}, log.curves, f"pruned by train(): {e}" if str(e) else "pruned by train()"))
                continue
            metrics = _returned_metrics(returned)
            if self.metric not in metrics:
                raise ValueError(f"train() returned no `{self.metric}`, the study's metric; it returned {list(metrics)}")
            finite = all(math.isfinite(v) for v in metrics.values())
            out.append(Outcome("ok" if finite else "diverged", metrics, log.curves,
                               "" if finite else "a returned metric is NaN or infinite"))
        return out


def _returned_metrics(returned: Any) -> dict[str, float]:
    if not isinstance(returned, Mapping) or not returned:
        raise TypeError(f"train() returned {type(returned).__name__}, not a dict of metric names to numbers "
                        "such as {'val_acc': 0.9}")
    return {str(k): _number(str(k), v) for k, v in returned.items()}


def check_train_signature(fn: Any) -> None:
    """A `train` that cannot be called as train(config, seed, log) is refused at load time."""
    if not callable(fn):
        raise StudyError(f"field `train` = {fn!r} is not a function; pass def train(config, seed, log): ...")
    try:
        inspect.signature(fn).bind({}, 0, Log())
    except TypeError:
        raise StudyError(f"field `train`: {describe_callable(fn)} takes {inspect.signature(fn)}; it must take "
                         "(config, seed, log): the configuration dict, the seed and the curve logger") from None
    except ValueError:  # builtins without a signature: let the call tell
        pass
