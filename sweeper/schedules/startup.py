"""Bayesian search's start-up: every value of every categorical before the model guides.

TPE and the Gaussian process propose their first `startup_trials` configurations at random;
a random draw can miss a whole category in ten proposals (a 4-value choice is missed with
probability 4 x 0.75^10 = 23 % per value drawn over 10), and a category never tried is one
the model never learns is good. So each start-up proposal is first given, through Optuna's
own `enqueue_trial`, the least-used value of every categorical so far (ties broken by a
generator seeded with the study's `sampler_seed` and the proposal's number, so that two
categoricals are not always paired alike); the sampler draws the other dimensions at random
as usual. A define-by-run space (an objective, a space function) names its categoricals
only as it runs: those its proposals so far have met are fixed the same way (a conditional
one is counted where it was active). A resumed study, asked the same questions, replays the
same proposals.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

Study = Any  # sweeper.study.study.Study


class Startup:
    """The categorical values to fix on each start-up proposal of an Optuna study."""

    def __init__(self, study: Study) -> None:
        from optuna.distributions import CategoricalDistribution

        self.size, self.seed = study.startup_trials, study.sampler_seed
        optuna_space = {name: dim.to_optuna() for name, dim in study.space.items()}
        self.choices = {name: d.choices for name, d in optuna_space.items() if isinstance(d, CategoricalDistribution)}

    def enqueue(self, optuna_study: Any) -> None:
        """Before the next `ask`: fix the least-used value of each categorical, while the
        proposals so far are fewer than the start-up."""
        from optuna.distributions import CategoricalDistribution
        from optuna.trial import TrialState

        asked = [t for t in optuna_study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
        choices = dict(self.choices)
        for t in asked:  # a define-by-run space's categoricals, as its proposals so far have met them
            for name, d in t.distributions.items():
                if isinstance(d, CategoricalDistribution):
                    choices.setdefault(name, d.choices)
        if not choices or len(asked) >= self.size:
            return
        fixed = {}
        for name, values in choices.items():
            used = Counter(repr(t.params[name]) for t in asked if name in t.params)
            least = min(used[repr(v)] for v in values)
            rng = random.Random(f"{self.seed}/{len(asked)}/{name}")  # a str seed is the same in every process
            fixed[name] = rng.choice([v for v in values if used[repr(v)] == least])
        optuna_study.enqueue_trial(fixed)
