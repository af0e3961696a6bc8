"""An Optuna objective, unchanged: `Study(objective=objective, direction="maximize", ...)`.

A function written for `optuna.Study.optimize` takes a `trial`, asks it for values
(`trial.suggest_float("lr", 1e-5, 1e-1, log=True)`), trains, may `trial.report` and ask
`trial.should_prune()`, and returns a number. sweeper runs it once per (configuration, seed):

- **In the driver**, each configuration is proposed by Optuna's own sampler through ask and
  tell (random or Bayesian search): the objective is run with a *sampling trial* whose
  `suggest_*` calls are answered by the Optuna trial, and which stops the objective as soon
  as it has everything: at its first call of another trial method (`report`,
  `should_prune`, `number`, ...), at its first backward pass, at its first batch from a
  `DataLoader`, or when it returns. What was suggested by then is the configuration:
  parameters a branch never reached (`n_units_l2` with `n_layers=1`) are not part of it.
  The objective's code up to that point (building a model, opening a dataset) runs once
  per proposal in the driver; nothing trains there.
- **In a worker**, the objective is run for real with an `ObjectiveTrial` whose `suggest_*`
  calls return the configuration's values, after `seed_everything(seed)`: every seed of a
  configuration gets the same parameters, and its own seed (`trial.seed`). A parameter the
  sampling pass did not see (suggested only after training started) cannot be given one value
  for every seed: that trial fails, naming the parameter and the rule.

`define_by_run(fn)` runs the same sampling pass over a *space function* (`Study(space=fn)`),
which is how the built-in trainer and a user's own model get conditional spaces.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeper.errors import StudyError
from sweeper.study.seeds import split as split_seed
from sweeper.usercode.plugin import FitOptions, Log, Outcome, OwnFunctionTrainer, seed_everything
from sweeper.usercode.source import describe_callable

DEFAULT_METRIC = "value"  # the column an objective's returned number goes to, unless the study names another
SUGGESTS = ("suggest_float", "suggest_int", "suggest_categorical", "suggest_uniform", "suggest_loguniform",
            "suggest_discrete_uniform")


class UnsampledParameter(Exception):
    """An objective suggested, in a worker, a parameter its configuration has no value for."""


# -- the driver: one pass of the objective (or a space function) to sample a configuration --
class _Sampled(BaseException):
    """Ends a sampling pass: every parameter is known. A BaseException, so that an objective's
    own `except Exception:` does not swallow it."""


class _OlderSuggestions:
    """Optuna's older names for `suggest_float`, which objectives written for it still call."""

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> Any:
        raise NotImplementedError

    def suggest_uniform(self, name: str, low: float, high: float) -> Any:
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> Any:
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> Any:
        return self.suggest_float(name, low, high, step=q)


class SamplingTrial(_OlderSuggestions):
    """The trial of a sampling pass: `suggest_*` answered by an Optuna trial (fixed values first);
    anything else ends the pass."""

    def __init__(self, trial: Any, fixed: Mapping[str, Any]) -> None:
        self._trial, self._fixed = trial, fixed
        self.suggested: list[str] = []  # every name suggested, in order

    def __getattr__(self, name: str) -> Any:
        raise _Sampled(name)

    def _suggest(self, name: str, ask: Callable[[], Any]) -> Any:
        self.suggested.append(name)
        if name in self._fixed:
            return self._fixed[name]
        if self._trial is None:
            raise _Sampled(name)  # a pass over a given configuration: a name it lacks ends it
        return ask()

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> Any:
        return self._suggest(name, lambda: self._trial.suggest_float(name, low, high, step=step, log=log))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> Any:
        return self._suggest(name, lambda: self._trial.suggest_int(name, low, high, step=step, log=log))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._suggest(name, lambda: self._trial.suggest_categorical(name, choices))


