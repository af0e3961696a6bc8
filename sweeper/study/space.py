"""Search-space primitives: explicit values, uniform, log-uniform, integer ranges, choices.

Each primitive knows three things: whether and how it expands on a grid, the Optuna
distribution it corresponds to (random and Bayesian search sample through Optuna), and the
values it can produce, so that a study can check them against the hyperparameter's rules
before anything runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sweeper.errors import SearchSpaceError


class Dimension:
    """One searched hyperparameter's set of candidate values."""

    def grid_values(self) -> list[Any]:
        """The values a grid search visits, in order."""
        raise NotImplementedError

    def to_optuna(self) -> Any:
        """The equivalent `optuna.distributions.BaseDistribution`."""
        raise NotImplementedError

    def bounds(self) -> list[Any]:
        """Representative values (every value, or both ends) for validation."""
        return self.grid_values()


@dataclass(frozen=True)
class Choice(Dimension):
    """A finite set of values, tried in the order given (also what a plain list means)."""

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if len(self.values) == 0:
            raise SearchSpaceError("a choice needs at least one value, but got an empty list")
        if len(set(map(repr, self.values))) != len(self.values):
            raise SearchSpaceError(f"a choice must not repeat a value, but got {list(self.values)}")

    def grid_values(self) -> list[Any]:
        return list(self.values)

    def to_optuna(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.values)


@dataclass(frozen=True)
class Uniform(Dimension):
    """Floats drawn uniformly from [low, high]."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        kind = "loguniform" if self.log else "uniform"
        for end in (self.low, self.high):
            if isinstance(end, bool) or not isinstance(end, (int, float)) or not math.isfinite(end):
                raise SearchSpaceError(f"{kind} bounds must be finite numbers, but got {end!r}")
        if not self.low < self.high:
            raise SearchSpaceError(
                f"{kind} needs `low < high`, but got (low={self.low!r}, high={self.high!r})"
            )
        if self.log and self.low <= 0:
            raise SearchSpaceError(f"loguniform needs `low > 0`, but got low={self.low!r}")

    def grid_values(self) -> list[Any]:
        kind = "loguniform" if self.log else "uniform"
        raise SearchSpaceError(
            f"a grid cannot enumerate {kind}({self.low}, {self.high}); "
            "give explicit values (a list) or use sampler='random' or 'bayes'"
        )

    def bounds(self) -> list[Any]:
        return [float(self.low), float(self.high)]

    def to_optuna(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(float(self.low), float(self.high), log=self.log)


@dataclass(frozen=True)
class IntRange(Dimension):
    """Integers from low to high inclusive, every `step`-th (log-spaced sampling if `log`)."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SearchSpaceError(f"intrange `{name}` must be an integer, but got {value!r}")
        if self.step < 1:
            raise SearchSpaceError(f"intrange needs `step >= 1`, but got step={self.step}")
        if self.low > self.high:
            raise SearchSpaceError(
                f"intrange needs `low <= high`, but got (low={self.low}, high={self.high})"
            )
        if self.log and (self.low < 1 or self.step != 1):
            raise SearchSpaceError(
                f"a log intrange needs `low >= 1` and step 1, but got (low={self.low}, step={self.step})"
            )

    def grid_values(self) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))

    def bounds(self) -> list[Any]:
        return [self.low, self.high]

    def to_optuna(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, step=self.step, log=self.log)


def choice(*values: Any) -> Choice:
    """A categorical choice between the given values: `choice("sgd", "adam")`."""
    return Choice(tuple(values))


def uniform(low: float, high: float) -> Uniform:
    """Floats uniformly between `low` and `high` (random and Bayesian search only)."""
    return Uniform(low, high)


def loguniform(low: float, high: float) -> Uniform:
    """Floats whose logarithm is uniform between log(low) and log(high); low must be > 0."""
    return Uniform(low, high, log=True)


def intrange(low: int, high: int, step: int = 1, log: bool = False) -> IntRange:
    """Integers low..high inclusive in steps of `step`; a grid visits every one."""
    return IntRange(low, high, step, log)


def as_dimension(value: Any) -> Dimension:
    """Turn what a study file wrote for a searched hyperparameter into a Dimension."""
    if isinstance(value, Dimension):
        return value
    if isinstance(value, (list, tuple)):
        return Choice(tuple(value))
    raise SearchSpaceError(
        f"expected a list of values or uniform/loguniform/intrange/choice, but got {value!r}"
    )


def expand_grid(space: Mapping[str, Dimension]) -> Iterator[dict[str, Any]]:
    """Every combination of the dimensions' grid values, first name varying slowest."""
    names = list(space)
    for combo in itertools.product(*(space[n].grid_values() for n in names)):
        yield dict(zip(names, combo))


def grid_size(space: Mapping[str, Dimension]) -> int:
    return math.prod(len(d.grid_values()) for d in space.values())


def describe(dim: Dimension) -> str:
    """A short human description, used in error messages and the study snapshot."""
    if isinstance(dim, Choice):
        return repr(list(dim.values))
    if isinstance(dim, Uniform):
        return f"{'loguniform' if dim.log else 'uniform'}({dim.low}, {dim.high})"
    if isinstance(dim, IntRange):
        return f"intrange({dim.low}, {dim.high}, step={dim.step}{', log=True' if dim.log else ''})"
    return repr(dim)
