"""Grid, random and Bayesian search behind one ask/tell interface.

Random and Bayesian search are Optuna's own samplers (RandomSampler; TPESampler by default,
GPSampler as an option; both propose the study's `startup_trials` configurations at random
before their model guides the search), seeded with the study's `sampler_seed`: asked the same questions
and told the same answers, they propose the same configurations, which is what makes a
resumed study replay its history and arrive where an uninterrupted one would.
One Optuna trial is one configuration, told the mean of the metric over its seeds.
Bayesian search does not propose a configuration that is still running.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from sweeper.engine.study import Study

REASKS = 20  # Bayesian search: random proposals tried in place of one that repeats a running one


@dataclass
class Proposal:
    params: dict[str, Any]  # the searched hyperparameters' values
    handle: Any = None  # the sampler's own bookkeeping (an Optuna trial)


class Sampler(ABC):
    """Proposes configurations and learns from their scores.

    `ask` is called whenever the runner can start more configurations; it returns at most
    `n` proposals, and an empty list once the study's budget is spent. `tell` is called once
    per proposal when all its seeds have finished, with the mean metric, or None when no
    seed succeeded.
    """

    @abstractmethod
    def ask(self, n: int) -> list[Proposal]: ...

    def tell(self, proposal: Proposal, value: float | None) -> None:  # noqa: B027 (a no-op by default)
        """Grid search learns nothing; model-based samplers override this."""


class GridSampler(Sampler):
    def __init__(self, study: Study) -> None:
        self._configs = study.grid()

    def ask(self, n: int) -> list[Proposal]:
        batch, self._configs = self._configs[:n], self._configs[n:]
        return [Proposal(c) for c in batch]


class OptunaSampler(Sampler):
    """Random or Bayesian search through an in-memory Optuna study."""

    def __init__(self, study: Study) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        seed = study.sampler_seed
        if study.sampler == "random":
            sampler: Any = optuna.samplers.RandomSampler(seed=seed)
        elif study.bayes_sampler == "gp":
            sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=study.startup_trials)
        else:  # constant_liar: configurations still running count as bad, so none is proposed twice at once
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                                 n_startup_trials=study.startup_trials)
        self._optuna = optuna.create_study(direction="minimize" if study.direction == "minimize" else "maximize", sampler=sampler)
        self._distributions = {name: dim.to_optuna() for name, dim in study.space.items()}
        self._remaining = int(study.n_trials or 0)
        self._distinct = study.sampler == "bayes"
        self._explore = optuna.samplers.RandomSampler(seed=seed)  # for proposals that repeat a running one

    def ask(self, n: int) -> list[Proposal]:
        out = []
        for _ in range(min(n, self._remaining)):
            trial = self._ask_distinct() if self._distinct else self._optuna.ask(self._distributions)
            out.append(Proposal(dict(trial.params), trial))
            self._remaining -= 1
        return out

    def _ask_distinct(self) -> Any:
        """An Optuna trial whose parameters no running (asked, not told) trial has.

        TPE proposes what looks best, and constant_liar only makes that unlikely to be a
        running configuration: in a small discrete space it still can be. Such a repeat is
        told FAIL (which TPE ignores) and a random configuration is asked instead; at most
        REASKS times, since a small space may have nothing else left.
        """
        from optuna.trial import TrialState

        running = {_key(t.params) for t in self._optuna.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        trial = self._optuna.ask(self._distributions)
        guided = self._optuna.sampler
        try:
            for _ in range(REASKS):
                if _key(trial.params) not in running:
                    break
                self._optuna.tell(trial, state=TrialState.FAIL)
                self._optuna.sampler = self._explore
                trial = self._optuna.ask(self._distributions)
        finally:
            self._optuna.sampler = guided
        return trial

    def tell(self, proposal: Proposal, value: float | None) -> None:
        from optuna.trial import TrialState

        if value is None:
            self._optuna.tell(proposal.handle, state=TrialState.FAIL)
        else:
            self._optuna.tell(proposal.handle, value)


def _key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


def make_sampler(study: Study) -> Sampler:
    return GridSampler(study) if study.sampler == "grid" else OptunaSampler(study)
