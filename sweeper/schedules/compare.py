"""The rules by which configurations are compared, in one place: racing, pruning and the
report (`sweeper.analysis.stats`) all use them.

- Seeds are compared in pairs: every configuration is trained with the same seeds, and two
  configurations are compared only on the seeds both finished, at least MIN_SEEDS of them.
- A seed that diverged or failed counts as the worst value the metric can take (0 accuracy),
  so an unstable configuration loses on that seed instead of being judged on the seeds it
  survived (`sweeper.metrics.score`, the rule that also picks the best configuration).
  A metric with no such bound (a loss) has no value to count it as: there the
  configuration cannot be compared, and a schedule stops it (the reason names the seed);
  the ranking puts it after every configuration that lost no seed.
- The test: the paired, corrected step-down test against the best
  (`sweeper.analysis.stepdown`), which calls a configuration worse when the chance of doing
  so for one that is not is at most the level. The engine knows no analysis: `sweeper`
  registers the test here, as it registers the built-in trainer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweeper.errors import StudyError
from sweeper.metrics import worst

MIN_SEEDS = 3  # fewest common seeds for a paired test (sweeper.analysis.stepdown keeps the same)

Values = Mapping[str, Mapping[int, float | None]]  # configuration -> seed -> metric (None: lost)
# (values[seed, config] with the best column first, higher better, level) -> adjusted p-values
# of "worse than column 0"
WorseTest = Callable[[Any, float], Any]
_test: WorseTest | None = None


def register_test(test: WorseTest) -> None:
    global _test
    _test = test


@dataclass
class Table:
    """Configurations' values on common seeds, ready for the test: higher is better, a lost
    seed at the worst bound. `unstable` are those left out: a seed lost, no bound to count it."""

    columns: list[str]
    signed: Any  # numpy array, seeds x columns
    unstable: dict[str, int]  # configuration -> the first seed it lost

    def best(self) -> int:

        means = self.signed.mean(axis=0)
        return int(sorted(range(len(self.columns)), key=lambda j: (-means[j], j))[0]) if len(means) else -1

    def worse(self, level: float) -> dict[str, float]:
        """Adjusted p-values of "worse than the best column" for the other columns (below
        MIN_SEEDS seeds or with no test registered: none)."""
        if _test is None:
            raise StudyError("no comparison test is registered; import sweeper, not sweeper.schedules alone")
        if len(self.columns) < 2 or len(self.signed) < MIN_SEEDS:
            return {}
        best = self.best()
        order = [best] + [j for j in range(len(self.columns)) if j != best]
        p = _test(self.signed[:, order], level)
        return {self.columns[j]: float(p[k]) for k, j in enumerate(order) if k}


def table(columns: Sequence[str], values: Values, seeds: Sequence[int], maximize: bool,
          bounds: tuple[float, float]) -> Table:
    """The values of `columns` on `seeds` as a Table (see `Table`)."""
    import numpy as np

    bound = worst(maximize, bounds)
    raw = np.array([[_number(values.get(t, {}).get(s)) for t in columns] for s in seeds], dtype=float).reshape(
        len(seeds), len(columns))
    unstable: dict[str, int] = {}
    if not math.isfinite(bound):
        for j, t in enumerate(columns):
            lost = [s for i, s in enumerate(seeds) if np.isnan(raw[i, j])]
            if lost:
                unstable[t] = lost[0]
        kept = [j for j, t in enumerate(columns) if t not in unstable]
        columns, raw = [columns[j] for j in kept], raw[:, kept]
    raw = np.where(np.isnan(raw), bound, raw)
    return Table(list(columns), raw if maximize else -raw, unstable)


def _number(v: float | None) -> float:
    return math.nan if v is None else float(v)
