"""Schedules: what to train for the configurations a sampler proposed, and when each is settled.

The sweep loop (`runner.py`) asks the sampler, hands each batch of proposals to the study's
schedule, trains what the schedule wants, stores the rows, and tells the sampler a
configuration's value once the schedule calls it settled. A schedule decides from the stored
rows alone (`Rows`), so its decisions are a pure function of trials.csv: a resumed sweep, or
one with more workers, decides what an uninterrupted sequential one decides. Three ship:

- `Plain` (here): every seed of every configuration;
- `Race` (`racing.py`): seeds in rounds, to the configurations that may still be best;
- `Prune` (`pruning.py`): a budget such as the epochs in rungs, stopping what is behind;
  with `seeds=Racing(...)` too, the rungs run on the race's first seeds.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeper.execution.trial import TrialResult
from sweeper.metrics import range_of, record, score
from sweeper.storage.layout import KEEP_METRICS


@dataclass(frozen=True)
class Work:
    """Rows a schedule wants: configuration `trial` (the rows' id) with `config`, on `seeds`."""

    trial: str
    config: dict[str, Any]
    seeds: tuple[int, ...]
    resume: dict[int, str] = field(default_factory=dict)  # seed -> the trial whose checkpoint this one goes on from


class Rows:
    """The stored rows of trials.csv, by (trial, seed), the order they were written in, and
    each configuration's seeds as the best configuration is chosen from (`sweeper.metrics.best`)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.rows: dict[tuple[str, int], dict[str, str]] = {}
        self.position: dict[tuple[str, int], int] = {}
        self.outcomes: dict[str, dict[int, float | None]] = {}  # trial -> seed -> value, None: lost

    def add(self, row: Mapping[str, Any]) -> dict[str, str]:
        key = (str(row["trial"]), int(row["seed"]))
        self.rows[key] = {k: str(v) for k, v in row.items()}
        self.position[key] = len(self.position)
        record(self.outcomes, key[0], key[1], self.rows[key]["status"], self.rows[key].get(self.metric))  # as stored
        return self.rows[key]

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self.rows

    def value(self, trial: str, seed: int) -> float | None:
        """A stored row's metric; None for a seed that diverged or failed (or wrote no number)."""
        return row_value(self.rows[(trial, seed)], self.metric)

    def values(self, trial: str, seeds: Sequence[int]) -> dict[int, float | None]:
        """The stored seeds' metrics among `seeds`."""
        return {s: self.value(trial, s) for s in seeds if (trial, s) in self.rows}


def row_value(row: Mapping[str, Any], metric: str) -> float | None:
    try:
        value = float(row[metric]) if row["status"] in KEEP_METRICS else math.nan
    except (KeyError, ValueError):
        value = math.nan
    return None if math.isnan(value) else value


def result_value(result: TrialResult, metric: str) -> float | None:
    """A finished result's metric, as its row will store it."""
    value = result.metrics.get(metric) if result.status == "ok" else None
    return None if value is None or math.isnan(value) else float(value)


class Schedule(ABC):
    """Decides which rows to train for the configurations proposed so far."""

    #: whether configurations may be told to the sampler in the order they finish
    asynchronous = True

    def __init__(self, study: Any, ids: Callable[[Mapping[str, Any]], str], labels: Mapping[str, str]) -> None:
        self.study, self.ids, self.labels = study, ids, labels
        self.seeds: list[int] = study.seed_list
        self.maximize = study.direction == "maximize"
        self.bounds = range_of(study.metric)
        self.configs: dict[str, dict[str, Any]] = {}  # trial -> its configuration, in the order proposed
        self._given: dict[str, tuple[int, ...]] = {}  # trial -> the seeds `new_work` last gave for it

    def propose(self, pool: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Configurations (id, configuration) asked from the sampler together."""
        for trial, config in pool:
            self.configs.setdefault(trial, config)

    @abstractmethod
    def wanted(self) -> list[Work]:
        """Every row the plan wants now, stored or not (the loop trains the missing ones)."""

    def new_work(self) -> list[Work]:
        """What `wanted` gives that it did not give at the last call (the loop has the rest in
        hand: stored, running, or held)."""
        out = []
        for work in self.wanted():
            if self._given.get(work.trial) != work.seeds:
                self._given[work.trial] = work.seeds
                out.append(work)
        return out

    def update(self, rows: Rows) -> list[TrialResult]:
        """Decide again from the stored rows; results held back until now that are to be stored."""
        return []

    def receive(self, result: TrialResult) -> bool:
        """A finished result: True to store it now, False if the schedule holds it back."""
        return True

    def holds(self, key: tuple[str, int]) -> bool:
        return False

    def spent_checkpoints(self, trial: str, seed: int, status: str) -> list[tuple[str, int]]:
        """The checkpoints no trial will go on from once this row is stored: its own."""
        return [(trial, seed)]

    @abstractmethod
    def final(self, trial: str) -> list[tuple[str, int]]:
        """The rows that make a configuration's result (for its value and its place in time)."""

    @abstractmethod
    def settled(self, trial: str, rows: Rows) -> bool:
        """Whether the configuration's result will not change any more."""

    def value(self, trial: str, rows: Rows) -> float | None:
        """What the sampler is told: the mean over its final rows, a lost seed at the metric's
        worst bound (see `sweeper.metrics.score`)."""
        return score({s: rows.value(t, s) for t, s in self.final(trial)}, self.maximize, self.bounds)

    def pruned_at(self, trial: str, rows: Rows) -> tuple[int, float] | None:
        """For a configuration stopped at a rung: (the rung's budget, its value there); else None."""
        return None

    def tables(self) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        """The tables of decisions beside trials.csv (racing.csv, pruning.csv): name -> (columns, rows)."""
        return {}


class Plain(Schedule):
    """Every seed of every configuration."""

    def wanted(self) -> list[Work]:
        return [Work(t, c, tuple(self.seeds)) for t, c in self.configs.items()]

    def __init__(self, study: Any, ids: Callable[[Mapping[str, Any]], str], labels: Mapping[str, str]) -> None:
        super().__init__(study, ids, labels)
        self._fresh: list[str] = []  # configurations proposed since the last `new_work`

    def propose(self, pool: Sequence[tuple[str, dict[str, Any]]]) -> None:
        super().propose(pool)
        self._fresh.extend(t for t, _ in pool)

    def new_work(self) -> list[Work]:  # what is wanted never changes: only new configurations
        fresh, self._fresh = self._fresh, []  # not a pass over every configuration at every row
        new = [Work(t, self.configs[t], tuple(self.seeds)) for t in dict.fromkeys(fresh) if t not in self._given]
        self._given.update((w.trial, w.seeds) for w in new)
        return new

    def final(self, trial: str) -> list[tuple[str, int]]:
        return [(trial, s) for s in self.seeds]

    def settled(self, trial: str, rows: Rows) -> bool:
        return all(key in rows for key in self.final(trial))