def sample(fn: Callable[[Any], Any], trial: Any, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Run `fn` (an objective or a space function) until it has suggested everything, its
    `suggest_*` calls answered by the Optuna `trial`; the values suggested, in order. An
    exception of `fn` ends the pass too: the workers meet it again and record it, with its line."""
    _pass(fn, SamplingTrial(trial, fixed))
    return dict(trial.params)


def suggested(fn: Callable[[Any], Any], config: Mapping[str, Any]) -> list[str]:
    """The names `fn` suggests, its `suggest_*` calls answered from `config`, up to training
    (or to the first name `config` lacks)."""
    trial = SamplingTrial(None, config)
    _pass(fn, trial)
    return trial.suggested


def _pass(fn: Callable[[Any], Any], trial: SamplingTrial) -> None:
    state = _rng_state()
    try:
        with _stop_at_training():
            fn(trial)
    except _Sampled:
        pass
    except Exception:  # noqa: S110 (the trial's rows will say what it was)
        pass
    finally:
        _set_rng_state(state)


@contextlib.contextmanager
def _stop_at_training() -> Iterator[None]:
    """While a sampling pass runs, training's first step ends it: a `DataLoader`'s first batch
    or a backward pass (patched on the classes and put back after, in the driver only)."""
    import torch
    import torch.utils.data

    def stop(*args: Any, **kwargs: Any) -> Any:
        raise _Sampled("training")

    patched = [(torch.utils.data.DataLoader, "__iter__"), (torch.Tensor, "backward"), (torch.autograd, "backward")]
    saved = [(owner, name, owner.__dict__[name]) for owner, name in patched]
    try:
        for owner, name in patched:
            setattr(owner, name, stop)
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _rng_state() -> tuple[Any, Any, Any]:
    import numpy as np
    import torch

    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _set_rng_state(state: tuple[Any, Any, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])


@dataclass(frozen=True)
class DefineByRun(Mapping):  # type: ignore[type-arg]
    """A define-by-run space: `Study(space=fn)`, where `fn(trial)` asks `trial.suggest_*` for
    each hyperparameter, in branches where some depend on others. It holds no fixed
    dimensions: `len()` is 0 and iterating gives no names, so the study's dict-shaped views
    of its space are empty, and the sampler runs `fn` instead."""

    fn: Callable[[Any], Any]

    def __post_init__(self) -> None:
        check_one_argument(self.fn, "space", "def space(trial): trial.suggest_float('learning_rate', 1e-4, 1e-1, log=True)")

    def __getitem__(self, name: str) -> Any:
        raise KeyError(name)

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[str]:
        return iter(())


def check_one_argument(fn: Any, field_name: str, example: str) -> None:
    """An objective or a space function must be callable as fn(trial)."""
    if not callable(fn):
        raise StudyError(f"field `{field_name}` = {fn!r} is not a function; pass {example}")
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        raise StudyError(f"field `{field_name}`: {describe_callable(fn)} takes {inspect.signature(fn)}; it must "
                         f"take one argument, the trial: {example}") from None
    except ValueError:
        pass


# -- the worker: the objective run for real ---------------------------------------------
class ObjectiveTrial(_OlderSuggestions):
    """The `trial` an objective receives in a worker, with what objectives use of Optuna's:

    - `suggest_float` / `suggest_int` (with `log`, `step`) / `suggest_categorical` (and the
      older `suggest_uniform`, `suggest_loguniform`, `suggest_discrete_uniform`) return the
      configuration's value, the same for every seed;
    - `report(value, step)` records a curve row of the study's metric at epoch `step`;
    - `should_prune()` says whether sweeper's seed-aware rungs stop this run here
      (`Study(prune=Rungs(...))`: the decision is taken between rungs from all of the
      configuration's seeds, so within a run it means "this rung's budget is spent");
    - `set_user_attr(key, value)` becomes a column of trials.csv; `user_attrs`, `params`,
      `distributions`, `number` (an integer fixed by the configuration: the same for its seeds
      and in every run), `seed` (this run's seed; `seed_everything` was called with it).
    """

    def __init__(self, config: Mapping[str, Any], seed: int, metric: str, number: int,
                 budget: int | None = None, log: Any = None) -> None:
        self._config, self._metric, self._budget, self._log = config, metric, budget, log
        self.seed, self.number = seed, number
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Any] = {}
        self.user_attrs: dict[str, Any] = {}
        self.system_attrs: dict[str, Any] = {}
        self.intermediate_values: dict[int, float] = {}
        self.reports: list[float] = []
        self.told_to_stop = False

    # suggestions: the configuration's values
    def _suggest(self, name: str, distribution: Any) -> Any:
        if name not in self._config:
            raise UnsampledParameter(
                f"the objective suggested `{name}` after training had started, where sweeper cannot give every "
                f"seed one value; suggest every hyperparameter before the first batch (the configuration has "
                f"{', '.join(sorted(self._config)) or 'none'})")
        value = self._config[name]
        if not distribution._contains(distribution.to_internal_repr(value)):
            raise ValueError(f"`{name}` = {value!r} (from the study's `space` or `fixed`) is outside the objective's "
                             f"{distribution}; change the value or the objective's range")
        self.params[name], self.distributions[name] = value, distribution
        return value

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> Any:
        from optuna.distributions import FloatDistribution

        return self._suggest(name, FloatDistribution(low, high, log=log, step=step))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> Any:
        from optuna.distributions import IntDistribution

        return self._suggest(name, IntDistribution(low, high, log=log, step=step))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        from optuna.distributions import CategoricalDistribution

        return self._suggest(name, CategoricalDistribution(choices))

    # what the run says of itself
    def report(self, value: float, step: int) -> None:
        value = float(value)
        self.intermediate_values[int(step)] = value
        self.reports.append(value)
        if self._log is not None:
            self._log(epoch=int(step), step=len(self.reports), **{self._metric: value})

    def should_prune(self) -> bool:
        stop = self._budget is not None and len(self.reports) >= self._budget
        self.told_to_stop |= stop
        return stop

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value

    def set_system_attr(self, key: str, value: Any) -> None:
        self.system_attrs[key] = value

    @property
    def datetime_start(self) -> Any:
        import datetime

        return datetime.datetime.now()

    @property
    def study(self) -> Any:
        raise AttributeError("trial.study is not available: each seed of a configuration runs on its own, "
                             "and sweeper's study is the Study that runs it")


def trial_number(config: Mapping[str, Any]) -> int:
    """`trial.number`: an integer fixed by the configuration (the same for its seeds, in every run)."""
    blob = repr(sorted((k, repr(v)) for k, v in config.items()))
    return int(hashlib.sha1(blob.encode()).hexdigest()[:7], 16)


class ObjectiveTrainer(OwnFunctionTrainer):
    """Runs an Optuna objective once per seed after `seed_everything(seed)`; the number it
    returns is the row's `metric`, `trial.report` gives curve rows, `set_user_attr` columns.

    With `Study(prune=Rungs(resource=..., rungs=...))` the study's value of the resource
    (in `fixed`) is the number of `report` calls of a full run: at a rung below it,
    `should_prune()` turns True once the rung's number of reports is in, and the row's value
    is the last one reported. An objective cannot go on from where it stopped, so a rung's
    survivor runs again from its start (with the same seed, its first steps are the same)."""

    name = "objective"
    role = "objective"
    preload = ("optuna",)
    restarts_rungs = True

    def __init__(self, fn: Callable[[Any], Any], metric: str, resource: str | None = None,
                 full: int | None = None, searched: Sequence[str] = ()) -> None:
        check_one_argument(fn, "objective", "def objective(trial): ... return accuracy")
        super().__init__(fn, metric)
        self.resource, self.full = resource, full
        self.searched = tuple(searched)  # a grid's names: each must be one the objective suggests

    def prepare(self, data_root: str, log: Callable[[str], None], configs: Sequence[Mapping[str, Any]]) -> str:
        """A grid's names are checked against what the objective suggests, in the driver, before
        anything runs: a name it never suggests would be a column whose value trained nothing."""
        if self.searched and configs:
            asked = suggested(self.fn, configs[0])
            for name in self.searched:
                if name not in asked:
                    raise StudyError(f"field `space`: `{name}` is never suggested by the objective (it suggests "
                                     f"{', '.join(asked) or 'nothing'} before training), so its rows would record a "
                                     f"value that trained nothing; rename it to the name the objective passes to "
                                     f"trial.suggest_*, or remove it")
        return "own"

    def fit(self, config: Mapping[str, Any], seeds: Sequence[int], options: FitOptions) -> list[Outcome]:
        budget = config.get(self.resource) if self.resource else None
        budget = budget if budget is not None and self.full is not None and budget < self.full else None
        out = []
        with _batches_at_most(options.max_steps):
            for seed in seeds:
                init, _ = split_seed(seed, options.crossed)
                seed_everything(init)
                log = Log(dry_run=options.max_steps is not None, channel=options.channel, seed=seed)
                trial = ObjectiveTrial(config, seed, self.metric, trial_number(config), budget, log)
                out.append(self._run(trial, log))
        return out

    def _run(self, trial: ObjectiveTrial, log: Any) -> Outcome:
        import optuna

        try:
            returned = self.fn(trial)
        except optuna.TrialPruned as e:
            if not trial.told_to_stop:  # the objective stopped itself: a pruned row, as a `train` raising Pruned
                return Outcome("pruned", {}, log.curves, f"pruned by the objective: {e}" if str(e) else "pruned by the objective")
            returned = trial.reports[-1]
        if trial.told_to_stop or (trial._budget is not None and len(trial.reports) >= trial._budget):
            returned = trial.reports[trial._budget - 1]  # type: ignore[operator]  # a rung's value: at its budget
        value = _returned_value(returned)
        metrics = {self.metric: value, **_attrs(trial.user_attrs)}
        finite = math.isfinite(value)
        return Outcome("ok" if finite else "diverged", metrics, log.curves,
                       "" if finite else "the objective returned NaN or an infinite value")


@contextlib.contextmanager
def _batches_at_most(steps: int | None) -> Iterator[None]:
    """A dry run (`sweep run --dry-run`): every `DataLoader` the objective iterates gives at most
    `steps` batches, as the built-in trainer trains one batch per trial."""
    if steps is None:
        yield
        return
    import itertools

    import torch.utils.data

    original = torch.utils.data.DataLoader.__iter__
    torch.utils.data.DataLoader.__iter__ = lambda self: itertools.islice(original(self), steps)  # type: ignore[method-assign,assignment,misc,return-value]
    try:
        yield
    finally:
        torch.utils.data.DataLoader.__iter__ = original  # type: ignore[method-assign]


def _returned_value(returned: Any) -> float:
    if isinstance(returned, (tuple, list)):
        raise TypeError(f"the objective returned {len(returned)} values (a multi-objective study); sweeper ranks "
                        "configurations by one metric: return one number")
    if hasattr(returned, "item"):
        returned = returned.item()
    if isinstance(returned, bool) or not isinstance(returned, (int, float)):
        raise TypeError(f"the objective returned {type(returned).__name__}, not a number such as 0.91")
    return float(returned)


def _attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """`set_user_attr` values as trials.csv cells: numbers as numbers, anything else as its text."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if hasattr(value, "item"):
            value = value.item()
        out[str(key)] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
    return out
