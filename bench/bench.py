"""How fast sweeper trains, against the course notebook's loop, in one run, side by side.

    python bench/bench.py --data-dir ../shared/data            # everything, about 2 minutes on 2 cores
    python bench/bench.py --data-dir ../shared/data --quick    # one repeat, fewer seeds: a smoke test

The work is the tutorial notebook's: MNIST's first 2500 images (2000 train / 500
validation), MLP(30), SGD lr 0.05 momentum 0.9, batch 64, 3 epochs. Cases:

  (a) the notebook's loop (bench/tutorial_loop.py): a DataLoader over a list of (image,
      label) pairs, training and validation accuracy after every iteration;
  (b) sweeper's trainer, the same curves (loss and accuracy of both splits every iteration);
  (c) sweeper's trainer, curves once per epoch;
  (d) 8 and 32 seeds: one at a time against vectorized (curves once per epoch);
  (e) studies/lr_momentum.py (12 configurations x 5 seeds) through `run_study` with 1 and 2
      worker processes, one at a time, vectorized and stacked: speed-up, and orchestration
      overhead = wall time minus the trials' summed training seconds (per worker), as a
      share of those seconds;
  (f) `sweep --help`, a fresh interpreter each time.

Every time is the best of --repeats runs (the least disturbed by other processes). Torch
uses --threads threads (default 1, as sweeper's workers do) in every case, so the ratios
compare code, not thread counts. It prints a Markdown table; the targets are reported,
not asserted.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: import this checkout's sweeper and bench

from bench import tutorial_loop  # noqa: E402,I001

NOTEBOOK = {"learning_rate": 0.05, "momentum": 0.9, "num_epochs": 3, "batch_size": 64}
CONFIG = {"model": "mlp", "hidden_size": 30, "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9,
          "batch_size": 64, "epochs": 3}


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, case: str, seconds: str, ratio: str = "", target: str = "") -> None:
        self.rows.append((case, seconds, ratio, target))
        print(f"  {case}: {seconds} {ratio} {target}".rstrip(), file=sys.stderr, flush=True)

    def markdown(self) -> str:
        lines = ["| case | seconds | ratio | target |", "|---|---:|---:|---|"]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        return "\n".join(lines)


def verdict(ok: bool, target: str) -> str:
    return f"{target}: {'met' if ok else 'MISSED'}"


def trainers(table: Table, data: Any, device: str, repeats: int, seed_counts: list[int]) -> None:
    """(a) to (d): the notebook's loop and sweeper's trainers on the same work."""
    import torch

    from sweeper.builtin.hparams import resolve
    from sweeper.builtin.loop import train, train_seeds
    from sweeper.builtin.models import build

    cfg = resolve(CONFIG)
    cpu = data.to("cpu")
    pairs_train = tutorial_loop.pairs(cpu.x_train, cpu.y_train)
    pairs_val = tutorial_loop.pairs(cpu.x_val, cpu.y_val)
    tutorial_loop.run(0, pairs_train[:256], pairs_val[:64], **{**NOTEBOOK, "num_epochs": 1})  # first step imports torch._dynamo
    train(cfg, 0, data, "iteration", max_steps=5)  # warm up (first-call allocations, kernels)
    train_seeds(cfg, [0, 1], data, "epoch", max_steps=5)

    def sync(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            out = fn()
            if device == "cuda":
                torch.cuda.synchronize()
            return out
        return run

    a = best_of(repeats, lambda: tutorial_loop.run(0, pairs_train, pairs_val, **NOTEBOOK))
    table.add("(a) notebook loop, curves every iteration (CPU)", f"{a:.2f}", "1.0x")
    b = best_of(repeats, sync(lambda: train(cfg, 0, data, "iteration")))
    table.add(f"(b) sweeper, curves every iteration ({device})", f"{b:.3f}", f"{a / b:.1f}x (a/b)",
              verdict(a / b >= 10, ">= 10x"))
    model = build(cfg, data.input_shape, data.n_outputs).to(device).eval()
    steps = 3 * (len(data.x_train) // cfg["batch_size"])

    @torch.inference_mode()
    def evaluations_only() -> None:
        for _ in range(steps):
            model(data.x_train).argmax(1)
            model(data.x_val).argmax(1)

    floor = best_of(repeats, sync(evaluations_only))
    table.add(f"(b) floor: only the {steps} forward passes over train and val that (a) and (b) both make",
              f"{floor:.3f}", f"{a / floor:.1f}x (a/floor)")
    c = best_of(repeats, sync(lambda: train(cfg, 0, data, "epoch")))
    table.add(f"(c) sweeper, curves every epoch ({device})", f"{c:.3f}", f"{a / c:.1f}x (a/c)")
    for n in seed_counts:
        seeds = list(range(n))
        one = best_of(repeats, sync(lambda seeds=seeds: [train(cfg, s, data, "epoch") for s in seeds]))
        together = best_of(repeats, sync(lambda seeds=seeds: train_seeds(cfg, seeds, data, "epoch")))
        table.add(f"(d) {n} seeds one at a time ({device})", f"{one:.2f}")
        table.add(f"(d) {n} seeds vectorized ({device})", f"{together:.2f}", f"{one / together:.2f}x",
                  verdict(one / together >= 2, ">= 2x") if n == 8 else "")


def study_runs(table: Table, data_root: str, device: str, seeds: int, grid: dict | None) -> None:
    """(e): the lr x momentum study through the runner, with 1 and 2 worker processes."""
    from sweeper.execution.runner import run_study
    from sweeper.study.studyfile import load_study

    study = load_study(ROOT / "studies" / "lr_momentum.py").with_seeds(seeds)
    if grid is not None:
        study = dataclasses.replace(study, space=grid)
    configs = study.planned_configs()
    walls: dict[tuple[str, int], float] = {}
    modes = {"one at a time": study.stacked(False), "vectorized": study.vectorized(),
             "stacked (the default)": study.stacked(True)}
    for how, variant in modes.items():
        for jobs in (1, 2):
            with tempfile.TemporaryDirectory() as results:
                start = time.perf_counter()
                summary = run_study(variant, results_root=Path(results), data_root=data_root, jobs=jobs,
                                    show_progress=False, device=device, stream=io.StringIO())
                wall = time.perf_counter() - start
                with (summary.folder / "trials.csv").open(newline="") as f:
                    training = sum(float(r["seconds"]) for r in csv.DictReader(f))
            walls[how, jobs] = wall
            overhead = (wall - training / jobs) / (training / jobs)
            speedup = walls[how, 1] / wall
            ratio = f"{speedup:.2f}x (1 job / 2 jobs)" if jobs == 2 else ""
            target = verdict(speedup >= 1.8 and overhead < 0.05, ">= 1.8x, overhead < 5%") \
                if jobs == 2 and how == "one at a time" else ""
            table.add(f"(e) study {configs}x{seeds}, {how}, {jobs} job{'s' if jobs > 1 else ''}: "
                      f"training {training:.1f} s, overhead {overhead:.0%}", f"{wall:.1f}", ratio, target)


def startup(table: Table, repeats: int) -> None:
    """(f): `sweep --help` in a fresh interpreter, against a bare `python -c pass`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(*args: str) -> None:
        subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env)

    bare = best_of(max(repeats, 5), lambda: run("-c", "pass"))
    helped = best_of(max(repeats, 5), lambda: run("-m", "sweeper.cli", "--help"))
    table.add(f"(f) sweep --help (bare interpreter: {bare:.2f} s)", f"{helped:.2f}", "", verdict(helped < 0.5, "< 0.5 s"))


