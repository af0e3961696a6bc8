"""Seed-aware pruning over epochs: stop configurations early, seed by seed, at rungs.

`Study(prune=Rungs(resource="epochs", rungs=(1, 3)))` runs successive halving from the
driver. The study's value of `resource` (the built-in trainer's `epochs`, or any name a
user's `train` reads as `config[name]`) is the full budget. Every configuration is first
trained, on all of the study's seeds, with `resource` = the first rung; when the whole
rung is in, the configurations are compared with the rung's best **paired seed by seed**,
and the others stop there. The survivors are trained again with the next rung, and so on;
the last rung is the full budget, whose rows are the ordinary `ok` rows.

The rule at a rung: keep the top `keep` fraction by mean over the seeds (at least one),
and also keep every other configuration that the paired, corrected step-down test against
the rung's best (`compare.py`, as seed racing uses, at level `alpha`) cannot call worse.
So a configuration is stopped only when it is both outside the top fraction and shown
worse on the common seeds. With fewer than 3 seeds there is no test, and the top fraction
alone decides. A lost seed counts as the metric's worst value (`compare.py`); where the
metric has no such bound (a loss) the configuration is stopped at that rung.

With `seeds=Racing(...)` as well, the rungs run on the race's first `start` seeds, and the
configurations that reach the full budget then race on for more seeds (`racing.py`):
racing.csv records the race, pruning.csv the rungs. Every rung is then one of the race's
looks: the race's alpha is shared equally between its rungs and its rounds, so the whole
plan keeps the race's error bound (the rungs' own `alpha` is not used).

Rows: a rung trains the configuration with `resource` = the rung, which is a configuration
of its own (its own id, its own `epochs` column). Once a rung is decided its rows are
written to trials.csv with their curves and the status `pruned` (stopped there) or
`promoted` (trained on); `sweeper.load` ranks neither as complete: promoted rows are the
intermediate work of a configuration whose full rows follow, pruned ones are excluded
from the comparison with the rung and the reason. pruning.csv records each
configuration's rung and state, rewritten atomically as the decisions change.

Determinism: a rung is decided only once every seed of every configuration still in is
back, from those values alone, and its rows are written in the order of the
configurations and seeds; so the decisions are a pure function of trials.csv, the same with
any number of workers, and a resumed run replays the decided rungs from their rows. A
rung that was running when the sweep stopped is trained again (its results are held in the
driver until the rung is decided).

Cost: a survivor is trained again from scratch with the larger budget; with a fixed seed
its first epochs are the same, so this is exact, and it costs the sum of the rungs
(1 + 3 + 12 epochs for a survivor of rungs 1 and 3 of a 12-epoch study) instead of the full
budget alone. Decisions are made between rungs, not inside a run: `log.should_stop()` in a
user's loop always answers False, and a loop that raises `sweeper.Pruned` records that seed
as `pruned`. Optuna's pruners (median, successive halving, Hyperband, Wilcoxon) decide per
single trial, from one run's intermediate values; here a decision pairs every seed of a
configuration with the same seed of the best, so none of them fits as-is.

Bayesian search proposes `concurrent_configs` configurations at a time; each such batch is
a pool whose rungs are decided on their own (a grid's or a random search's configurations
are one pool), so no rung decided before is decided again when later proposals arrive. A
configuration stopped at a rung is told to the sampler as Optuna's pruners tell it: PRUNED,
with its rung's mean as the intermediate value at the rung's budget; TPE ranks pruned trials
below every completed one, and among themselves by how far and how well they got. An Optuna
objective (`usercode/objective.py`) cannot go on from a rung: its survivors run again from
their start (with the same seed, their first steps are the same), and `trial.should_prune()`
says when a rung's budget of `report` calls is spent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeper.errors import StudyError, is_int
from sweeper.execution.trial import TrialResult
from sweeper.metrics import COUNTS, score
from sweeper.schedules import compare, racing
from sweeper.schedules.schedule import Rows, Schedule, Work, result_value
from sweeper.storage.layout import PRUNING, PRUNING_COLUMNS, RACING, RACING_COLUMNS

PRUNED, PROMOTED = "pruned", "promoted"

# (configuration id, rung) -> seed -> metric (None: lost at that rung)
Values = Mapping[tuple[str, int], Mapping[int, float | None]]


@dataclass(frozen=True)
class Rungs:
    """Successive halving over a budget hyperparameter: train every configuration with
    `resource` = each rung in turn, keeping the top `keep` fraction (and whatever the paired
    test cannot call worse), then the survivors with the study's full value."""

    resource: str = "epochs"  # the hyperparameter that sets the training length
    rungs: tuple[int, ...] = (1, 3)  # budgets below the full one at which to decide, increasing
    keep: float = 1 / 3  # fraction of the configurations kept at each rung, whatever the test says
    alpha: float = 0.05  # level of the paired test that protects configurations outside the top fraction
    # whether a survivor's training goes on from its rung's checkpoint; None: as the trainer
    # declares (the built-in one does, for epochs); a study's own `train` does when it resumes
    # through `log.resume()`, and says so with continues=True
    continues: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.resource, str) or not self.resource:
            raise StudyError(f"Rungs: `resource` = {self.resource!r} must be the name of a hyperparameter, such as 'epochs'")
        rungs = self.rungs
        if not (isinstance(rungs, (tuple, list)) and rungs and all(is_int(r) and r >= 1 for r in rungs)
                and list(rungs) == sorted(set(rungs))):
            raise StudyError(f"Rungs: `rungs` = {rungs!r} must be increasing integers >= 1, such as (1, 3)")
        object.__setattr__(self, "rungs", tuple(rungs))
        if not (isinstance(self.keep, (int, float)) and not isinstance(self.keep, bool) and 0 < self.keep < 1):
            raise StudyError(f"Rungs: `keep` = {self.keep!r} must be a fraction between 0 and 1, such as 1/3")
        if not (isinstance(self.alpha, float) and 0 < self.alpha < 1):
            raise StudyError(f"Rungs: `alpha` = {self.alpha!r} must be a number between 0 and 1, such as 0.05")
        if self.continues not in (None, True, False):
            raise StudyError(f"Rungs: `continues` = {self.continues!r} must be None, True or False")

    def levels(self, full: int) -> list[int]:
        """Every budget trained, the full one last: [1, 3, 12]."""
        return [*self.rungs, full]

    def check(self, full: object, searched: bool, trainer: Any = None) -> None:
        """The study's value of the resource must be one integer above every rung, and a
        survivor must go on from its rung (else it would train more than the full budget)."""
        name = self.resource
        if searched:
            raise StudyError(f"prune=Rungs(resource={name!r}): `{name}` is searched; the budget that pruning cuts "
                             "must be one value, in `fixed`")
        if full is None:
            raise StudyError(f"prune=Rungs(resource={name!r}): the study has no `{name}`; put the full budget in "
                             f"`fixed`, e.g. fixed={{{name!r}: 12}}, and read config[{name!r}] in training")
        if not is_int(full) or full <= self.rungs[-1]:  # type: ignore[operator]
            raise StudyError(f"prune=Rungs(rungs={self.rungs}): every rung must be below the study's `{name}` = "
                             f"{full!r}, the full budget")
        if trainer is not None and not self.continuing(trainer) and not getattr(trainer, "restarts_rungs", False):
            spent = " + ".join(map(str, self.levels(int(full))))  # type: ignore[call-overload]
            raise StudyError(f"prune=Rungs(rungs={self.rungs}): a survivor that starts each rung afresh trains "
                             f"{spent} {name} for its {full}, more than the study without pruning; make `train` go "
                             "on from log.resume() and pass Rungs(..., continues=True)")

    def continuing(self, trainer: Any) -> bool:
        """Whether a survivor goes on from its last rung's checkpoint."""
        return self.continues if self.continues is not None else self.resource in getattr(trainer, "continues", ())


