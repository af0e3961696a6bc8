"""What a seed decides. By default one number per trial fixes both its model's initial
weights and the order of its data. `Study(seeds=Crossed(init=5, order=5))` crosses them:
every configuration is trained once per (initialisation seed, data-order seed) pair, 25
trials, so the spread of its results can be split into what comes from the initial weights,
what from the order of the data, and the rest (`sweeper.analysis.variance`).

A crossed trial's `seed` (trials.csv's column, `sweep run --seeds`, `Results.model(seed=)`)
is one number that names the pair: 1000 * init + order (seed 2003: initialisation 2, data
order 3). The built-in trainer seeds torch with `init` just before it builds the model and
draws the data order from a generator seeded with `order`; a study's own `train(config,
seed, log)` gets the pair's number as `seed`, torch, NumPy and `random` seeded with `init`,
and the pair as `log.init_seed` and `log.order_seed` (draw the data order from the second).
Comparisons stay paired: two configurations are compared on the pairs both finished.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweeper.errors import StudyError

PAIR = 1000  # a crossed seed is PAIR * init + order


@dataclass(frozen=True)
class Crossed:
    """Initialisation seeds crossed with data-order seeds: every pair trained."""

    init: int = 5  # initialisation seeds 0 .. init-1
    order: int = 5  # data-order seeds 0 .. order-1

    def __post_init__(self) -> None:
        for name in ("init", "order"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= PAIR - 1:
                raise StudyError(f"Crossed: `{name}` = {value!r} must be an integer from 2 to {PAIR - 1}: a variance "
                                 "needs two seeds at least")

    def seed_list(self) -> list[int]:
        return [PAIR * i + o for i in range(self.init) for o in range(self.order)]

    def describe(self) -> str:
        return f"Crossed(init={self.init}, order={self.order})"


def split(seed: int, crossed: bool) -> tuple[int, int]:
    """A trial seed's (initialisation, data order) seeds: the same one, or a crossed pair's."""
    return divmod(seed, PAIR) if crossed else (seed, seed)