def machine(device: str) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if device == "cuda" else ""
    return (f"{cpu}, {len(os.sched_getaffinity(0))} cores{gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s); device {device}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR", "data"),
                        help="data root with MNIST/raw/ (default: $SWEEPER_DATA_DIR, else ./data)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every case (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per case (default 3)")
    parser.add_argument("--quick", action="store_true", help="one repeat, 8 seeds only, a 4 x 2 study")
    parser.add_argument("--skip", default="", help="parts to leave out: trainers (a-d), study (e), startup (f)")
    args = parser.parse_args(argv)

    import torch

    from sweeper.builtin import data as datasets
    from sweeper.builtin.data import DataSpec
    from sweeper.study.study import Split

    if not datasets.is_available("mnist", args.data_dir):
        print(f"bench: MNIST is missing: {datasets.missing_message('mnist', args.data_dir)}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    device = datasets.resolve_device(args.device)
    repeats = 1 if args.quick else args.repeats
    data = datasets.load(DataSpec("mnist", args.data_dir, Split(2000, 500)), device)
    table = Table()
    print(f"# sweeper benchmark, {datetime.date.today()}\n{machine(device)}", file=sys.stderr, flush=True)
    if "trainers" not in args.skip:
        trainers(table, data, device, repeats, [8] if args.quick else [8, 32])
    if "study" not in args.skip:
        grid = {"learning_rate": [0.05, 0.1], "momentum": [0.0, 0.9]} if args.quick else None
        study_runs(table, args.data_dir, device, 2 if args.quick else 5, grid)
    if "startup" not in args.skip:
        startup(table, repeats)
    print(f"Machine: {machine(device)}. Date: {datetime.date.today()}. Best of {repeats} run(s) per case.\n")
    print(table.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