@dataclass
class Step:
    """A configuration's place: the index of its rung in `levels`, and its state there."""

    trial: str
    rung: int = 0
    state: str = "running"  # running, pruned (stopped at `rung`) or complete (every full seed stored)
    reason: str = ""


def plan(trials: Sequence[str], values: Values, seeds: Sequence[int], rungs: Rungs, full: int, maximize: bool,
         bounds: tuple[float, float] = (-math.inf, math.inf), labels: Mapping[str, str] | None = None) -> dict[str, Step]:
    """Replay the rungs over `trials` (configuration ids, in the order proposed) from the
    stored `values`: where each configuration is and whether it was stopped. Pure."""
    out = {t: Step(t) for t in dict.fromkeys(trials)}
    alive = list(out)
    levels = rungs.levels(full)
    for index, level in enumerate(levels):
        for t in alive:
            out[t].rung = index
        if index == len(levels) - 1:
            for t in alive:
                if all(s in values.get((t, level), {}) for s in seeds):
                    out[t].state, out[t].reason = "complete", f"{rungs.resource}={level}, the full budget"
            break
        if not all(s in values.get((t, level), {}) for t in alive for s in seeds):
            break  # this rung is not all in yet
        at = {t: values[(t, level)] for t in alive}
        for t, why in decide(alive, at, seeds, rungs, maximize, bounds, labels):
            out[t].state, out[t].reason = "pruned", f"at {rungs.resource}={level}: {why}"
        alive = [t for t in alive if out[t].state == "running"]
    return out


