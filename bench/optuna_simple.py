"""Optuna's own loop against sweeper on the same objective (`studies/optuna_simple.py`).

    python bench/optuna_simple.py [--trials 20] [--workers 2]

1. Optuna as its example runs it: `optuna.create_study(direction="maximize",
   sampler=TPESampler(seed=0)).optimize(objective, n_trials=N)`, one seed per trial, in this
   process. Its best parameters are then trained on 3 seeds (0, 1, 2; not timed) for a
   3-seed accuracy comparable with sweeper's.
2. sweeper: `sweep run studies/optuna_simple.py` (N configurations x 3 seeds, Bayesian, on
   `--workers` local workers), and `studies/optuna_simple_pruned.py` (the same with pruning rungs).

Prints wall time, trials trained, the best configuration and its 3-seed mean accuracy, and for
the pruned study the units spent and whether its best is separable from the full run's.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "studies"))


def seeded_mean(objective, params: dict, seeds=(0, 1, 2)) -> float:
    values = []
    for seed in seeds:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        values.append(objective(optuna.trial.FixedTrial(params)))
    return float(np.mean(values))


def optuna_own(trials: int) -> dict:
    import optuna_simple

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.manual_seed(0)
    start = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(optuna_simple.objective, n_trials=trials)
    seconds = time.perf_counter() - start
    best = study.best_params
    return {"wall": seconds, "trained": len(study.trials), "best": best, "single": study.best_value,
            "mean3": seeded_mean(optuna_simple.objective, best)}


def sweeper_run(study_file: str, results: Path, workers: int, trials: int) -> dict:
    import sweeper

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweeper.cli", "run", str(ROOT / "studies" / study_file), "--results",
                    str(results), "--jobs", str(workers), "--quiet"], check=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    r = sweeper.load(study_file.removesuffix(".py"), results=results)
    ranked = r.summary.dropna(subset=["rank"]).sort_values("rank", kind="stable")
    best = ranked.iloc[0]
    return {"wall": seconds, "trained": len(r.trials), "best": best["label"], "mean3": float(best[f"{r.metric}_mean"]),
            "results": r}


def separable(full: dict, pruned: dict) -> str:
    """Whether the full run's best and the pruned run's best differ beyond the seeds' noise:
    a paired t-test over their common seeds (the same seeds 0, 1, 2 in both runs)."""
    from scipy import stats

    def per_seed(run: dict) -> dict[int, float]:
        r = run["results"]
        best = r.summary.dropna(subset=["rank"]).sort_values("rank", kind="stable")["trial"].iloc[0]
        rows = r.trials[(r.trials["trial"] == best) & (r.trials["status"] == "ok")]
        return dict(zip(rows["seed"], rows[r.metric]))

    a, b = per_seed(full), per_seed(pruned)
    seeds = sorted(set(a) & set(b))
    if full["best"] == pruned["best"]:
        return "the same configuration"
    p = stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue
    return f"{'separable' if p < 0.05 else 'not separable'} (difference {np.mean([a[s] - b[s] for s in seeds]):+.4f}, p = {p:.3f}, {len(seeds)} seeds)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        own = optuna_own(args.trials)
        print(f"Optuna: {own['wall']:.1f} s, best {own['best']} (3-seed mean {own['mean3']:.4f})", flush=True)
        full = sweeper_run("optuna_simple.py", Path(tmp), args.workers, args.trials)
        pruned = sweeper_run("optuna_simple_pruned.py", Path(tmp), args.workers, args.trials)
        print(f"{'run':<34}{'wall s':>8}{'trials':>8}  best configuration (3-seed mean accuracy)")
        print(f"{'Optuna study.optimize, 1 seed':<34}{own['wall']:>8.1f}{own['trained']:>8}  "
              f"{own['best']} ({own['mean3']:.4f}; its own single run {own['single']:.4f})")
        print(f"{'sweeper, 3 seeds, ' + str(args.workers) + ' workers':<34}{full['wall']:>8.1f}{full['trained']:>8}  "
              f"{full['best']} ({full['mean3']:.4f})")
        spent = pruned["results"].trials["epochs"].sum()
        print(f"{'sweeper pruned, 3 seeds':<34}{pruned['wall']:>8.1f}{pruned['trained']:>8}  "
              f"{pruned['best']} ({pruned['mean3']:.4f})")
        print(f"pruned study: {int(spent)} of {args.trials * 3 * 10} (configuration, seed, epoch) units "
              f"({spent / (args.trials * 30):.0%})")
        print(f"the pruned run's best against the full run's, paired by seed: {separable(full, pruned)}")
        print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    main()
