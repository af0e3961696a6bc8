"""A large synthetic results folder, written as `sweep run` writes one, for load measurements.

    python bench/big_study.py /tmp/results/big --configs 2000 --seeds 5 --epochs 10

Configurations are a grid over learning rate x momentum x hidden size; each (configuration,
seed) has one trials.csv row and per-epoch curves (train and validation loss and accuracy),
as a study with `eval_every="epoch"` and no per-iteration loss records them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from sweeper.storage.store import CURVE_COLUMNS, trial_columns

METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "epochs_run", "iterations"]


def grid(configs: int) -> pd.DataFrame:
    """`configs` configurations of learning_rate x momentum x hidden_size."""
    hidden = int(np.ceil(configs / 100))
    lr = np.geomspace(1e-3, 1.0, 10)
    momentum = np.linspace(0.0, 0.95, 10)
    rows = [(a, b, 16 * (h + 1)) for h in range(hidden) for a in lr for b in momentum][:configs]
    return pd.DataFrame(rows, columns=["learning_rate", "momentum", "hidden_size"])


def write(folder: Path, configs: int, seeds: int, epochs: int, per_epoch: int = 30, rng_seed: int = 0) -> Path:
    rng = np.random.default_rng(rng_seed)
    space = grid(configs)
    quality = 0.7 + 0.25 * np.exp(-np.log10(space["learning_rate"] / 0.1) ** 2) * (0.8 + 0.2 * space["momentum"])
    n = configs * seeds
    trial = np.repeat([f"{i:012x}" for i in range(configs)], seeds)
    seed = np.tile(np.arange(seeds), configs)
    final = np.clip(np.repeat(quality.to_numpy(), seeds) + rng.normal(0, 0.01, n), 0, 1)
    trials = pd.DataFrame({"trial": trial, "seed": seed, "status": "ok"})
    for name in space:
        trials[name] = np.repeat(space[name].to_numpy(), seeds)
    trials["epochs"] = epochs
    trials["dataset"] = "digits"
    trials = trials.assign(train_loss=1.05 - final, train_acc=np.minimum(1, final + 0.02), val_loss=1 - final,
                           val_acc=final, epochs_run=epochs, iterations=epochs * per_epoch, seconds=1.0, error="")
    config = [*space.columns, "epochs"]
    folder.mkdir(parents=True, exist_ok=True)
    trials.reindex(columns=trial_columns(config, METRICS)).to_csv(folder / "trials.csv", index=False)  # no provenance
    frac = np.arange(1, epochs + 1) / epochs
    parts = []
    for split, metric, values in (("train", "loss", 2.3 - (1.25 + final[:, None]) * frac),
                                  ("train", "acc", (final[:, None] + 0.02) * frac),
                                  ("val", "loss", 2.3 - (1.3 + final[:, None]) * frac),
                                  ("val", "acc", final[:, None] * frac)):
        parts.append(pd.DataFrame({"trial": np.repeat(trial, epochs), "seed": np.repeat(seed, epochs),
                                   "epoch": np.tile(np.arange(1, epochs + 1), n),
                                   "iteration": np.tile(np.arange(1, epochs + 1) * per_epoch, n),
                                   "split": split, "metric": metric, "value": values.ravel().round(5)}))
    curves = pd.concat(parts).sort_values(["trial", "seed", "epoch"], kind="stable")
    curves[CURVE_COLUMNS].to_csv(folder / "curves.csv", index=False)
    study = {"name": folder.name, "sampler": "grid", "metric": "val_acc", "direction": "maximize",
             "space": {c: repr(sorted(set(space[c].tolist()))) for c in space}, "fixed": {"epochs": epochs},
             "seeds": list(range(seeds)), "n_trials": None, "planned_configs": configs, "dataset_used": "digits",
             "description": "synthetic: a large grid for load measurements", "fingerprint": "0123456789ab"}
    (folder / "study.json").write_text(json.dumps(study, indent=1))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--configs", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    write(args.folder, args.configs, args.seeds, args.epochs)
    print(f"{args.folder}: {args.configs * args.seeds} trials, {args.configs * args.seeds * args.epochs * 4} curve rows")


if __name__ == "__main__":
    main()
