"""studies/lightning_mnist.py (lightning.Trainer) against studies/lr_momentum.py (the built-in
trainer), side by side: both studies run with `sweep run` into one temporary results folder,
each timed from the command's start to its end; then, for each configuration, the built-in
trainer's mean and 95 % interval of val_acc and the Lightning study's mean.

    python -m bench.lightning_vs_builtin [--jobs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(study: str, results: Path, jobs: int) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "sweeper.cli", "run", f"studies/{study}.py", "--results", str(results),
                    "--jobs", str(jobs), "-q"], cwd=ROOT, check=True)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    import sweeper

    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp)
        seconds = {name: sweep(name, results, args.jobs) for name in ("lr_momentum", "lightning_mnist")}
        builtin = sweeper.load("lr_momentum", results).summary.rename(columns={"learning_rate": "lr"})
        ours = sweeper.load("lightning_mnist", results).summary
    table = builtin.set_index(["lr", "momentum"])[["rank", "val_acc_mean", "val_acc_ci_low", "val_acc_ci_high"]].join(
        ours.set_index(["lr", "momentum"])[["rank", "val_acc_mean"]].add_suffix("_lightning"))
    table["inside"] = table["val_acc_mean_lightning"].between(table["val_acc_ci_low"], table["val_acc_ci_high"])
    print(table.sort_values("rank").round(4).to_string())
    same = builtin.loc[builtin["rank"].idxmin(), ["lr", "momentum"]].tolist() == \
        ours.loc[ours["rank"].idxmin(), ["lr", "momentum"]].tolist()
    print(f"same best: {same}; every Lightning mean inside the built-in interval: {bool(table['inside'].all())}")
    print(f"wall time with --jobs {args.jobs}: lr_momentum {seconds['lr_momentum']:.1f} s, lightning_mnist "
          f"{seconds['lightning_mnist']:.1f} s (ratio {seconds['lightning_mnist'] / seconds['lr_momentum']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