def decide(alive: Sequence[str], values: Mapping[str, Mapping[int, float | None]], seeds: Sequence[int],
           rungs: Rungs, maximize: bool, bounds: tuple[float, float],
           labels: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The configurations stopped at a rung, with why: outside the top `keep` fraction by
    mean and called worse than the rung's best by the paired test (below 3 seeds: outside
    the top fraction)."""
    t = compare.table(list(alive), values, seeds, maximize, bounds)
    lost = [c for c in alive if c in t.unstable]
    out = [(c, "a seed diverged or failed, and the metric has no worst value to count it as") for c in lost]
    if not t.columns:
        return out[1:]  # keep one, so something goes on
    means = t.signed.mean(axis=0)
    order = sorted(range(len(t.columns)), key=lambda j: (-means[j], j))  # stable: ties keep the proposed order
    top = {t.columns[j] for j in order[:max(1, math.ceil(rungs.keep * len(t.columns)))]}
    best = t.columns[order[0]]
    name = (labels or {}).get(best, best)
    if len(seeds) < compare.MIN_SEEDS or compare._test is None:
        return out  # too few seeds to tell a configuration is behind: a rung decides only with enough
    worse = t.worse(rungs.alpha)
    return out + [(c, f"outside the top {rungs.keep:.0%} and worse than {name} on {len(seeds)} seeds: "
                      f"adjusted p = {worse[c]:.4f} < {rungs.alpha}")
                  for c in t.columns if c not in top and worse.get(c, 1.0) < rungs.alpha]


class Prune(Schedule):
    """The schedule of `prune=Rungs(...)`: rungs on every seed, or with `seeds=Racing(...)`
    on the race's first seeds, the survivors then racing on at the full budget."""

    asynchronous = False

    def __init__(self, study: Any, ids: Callable[[Mapping[str, Any]], str], labels: Mapping[str, str]) -> None:
        super().__init__(study, ids, labels)
        self.rungs: Rungs = study.prune
        self.full: int = study.full_budget
        self.levels = self.rungs.levels(self.full)
        self.racing: racing.Racing | None = study.racing
        self.rung_seeds = self.seeds[:self.racing.start] if self.racing is not None else self.seeds
        self.rung_of: dict[str, tuple[str, int]] = {}  # a rung's trial id -> (configuration, budget)
        self.held: dict[tuple[str, int], TrialResult] = {}  # results of a rung not yet decided
        self.steps: dict[str, Step] = {}
        self.pools: list[list[str]] = []  # configurations proposed together: each pool's rungs are decided on their own
        self.race = racing.Plan()
        self.memo: dict[Any, Any] = {}
        self.continues = self.rungs.continuing(study.trainer)
        # with a race, every rung is one of its looks: tested at the race's alpha shared between rungs and rounds
        self.rule = self.rungs if self.racing is None else dataclasses.replace(
            self.rungs, alpha=self.racing.look_alpha(len(self.rungs.rungs)))

    def propose(self, pool: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """A grid's or a random search's configurations come as one pool; Bayesian search's as
        batches of `concurrent_configs`, each decided on its own, so that no rung decided before
        is decided again when later proposals arrive (the sampler was told of it already)."""
        super().propose(pool)
        if pool:
            self.pools.append([t for t, _ in pool])

    def rung_id(self, trial: str, budget: int) -> str:
        if budget == self.full:
            return trial
        rung = self.ids({**self.configs[trial], self.rungs.resource: budget})
        self.rung_of[rung] = (trial, budget)
        return rung

    def receive(self, result: TrialResult) -> bool:
        if result.trial in self.rung_of:  # a rung below the full budget: stored once decided
            self.held[(result.trial, result.seed)] = result
            return False
        return True

    def holds(self, key: tuple[str, int]) -> bool:
        return key in self.held

    def update(self, rows: Rows) -> list[TrialResult]:
        values: dict[tuple[str, int], dict[int, float | None]] = {}
        for t in self.configs:
            for budget in self.levels:
                rung, got = self.rung_id(t, budget), rows.values(self.rung_id(t, budget), self.rung_seeds)
                for s in self.rung_seeds:
                    if (rung, s) in self.held:
                        got[s] = result_value(self.held[(rung, s)], rows.metric)
                values[(t, budget)] = got
        self.steps = {}
        for pool in self.pools:
            self.steps.update(plan(pool, values, self.rung_seeds, self.rule, self.full, self.maximize, self.bounds,
                                   self.labels))
        if self.racing is not None:
            survivors = [t for t, e in self.steps.items() if e.state == "complete"]
            if survivors and all(e.state != "running" for e in self.steps.values()):
                race_values = {t: rows.values(t, self.seeds) for t in survivors}
                self.race = racing.plan([survivors], race_values, self.seeds, self.racing, self.maximize,
                                        self.bounds, self.labels, self.memo, rungs=len(self.rungs.rungs))
        return self._decided()

    def _decided(self) -> list[TrialResult]:
        """The held results of decided rungs, in configuration and seed order: `pruned` where
        the configuration stopped there, `promoted` where it went on (a seed the user's loop
        pruned stays `pruned`)."""
        out = []
        for t, step in self.steps.items():
            for index, budget in enumerate(self.levels[:-1]):
                if not (index < step.rung or (index == step.rung and step.state == PRUNED)):
                    continue
                rung = self.rung_id(t, budget)
                for s in self.rung_seeds:
                    result = self.held.pop((rung, s), None)
                    if result is None:
                        continue
                    lost = "" if result.status == "ok" else f"{result.status} at {self.rungs.resource}={budget}: {result.error}"
                    status = PRUNED if index == step.rung or result.status == PRUNED else PROMOTED
                    out.append(dataclasses.replace(result, status=status, error=lost,
                                                   metrics=result.metrics if result.status == "ok" else {
                                                       k: v for k, v in result.metrics.items() if k in COUNTS}))
        return out

    def wanted(self) -> list[Work]:
        out = []
        for t, step in self.steps.items():
            for index, budget in enumerate(self.levels[:step.rung + 1]):
                seeds = self.rung_seeds
                if budget == self.full and t in self.race.entries:
                    seeds = self.seeds[:self.race.wanted(t)]
                # a survivor goes on from where its last rung ended, seed by seed
                previous = self.rung_id(t, self.levels[index - 1]) if index and self.continues else None
                resume = {s: previous for s in self.rung_seeds} if previous else {}
                out.append(Work(self.rung_id(t, budget), {**self.configs[t], self.rungs.resource: budget}, tuple(seeds),
                                resume))
        return out

    def spent_checkpoints(self, trial: str, seed: int, status: str) -> list[tuple[str, int]]:
        """A promoted rung's checkpoint stays for the next rung to go on from; once that one's
        row is stored, the rung's goes."""
        if status == PROMOTED and self.continues:
            return []
        t, budget = self.rung_of.get(trial, (trial, self.full))
        index = self.levels.index(budget)
        previous = [(self.rung_id(t, self.levels[index - 1]), seed)] if index and self.continues else []
        return [(trial, seed), *previous]

    def final(self, trial: str) -> list[tuple[str, int]]:
        step = self.steps[trial]
        seeds = self.seeds[:self.race.wanted(trial)] if trial in self.race.entries else self.rung_seeds
        return [(self.rung_id(trial, self.levels[step.rung]), s) for s in seeds]

    def settled(self, trial: str, rows: Rows) -> bool:
        step = self.steps.get(trial)
        if step is None or step.state == "running":
            return False
        if step.state == PRUNED or self.racing is None:
            return True
        return trial in self.race.entries and self.race.settled(trial)

    def value(self, trial: str, rows: Rows) -> float | None:
        return None if self.steps[trial].state == PRUNED else super().value(trial, rows)

    def pruned_at(self, trial: str, rows: Rows) -> tuple[int, float] | None:
        step = self.steps[trial]
        if step.state != PRUNED:
            return None
        budget = self.levels[step.rung]
        value = score(rows.values(self.rung_id(trial, budget), self.rung_seeds), self.maximize, self.bounds)
        return None if value is None else (budget, value)

    def tables(self) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
        out = {PRUNING: (PRUNING_COLUMNS, [(t, self.labels.get(t, t), e.rung + 1, self.levels[e.rung], e.state,
                                            e.reason, self.rung_id(t, self.levels[e.rung]))
                                           for t, e in self.steps.items()])}
        if self.racing is not None and self.race.entries:
            out[RACING] = (RACING_COLUMNS, racing.record(self.race, self.labels))
        return out
