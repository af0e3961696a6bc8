"""Stacked (the default) against one at a time on a study: the same verdicts, and each
configuration's means less than its standard error apart, and the largest difference.

    python bench/stacked_check.py studies/lr_momentum.py --data-dir ../shared/data [--seeds 5] [--jobs 2]

Runs the study twice with `sweep run --jobs N` (`--no-stack`, then the default) into a
temporary results folder and prints, per configuration: both means of the study's metric,
their difference, the standard error of the mean over seeds (of the one-at-a-time run) and
both verdicts against the best configuration, with their step-down p-values. The step-down
test simulates its null with draws seeded by the data, columns in the order configurations
first appear in trials.csv, which is the order trials finished: a p-value within its Monte
Carlo error (about 0.005) of 0.05 can flip between two runs that only finished in another
order. So verdicts are compared with the stacked run's rows put in the one-at-a-time run's
order. Exits 1 unless every configuration passes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study")
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR", "data"))
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--results", help="keep both runs' results under this folder (default: a temporary one)")
    args = parser.parse_args(argv)

    from sweeper.analysis import stats
    from sweeper.analysis.results import read_folder

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    loaded, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for flags in (["--no-stack"], []):
            results = Path(args.results or tmp) / ("alone" if flags else "stacked")
            seeds = ["--seeds", str(args.seeds)] if args.seeds else []
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sweeper.cli", "run", args.study, "--jobs", str(args.jobs),
                            "--results", str(results), "--data-dir", args.data_dir, "--device", "cpu", "--quiet",
                            *seeds, *flags], check=True, env=env, stdout=subprocess.DEVNULL)
            seconds.append(time.perf_counter() - start)
            folder = next(p for p in results.iterdir() if p.is_dir())
            loaded.append(read_folder(folder))
        alone, stacked = loaded
        metric = alone.metric
        a, s = (r.summary.set_index("trial") for r in loaded)
        order = {t: i for i, t in enumerate(stats.config_order(alone.trials))}
        trials = stacked.trials.sort_values("trial", key=lambda col: col.map(order), kind="stable")
        comparisons = [alone.comparisons, stats.compare_to_best(
            trials, stats.summarize(trials, stacked.searched, metric, stacked.direction), metric, stacked.direction)]
        va, vs = (c.set_index("trial")["verdict"] for c in comparisons)
        pa, ps = (c.set_index("trial")["p_adjusted"] for c in comparisons)
        loaded_order = stacked.comparisons.set_index("trial")["verdict"]
        print(f"{alone.name}: {metric}, {int(a['n_seeds'].iloc[0])} seeds; one at a time {seconds[0]:.1f} s, "
              f"stacked {seconds[1]:.1f} s (wall, --jobs {args.jobs})\n")
        print("| configuration | one at a time | stacked | difference | standard error (one at a time) "
              "| verdicts (p adjusted) |")
        print("|---|---:|---:|---:|---:|---|")
        within, same, as_loaded = 0, 0, 0
        for trial in a.index:
            ma, ms = a.loc[trial, f"{metric}_mean"], s.loc[trial, f"{metric}_mean"]
            se = a.loc[trial, f"{metric}_se"]
            within += abs(ma - ms) < se or ma == ms
            same += va.get(trial) == vs.get(trial)
            as_loaded += va.get(trial) == loaded_order.get(trial)
            print(f"| {a.loc[trial, 'label']} | {ma:.4f} | {ms:.4f} | {ms - ma:+.4f} | {se:.4f} | "
                  f"{va.get(trial)} ({pa.get(trial):.3f}) / {vs.get(trial)} ({ps.get(trial):.3f}) |")
        n = len(a)
        print(f"\nlargest difference of a row or curve value, stacked against one at a time: "
              f"{largest_differences(alone, stacked)}")
        print(f"\nmeans within one standard error: {within} of {n}; same verdict: {same} of {n} "
              f"({as_loaded} of {n} with each run's own row order); "
              f"best: {alone.summary.sort_values('rank')['label'].iloc[0]} / "
              f"{stacked.summary.sort_values('rank')['label'].iloc[0]}")
        return 0 if within == n and same == n else 1


def largest_differences(alone: Any, stacked: Any) -> str:
    """The largest absolute difference between the two runs, per measure, over every row's
    final value and every curve value."""
    key = ["trial", "seed", "epoch", "iteration", "split", "metric"]
    a, s = (r.curves.set_index(key)["value"].sort_index() for r in (alone, stacked))
    diffs = (a - s).abs().groupby(level="metric").max()
    rows = [alone.trials.set_index(["trial", "seed"]).sort_index(), stacked.trials.set_index(["trial", "seed"]).sort_index()]
    finals = {c: float((rows[0][c] - rows[1][c]).abs().max()) for c in rows[0].columns
              if c.startswith(("train_", "val_", "test_", "best_val_")) and c in rows[1]}
    return "; ".join([*(f"{c} {v:.2g}" for c, v in finals.items()), *(f"curves' {m} {v:.2g}" for m, v in diffs.items())])


if __name__ == "__main__":
    sys.exit(main())
