"""Where configurations come from: grid, random and Bayesian search, or a user's own Optuna
sampler, behind one ask/tell interface.

Random and Bayesian search are Optuna's own samplers (RandomSampler; TPESampler by default,
GPSampler as an option; both propose the study's `startup_trials` configurations at random
before their model guides the search), seeded with the study's `sampler_seed`: asked the
same questions and told the same answers, they propose the same configurations, which is
what makes a resumed study replay its history and arrive where an uninterrupted one would.
A study may also pass an Optuna sampler instance as `sampler=` (QMCSampler,
CmaEsSampler, ...): it is driven the same way, and a resumed study replays its history to a
fresh instance, so it must be seeded to propose the same again. One Optuna trial is one
configuration, told the mean of the metric over its seeds. A sampler that learns from the
values it is told is asked for `concurrent_configs` configurations at a time, and does not
propose a configuration that is still running.

Samplers are looked up by name in `SAMPLERS`; each declares what the sweep loop and the
study need to know of it (`exhaustive`, `learns`), rather than being tested by name.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from sweeper.schedules.startup import Startup
from sweeper.usercode.objective import sample

Study = Any  # sweeper.study.study.Study, which names its sampler from the registry here

REASKS = 20  # a learning sampler: random proposals tried in place of one that repeats a running one


@dataclass
class Proposal:
    params: dict[str, Any]  # the searched hyperparameters' values
    handle: Any = None  # the sampler's own bookkeeping (an Optuna trial)


class Sampler(ABC):
    """Proposes configurations and learns from their scores.

    `ask` is called whenever the runner can start more configurations; it returns at most
    `n` proposals, and an empty list once the study's budget is spent. `tell` is called once
    per proposal when the configuration is settled, with its value over its seeds (see
    `schedule.Schedule.value`), or None when it has none (every seed failed, or pruned).
    """

    #: tries every combination of the space's lists (and takes no `n_trials`)
    exhaustive = False
    #: proposals depend on the values told: asked for `concurrent_configs` at a time
    learns = False

    def __init__(self, study: Study) -> None:  # noqa: B027 (a no-op by default)
        """Every sampler is made from the study alone."""

    @abstractmethod
    def ask(self, n: int) -> list[Proposal]: ...

    def tell(self, proposal: Proposal, value: float | None,  # noqa: B027 (a no-op by default)
             pruned: tuple[int, float] | None = None) -> None:
        """A sampler that does not learn ignores what it is told."""


class GridSampler(Sampler):
    exhaustive = True

    def __init__(self, study: Study) -> None:
        self._configs = study.grid()

    def ask(self, n: int) -> list[Proposal]:
        batch, self._configs = self._configs[:n], self._configs[n:]
        return [Proposal(c) for c in batch]


class OptunaSampler(Sampler):
    """A search through an in-memory Optuna study driven by `sampler` (an Optuna sampler)."""

    def __init__(self, study: Study, sampler: Any = None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        sampler = sampler if sampler is not None else study.sampler
        self._optuna = optuna.create_study(direction="minimize" if study.direction == "minimize" else "maximize",
                                           sampler=sampler)
        self._distributions = {name: dim.to_optuna() for name, dim in study.space.items()}
        self._define, self._fixed = study.define_by_run, dict(study.fixed)  # a define-by-run space, sampled by running it
        self._remaining = int(study.n_trials or 0)
        self._explore = optuna.samplers.RandomSampler(seed=study.sampler_seed)  # for proposals that repeat a running one

    def ask(self, n: int) -> list[Proposal]:
        out = []
        for _ in range(min(n, self._remaining)):
            trial, params = self._ask_distinct() if self.learns else self._ask()
            out.append(Proposal(params, trial))
            self._remaining -= 1
        return out

    def _ask(self) -> tuple[Any, dict[str, Any]]:
        """A new Optuna trial and its parameters: of the study's distributions, or those a
        define-by-run space suggests when run with it (`usercode/objective.py`)."""
        if self._define is None:
            trial = self._optuna.ask(self._distributions)
            return trial, dict(trial.params)
        trial = self._optuna.ask()
        return trial, sample(self._define, trial, self._fixed)

    def _ask_distinct(self) -> tuple[Any, dict[str, Any]]:
        """An Optuna trial whose parameters no running (asked, not told) trial has.

        TPE proposes what looks best, and constant_liar only makes that unlikely to be a
        running configuration: in a small discrete space it still can be. Such a repeat is
        told FAIL (which TPE ignores) and a random configuration is asked instead; at most
        REASKS times, since a small space may have nothing else left.
        """
        from optuna.trial import TrialState

        running = {_key(t.params) for t in self._optuna.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        trial, params = self._ask()
        guided = self._optuna.sampler
        try:
            for _ in range(REASKS):
                if _key(trial.params) not in running:
                    break
                self._optuna.tell(trial, state=TrialState.FAIL)
                self._optuna.sampler = self._explore
                trial, params = self._ask()
        finally:
            self._optuna.sampler = guided
        return trial, params

    def tell(self, proposal: Proposal, value: float | None, pruned: tuple[int, float] | None = None) -> None:
        """`pruned`: the configuration stopped at a rung, as (the rung's budget, its value there): told
        as Optuna's pruners tell a pruned trial, PRUNED with that intermediate value at that step, which
        TPE ranks below every completed trial and, among pruned ones, by how far and how well they got."""
        from optuna.trial import TrialState

        if pruned is not None:
            proposal.handle.report(pruned[1], pruned[0])
            self._optuna.tell(proposal.handle, state=TrialState.PRUNED)
        elif value is None:
            self._optuna.tell(proposal.handle, state=TrialState.FAIL)
        else:
            self._optuna.tell(proposal.handle, value)


class RandomSearch(OptunaSampler):
    def __init__(self, study: Study) -> None:
        import optuna

        super().__init__(study, optuna.samplers.RandomSampler(seed=study.sampler_seed))


class BayesSearch(OptunaSampler):
    """TPE (or a Gaussian process with `bayes_sampler="gp"`), after `startup_trials` random
    proposals that try every value of every categorical (`startup.py`)."""

    learns = True

    def ask(self, n: int) -> list[Proposal]:
        out: list[Proposal] = []
        while len(out) < n and self._remaining > 0:
            self._startup.enqueue(self._optuna)
            out += super().ask(1)
        return out

    def __init__(self, study: Study) -> None:
        import optuna

        seed, startup = study.sampler_seed, study.startup_trials
        if study.bayes_sampler == "gp":
            sampler: Any = optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        else:  # constant_liar: configurations still running count as bad, so none is proposed twice at once
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                                 n_startup_trials=startup)
        super().__init__(study, sampler)
        self._startup = Startup(study)


class UserSampler(OptunaSampler):
    """The Optuna sampler instance a study passes as `sampler=`."""

    learns = True


SAMPLERS: dict[str, type[Sampler]] = {"grid": GridSampler, "random": RandomSearch, "bayes": BayesSearch}


def kind(sampler: Any) -> type[Sampler]:
    """The class that runs a study's `sampler` (a name in SAMPLERS, or an Optuna sampler)."""
    return SAMPLERS[sampler] if isinstance(sampler, str) else UserSampler


def is_optuna_sampler(obj: Any) -> bool:
    """Whether obj is an Optuna sampler instance (Optuna is imported only if obj may be one)."""
    if not any(c.__module__.split(".")[0] == "optuna" for c in type(obj).__mro__):
        return False
    import optuna

    return isinstance(obj, optuna.samplers.BaseSampler)


def describe(sampler: Any) -> str:
    """How study.json names a study's sampler: its name, or an instance's class."""
    if isinstance(sampler, str):
        return sampler
    cls = type(sampler)
    return f"{cls.__module__}.{cls.__qualname__}"


def make_sampler(study: Study) -> Sampler:
    return kind(study.sampler)(study)


def _key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))
