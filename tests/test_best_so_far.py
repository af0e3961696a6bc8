"""The progress line's best so far, kept incrementally, names what a pass over every
configuration's mean names, ties to the configuration that got its first value first."""

from __future__ import annotations

import random
import statistics

import pytest

from sweeper.execution.progress import BestSoFar


def _naive(scores: dict[str, dict[int, float]], maximize: bool) -> tuple[str, float, int] | None:
    means = {t: statistics.fmean(v.values()) for t, v in scores.items() if v}
    if not means:
        return None
    best = (max if maximize else min)(means, key=lambda t: means[t])
    return best, means[best], len(scores[best])


@pytest.mark.parametrize("maximize", [True, False])
def test_the_best_so_far_is_the_best_mean_after_every_row(maximize: bool) -> None:
    rng = random.Random(3)
    best, scores = BestSoFar(maximize), {}
    assert best.best() is None
    for _ in range(600):
        trial, seed = f"c{rng.randrange(40)}", rng.randrange(5)
        value = rng.choice([0.5, 0.6, 0.7, rng.random()])  # ties are common
        best.add(trial, seed, value)
        scores.setdefault(trial, {})[seed] = value
        got, want = best.best(), _naive(scores, maximize)
        assert got is not None and want is not None
        assert (got[0], got[2]) == (want[0], want[2]) and got[1] == pytest.approx(want[1], abs=1e-12)
