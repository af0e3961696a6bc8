"""The schedule contract (`sweeper.schedules.schedule.Schedule`), checked against every
schedule: plain, a seed race, rungs of pruning, and rungs with a race. A schedule decides
from the stored rows alone, so its decisions are a pure function of trials.csv: the same
rows replayed, or the same results stored in another order, give the same decisions; it
never asks for more than its full design; and every configuration it was given settles."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

import sweeper  # noqa: F401 (registers the comparison test that racing and pruning use)
from sweeper import Racing, Rungs, Study
from sweeper.execution.trial import TrialResult
from sweeper.schedules.pruning import Prune
from sweeper.schedules.racing import Race
from sweeper.schedules.schedule import Plain, Rows, Schedule

METRIC = "val_acc"
QUALITY = {0.01: 0.2, 0.03: 0.45, 0.1: 0.7, 0.3: 0.8, 1.0: 0.75, 3.0: 0.1}
FULL = 9  # epochs: the full budget


def train(config, seed, log):  # never called: the driver below computes the same values
    return {METRIC: value(config, seed)}


def value(config: Mapping[str, Any], seed: int) -> float:
    """A configuration's accuracy: its learning rate's quality, nearer with more epochs, and a seed's offset."""
    offset = ((seed * 7919 + int(config["learning_rate"] * 1000)) % 13 - 6) / 300
    return min(1.0, max(0.0, QUALITY[config["learning_rate"]] * (1 - 0.5 ** config["epochs"]) + offset))


def study(seeds: object, prune: object = None) -> Study:
    return Study(name="contract", train=train, fixed={"epochs": FULL}, space={"learning_rate": list(QUALITY)},
                 seeds=seeds, prune=prune)


SCHEDULES: dict[str, tuple[type[Schedule], Callable[[], Study]]] = {
    "plain": (Plain, lambda: study(4)),
    "race": (Race, lambda: study(Racing(start=3, max=8))),
    "prune": (Prune, lambda: study(4, Rungs(resource="epochs", rungs=(1, 3), keep=1 / 3, continues=True))),
    "prune-race": (Prune, lambda: study(Racing(start=3, max=8), Rungs(resource="epochs", rungs=(1, 3), keep=1 / 3, continues=True))),
}


def config_id(config: Mapping[str, Any]) -> str:
    return f"lr{config['learning_rate']}-e{config['epochs']}"


def configs() -> list[tuple[str, dict[str, Any]]]:
    out = [{"learning_rate": lr, "epochs": FULL} for lr in QUALITY]
    return [(config_id(c), c) for c in out]


class Driver:
    """The sweep loop's side of a schedule, without workers: train what it wants (the value
    above), store what it lets through, store what it releases on `update`, until it wants
    nothing new. `reverse` stores each batch's results in the opposite order."""

    def __init__(self, make: Callable[[], Schedule], rows: Rows | None = None, reverse: bool = False) -> None:
        self.schedule, self.rows, self.reverse = make(), rows or Rows(METRIC), reverse
        self.asked: list[tuple[str, int]] = []
        self.row_configs: dict[str, dict[str, Any]] = {}

    def run(self) -> Driver:
        self.schedule.propose(configs())
        for _ in range(100):
            for result in self.schedule.update(self.rows):
                self._store(result)
            batch = []
            for work in self.schedule.new_work():
                self.row_configs.setdefault(work.trial, work.config)
                batch += [(work, s) for s in work.seeds if (work.trial, s) not in self.rows
                          and not self.schedule.holds((work.trial, s))]
            if not batch:
                return self
            for work, seed in reversed(batch) if self.reverse else batch:
                self.asked.append((work.trial, seed))
                result = TrialResult(work.trial, seed, "ok", {METRIC: value(work.config, seed)}, 0.0)
                if self.schedule.receive(result):
                    self._store(result)
        raise AssertionError("the schedule never stopped asking")

    def _store(self, result: TrialResult) -> None:
        self.rows.add({"trial": result.trial, "seed": result.seed, "status": result.status, **result.metrics})

    def decisions(self) -> dict[str, Any]:
        s = self.schedule
        return {"final": {t: s.final(t) for t in s.configs}, "value": {t: s.value(t, self.rows) for t in s.configs},
                "settled": {t: s.settled(t, self.rows) for t in s.configs}, "tables": s.tables(),
                "rows": sorted((k, r["status"], r[METRIC]) for k, r in self.rows.rows.items())}


@pytest.fixture(params=list(SCHEDULES))
def make(request: pytest.FixtureRequest) -> Callable[[], Schedule]:
    kind, make_study = SCHEDULES[request.param]
    return lambda: kind(make_study(), config_id, {})


class TestScheduleContract:
    def test_every_schedule_is_tested(self) -> None:
        assert set(Schedule.__subclasses__()) == {kind for kind, _ in SCHEDULES.values()}

    def test_it_asks_for_no_more_than_its_full_design(self, make: Callable[[], Schedule]) -> None:
        d = Driver(make).run()
        seeds = d.schedule.seeds
        assert len(d.asked) == len(set(d.asked))  # no row is asked for twice
        assert all(seed in seeds for _, seed in d.asked)
        full = [(t, s) for t, s in d.asked if d.row_configs[t]["epochs"] == FULL]
        assert len(full) <= len(QUALITY) * len(seeds)
        assert all(d.row_configs[t]["epochs"] <= FULL for t, _ in d.asked)

    def test_every_configuration_settles_on_stored_rows(self, make: Callable[[], Schedule]) -> None:
        d = Driver(make).run()
        for trial in d.schedule.configs:
            assert d.schedule.settled(trial, d.rows)
            assert d.schedule.final(trial) and all(key in d.rows for key in d.schedule.final(trial))
            told = d.schedule.value(trial, d.rows)
            assert told is None or 0.0 <= told <= 1.0

    def test_replaying_the_stored_rows_decides_the_same_and_trains_nothing(self, make: Callable[[], Schedule]) -> None:
        first = Driver(make).run()
        stored = Rows(METRIC)
        for key in sorted(first.rows.rows, key=first.rows.position.__getitem__):
            stored.add(first.rows.rows[key])
        again = Driver(make, stored).run()  # a resumed sweep: every row is in trials.csv already
        assert again.asked == []
        assert again.decisions() == first.decisions()

    def test_the_order_results_arrive_in_does_not_change_a_decision(self, make: Callable[[], Schedule]) -> None:
        assert Driver(make, reverse=True).run().decisions() == Driver(make).run().decisions()

    def test_the_schedule_gives_seeds_to_better_configurations_first(self, make: Callable[[], Schedule]) -> None:
        d = Driver(make).run()  # never fewer seeds for the truly best than for the truly worst
        best, worst = config_id({"learning_rate": 0.3, "epochs": FULL}), config_id({"learning_rate": 3.0, "epochs": FULL})
        assert len(d.schedule.final(best)) >= len(d.schedule.final(worst))
