"""Metric names, their directions and their labels: the one place that knows them.

A trial's metrics are columns of trials.csv (`val_acc`, `train_loss`, a user's `val_f1`).
The split is the prefix (`train_`, `val_`, `test_`), the measure the rest. Whether a larger
value is better follows from the measure, unless a study says `direction` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
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
