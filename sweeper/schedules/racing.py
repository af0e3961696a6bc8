"""Seed racing: give seeds only to configurations that may still be the best.

`Study(seeds=Racing(start=3, max=20))` trains every configuration on the first `start`
seeds of the common list (0, 1, 2, ...). Then, in rounds, the configurations not yet shown
worse than the best get more seeds, the same ones for all and in the same order, so every
comparison stays paired: 3, 6, 12, 20 seeds with the default growth of 2. After each round
the paired, corrected step-down test against the best (`compare.py`, the test behind
`sweep show`'s verdict) drops every configuration it calls worse. The race ends when the
survivors have `max` seeds, or when only one is left (nothing to decide; in a Bayesian
search it races on, as later batches will race against it).

Error rates: the race looks at the data once per round, so each look tests at
alpha / rounds (Bonferroni over the looks); with pruning rungs before it (`prune=Rungs(...)`
as well), each rung is a look too, and alpha is shared equally between rungs and rounds. By
the union bound the chance that the truly best configuration is ever dropped, or that any
configuration is dropped when none differs, stays below alpha whatever the looks' dependence
(bench/racing_errors.py measures both on synthetic studies). A lost seed counts as the
metric's worst value (`compare.py`).

Determinism: a round is decided only once every seed it asked for is stored, from those
stored values alone, so the decisions are a pure function of trials.csv; a resumed race,
or one run with more workers, decides what an uninterrupted sequential one decides.
Configurations race in pools: a grid's or a random search's configurations form one pool;
Bayesian search races each batch it proposes, against the survivors of earlier batches, and
is told a configuration's value once its pool is settled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeper.errors import StudyError, is_int
from sweeper.schedules import compare
from sweeper.schedules.compare import Values
from sweeper.schedules.schedule import Rows, Schedule, Work
from sweeper.storage.layout import RACING, RACING_COLUMNS

MIN_START = compare.MIN_SEEDS  # a paired test needs 3 seeds in common


@dataclass(frozen=True)
class Racing:
    """Seeds given in rounds: `start` seeds each, then times `growth`, up to `max`."""

    start: int = 3  # seeds every configuration gets; at least 3, the fewest a paired test can use
    max: int = 20  # seeds of the configurations still in the race at the end
    alpha: float = 0.05  # chance over the whole race of dropping a configuration that is not worse
    growth: float = 2.0  # seeds per configuration multiply by this each round (3, 6, 12, 20)

    def __post_init__(self) -> None:
        if not is_int(self.start) or self.start < MIN_START:
            raise StudyError(f"Racing: `start` = {self.start!r} must be an integer >= {MIN_START}, "
                             "the fewest seeds a paired test can use")
        if not is_int(self.max) or self.max < self.start:
            raise StudyError(f"Racing: `max` = {self.max!r} must be an integer >= start ({self.start})")
        if not (isinstance(self.alpha, float) and 0 < self.alpha < 1):
            raise StudyError(f"Racing: `alpha` = {self.alpha!r} must be a number between 0 and 1, such as 0.05")
        if not (isinstance(self.growth, (int, float)) and self.growth > 1):
            raise StudyError(f"Racing: `growth` = {self.growth!r} must be a number > 1, such as 2")

    def rounds(self) -> list[int]:
        """Seeds per configuration after each round: [3, 6, 12, 20] for the defaults."""
        out = [self.start]
        while out[-1] < self.max:
            out.append(min(self.max, max(out[-1] + 1, math.ceil(out[-1] * self.growth))))
        return out

    def look_alpha(self, rungs: int = 0) -> float:
        """The level of each look's test: alpha shared equally between the rounds and, where
        the race begins with pruning rungs, those `rungs` too (Bonferroni over every look)."""
        return self.alpha / (len(self.rounds()) + rungs)

    def looks(self, rungs: int = 0) -> str:
        """The looks alpha is shared between, in words: "4 rounds", "4 rounds and 1 rung"."""
        rounds = len(self.rounds())
        return f"{rounds} round{'s' * (rounds != 1)}" + (f" and {rungs} rung{'s' * (rungs != 1)}" if rungs else "")

    def describe(self) -> str:
        return f"Racing(start={self.start}, max={self.max}, alpha={self.alpha}, growth={self.growth})"


@dataclass
class Entry:
    """One configuration's place in the race."""

    trial: str
    pool: int
    seeds: int = 0  # seeds asked for so far
    state: str = "racing"  # racing, dropped or kept (survived its pool's race)
    round: int = 0  # the round it was dropped or kept in (1 = after `start` seeds)
    reason: str = ""


