"""Metric names, their directions and their labels: the one place that knows them, and the
one rule for which configuration is best.

A trial's metrics are columns of trials.csv (`val_acc`, `train_loss`, a user's `val_f1`).
The split is the prefix (`train_`, `val_`, `test_`), the measure the rest. Whether a larger
value is better follows from the measure, unless a study says `direction` itself.

The best configuration (`best`, `ranks`): the progress line, the kept weights, the summary's
`rank` (`sweep show`, the report, the live page) and the schedules' comparisons all use it.
A configuration's score is its mean over its seeds with a lost seed (failed, diverged or
pruned) counted as the worst value the metric can take (0 accuracy), so an unstable
configuration loses on that seed instead of being judged on the seeds it survived. Where the
metric has no worst value (a loss), a configuration that lost a seed comes after every one
that lost none, ordered among themselves by the mean of the seeds they finished. Equal
scores share a rank; of those, the configuration first in trials.csv (proposed first) is
the best. A configuration with no finished seed has no rank.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

SPLITS = ("train", "val", "test")
LOWER_IS_BETTER = ("loss", "rmse", "mse", "mae", "error", "err")  # measures to minimise
FRACTIONS = ("acc", "f1", "precision", "recall", "auc")  # measures between 0 and 1
NON_NEGATIVE = ("loss", "rmse", "mse", "mae", "error", "err")
MEASURE_NAMES = {"acc": "accuracy", "loss": "loss", "rmse": "RMSE", "mse": "MSE", "mae": "MAE",
                 "f1": "F1", "batch_loss": "mini-batch loss", "lr": "learning rate"}
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}
# Per-trial bookkeeping columns the built-in trainer writes beside its metrics: never ranked on.
COUNTS = ("best_epoch", "epochs_run", "iterations", "resumed_epoch")
# The test split's figures at the best epoch, whose weights are kept (`kept_test_acc`), read
# from the curves by `sweeper.load`; trials.csv's `test_acc` is the last epoch's.
KEPT = "kept_test_"


def split_of(metric: str) -> tuple[str | None, str]:
    """('val', 'acc') for 'val_acc'; (None, name) for a name without a split prefix."""
    for split in SPLITS:
        if metric.startswith(split + "_"):
            return split, metric[len(split) + 1:]
    if metric.startswith("best_val_"):
        return "val", metric[len("best_val_"):]
    if metric.startswith(KEPT):
        return "test", metric[len(KEPT):]
    return None, metric


def direction_of(metric: str) -> str:
    """'minimize' for losses and errors, 'maximize' for everything else."""
    measure = split_of(metric)[1]
    return "minimize" if any(measure == m or measure.endswith("_" + m) for m in LOWER_IS_BETTER) else "maximize"


def range_of(metric: str) -> tuple[float, float]:
    """The values a metric can take: (0, 1) for accuracies and other fractions, (0, inf) for
    losses and errors, unbounded for measures this does not know."""
    measure = split_of(metric)[1]
    if any(measure == m or measure.endswith("_" + m) for m in FRACTIONS):
        return 0.0, 1.0
    if any(measure == m or measure.endswith("_" + m) for m in NON_NEGATIVE):
        return 0.0, float("inf")
    return float("-inf"), float("inf")


def label_of(metric: str) -> str:
    """A metric as people read it: 'validation accuracy', 'validation F1', 'val_f1' left alone if unknown."""
    if metric.startswith("best_val_"):
        return f"best {label_of(metric[len('best_'):])} (any epoch)"
    if metric.startswith(KEPT):
        return f"{label_of(metric[len('kept_'):])} of the kept weights (best epoch)"
    split, measure = split_of(metric)
    name = MEASURE_NAMES.get(measure, measure.replace("_", " "))
    return f"{SPLIT_NAMES[split]} {name}" if split else name


def with_direction(metric: str, direction: str) -> str:
    """'validation accuracy (higher is better)'."""
    return f"{label_of(metric)} ({'higher' if direction == 'maximize' else 'lower'} is better)"


def short(value: Any) -> str:
    """A value as configuration labels show it: floats to 4 significant digits (whole ones as
    0.0), numpy scalars as the Python value they hold."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return str(value)


def config_label(params: Iterable[tuple[str, Any]]) -> str:
    """'learning_rate=0.05 momentum=0.9'."""
    return " ".join(f"{k}={short(v)}" for k, v in params)


# -- which configuration is best -----------------------------------------------------------
LOST = ("failed", "diverged", "pruned")  # statuses of a seed that counts against its configuration
Outcomes = Mapping[str, Mapping[int, "float | None"]]  # configuration -> seed -> value (None: lost)


def worst(maximize: bool, bounds: tuple[float, float]) -> float:
    """The value a lost seed counts as: the metric's worst bound (may be infinite: none)."""
    return bounds[0] if maximize else bounds[1]


def score(values: Mapping[int, float | None], maximize: bool, bounds: tuple[float, float]) -> float | None:
    """One configuration's value over its seeds, a lost seed at the metric's worst bound; None
    (nothing to tell) when a seed is lost and the metric has no such bound, or no seed is."""
    bound = worst(maximize, bounds)
    got = [v for v in values.values() if v is not None]
    lost = len(values) - len(got)
    if not got or (lost and not math.isfinite(bound)):
        return None
    return (sum(got) + (lost * bound if lost else 0.0)) / len(values)


def record(outcomes: dict[str, dict[int, float | None]], trial: str, seed: int, status: str, value: Any) -> None:
    """Add one row of trials.csv to `outcomes`: an ok row's value (None if it is no finite
    number), None for a LOST seed; other rows (pruning's `promoted` rungs) count for nothing."""
    if status == "ok":
        try:
            number: float | None = float(value)
        except (TypeError, ValueError):
            number = None
        outcomes.setdefault(trial, {})[int(seed)] = number if number is not None and math.isfinite(number) else None
    elif status in LOST:
        outcomes.setdefault(trial, {})[int(seed)] = None


def standing(values: Mapping[int, float | None], maximize: bool, bounds: tuple[float, float]) -> tuple[bool, float] | None:
    """A configuration's place as a sort key, smaller first (see the module's docstring);
    None when it has no finished seed."""
    got = [v for v in values.values() if v is not None]
    if not got:
        return None
    value = score(values, maximize, bounds)
    unscored = value is None  # lost a seed, and the metric has no worst value to count it as
    value = sum(got) / len(got) if value is None else value
    return unscored, -value if maximize else value


def ranks(outcomes: Outcomes, maximize: bool, bounds: tuple[float, float]) -> dict[str, int | None]:
    """Each configuration's rank, 1 = best; equal scores share one, no finished seed: None."""
    keys = {trial: standing(values, maximize, bounds) for trial, values in outcomes.items()}
    ordered = sorted(k for k in keys.values() if k is not None)
    return {trial: None if k is None else bisect_left(ordered, k) + 1 for trial, k in keys.items()}


def best(outcomes: Outcomes, maximize: bool, bounds: tuple[float, float]) -> str | None:
    """The best configuration: rank 1, the first in `outcomes`' order (trials.csv's) on a tie."""
    return next((trial for trial, r in ranks(outcomes, maximize, bounds).items() if r == 1), None)