@dataclass
class Plan:
    """What the stored values say: each configuration's entry, in pool order."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def settled(self, trial: str) -> bool:
        return self.entries[trial].state != "racing"

    def wanted(self, trial: str) -> int:
        return self.entries[trial].seeds


def plan(pools: Sequence[Sequence[str]], values: Values, seeds: Sequence[int], racing: Racing, maximize: bool,
         bounds: tuple[float, float] = (-math.inf, math.inf), labels: Mapping[str, str] | None = None,
         memo: dict[Any, list[tuple[str, str]]] | None = None, lone_stops: bool = True, rungs: int = 0) -> Plan:
    """Replay the race over `pools` (configuration ids in the order proposed) from the stored
    `values`: which configurations are dropped, kept or still racing, and how many of the
    common `seeds` each is asked for. A pure function of its arguments. `memo` keeps each
    decided round's drops, for a caller whose stored values only ever grow (the runner).
    `lone_stops`: a configuration left alone stops there (False where later pools will come
    to race against it: Bayesian search). `rungs`: pruning rungs the race began with, which
    share its alpha (`Racing.look_alpha`)."""
    out = Plan()
    memo = {} if memo is None else memo
    kept: list[str] = []  # survivors of earlier pools: the references of later ones
    for index, pool in enumerate(pools):
        alive = [t for t in dict.fromkeys(pool) if t not in out.entries]
        for t in alive:
            out.entries[t] = Entry(t, index)
        for number, n in enumerate(racing.rounds(), start=1):
            for t in alive:
                out.entries[t].seeds = n
            if not all(s in values.get(t, {}) for t in alive for s in seeds[:n]):
                return out  # this round's seeds are not all stored yet
            last = n >= racing.max or (lone_stops and len(alive) + len(kept) <= 1)
            if len(alive) + len(kept) > 1:
                key = (tuple(kept), tuple(alive), n)
                if key not in memo:
                    memo[key] = dropped(kept + alive, alive, values, seeds[:n], racing, maximize, bounds, labels, rungs)
                for t, why in memo[key]:
                    out.entries[t].state, out.entries[t].round, out.entries[t].reason = "dropped", number, why
                alive = [t for t in alive if out.entries[t].state == "racing"]
                last = last or (lone_stops and len(alive) + len(kept) <= 1)
            if last or not alive:
                for t in alive:
                    e = out.entries[t]
                    e.state, e.round = "kept", number
                    e.reason = f"{n} seeds, the most" if n >= racing.max else "left alone: nothing to compare"
                kept += alive
                break
    return out


def dropped(columns: list[str], candidates: list[str], values: Values, seeds: Sequence[int], racing: Racing,
            maximize: bool, bounds: tuple[float, float], labels: Mapping[str, str] | None,
            rungs: int = 0) -> list[tuple[str, str]]:
    """The candidates the step-down test calls worse than the best of `columns` on `seeds`,
    and those that lost a seed where the metric has no worst value to count it as."""
    t = compare.table(columns, values, seeds, maximize, bounds)
    out = [(c, f"diverged or failed on seed {s}: a metric with no worst value cannot count it")
           for c, s in t.unstable.items() if c in candidates]
    if not t.columns:
        return out
    level = racing.look_alpha(rungs)
    best = t.columns[t.best()]
    name = (labels or {}).get(best, best)
    for c, p in t.worse(level).items():
        if c in candidates and p < level:
            out.append((c, f"worse than {name} on {len(seeds)} seeds: adjusted p = {p:.4f} "
                           f"< {level:.4g} (alpha {racing.alpha} over {racing.looks(rungs)})"))
    return sorted(out, key=lambda d: columns.index(d[0]))


class Race(Schedule):
    """The schedule of `seeds=Racing(...)`."""

    asynchronous = False  # a race decides in rounds: its configurations are told in the order asked

    def __init__(self, study: Any, ids: Callable[[Mapping[str, Any]], str], labels: Mapping[str, str]) -> None:
        super().__init__(study, ids, labels)
        self.racing: Racing = study.racing
        self.pools: list[list[str]] = []
        self.race = Plan()
        self.memo: dict[Any, Any] = {}  # each decided round's drops (stored values never change)

    def propose(self, pool: Sequence[tuple[str, dict[str, Any]]]) -> None:
        super().propose(pool)
        if pool:
            self.pools.append([t for t, _ in pool])

    def update(self, rows: Rows) -> list[Any]:
        values = {t: rows.values(t, self.seeds) for pool in self.pools for t in pool}
        self.race = plan(self.pools, values, self.seeds, self.racing, self.maximize, self.bounds, self.labels,
                         self.memo, lone_stops=self.study.sampler != "bayes")
        return []

    def wanted(self) -> list[Work]:
        return [Work(t, self.configs[t], tuple(self.seeds[:e.seeds])) for t, e in self.race.entries.items()]

    def final(self, trial: str) -> list[tuple[str, int]]:
        return [(trial, s) for s in self.seeds[:self.race.wanted(trial)]]

    def settled(self, trial: str, rows: Rows) -> bool:
        return trial in self.race.entries and self.race.settled(trial)

    def tables(self) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        return {RACING: (RACING_COLUMNS, record(self.race, self.labels))}


def record(race: Plan, labels: Mapping[str, str]) -> list[tuple[Any, ...]]:
    """racing.csv's rows: each configuration's pool, seeds, state, round and reason."""
    return [(e.trial, labels.get(e.trial, e.trial), e.pool, e.seeds, e.state, e.round, e.reason)
            for e in race.entries.values()]
