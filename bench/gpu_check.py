"""The course grid on this machine's GPUs: stacked (the default) against one at a time, with
the device plan and the devices each worker trained on, as trials.csv records them.

    python bench/gpu_check.py [--data-dir DIR] [--gpus-per-trial 0.5] [--seeds 5]

Runs `studies/lr_momentum.py` twice with `--device cuda` and no `--jobs` (one worker per GPU
slot): `--no-stack`, then stacked, each into a temporary results folder, and prints each run's
wall time, their ratio and, per run, which worker trained how many rows on which device. The
data: MNIST under --data-dir ($SWEEPER_DATA_DIR), else the study's fallback, digits (nothing is
downloaded). About 2-4 minutes on one GPU; under 8 whatever the machine. Without a GPU it says
so and exits 0: nothing has been measured on a GPU unless this script ran on one.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR", "data"))
    parser.add_argument("--gpus-per-trial", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=None, help="override the study's 5 seeds")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="cpu: the same runs on the CPU, to try this script where there is no GPU")
    args = parser.parse_args(argv)

    from sweeper.execution import devices

    gpus = devices.visible_gpus()
    if not gpus and args.device == "cuda":
        print("no GPU here: nothing to check (torch sees no CUDA GPU; run this on a machine with one)")
        return 0
    from sweeper.builtin import data as datasets
    from sweeper.execution.runner import device_plan, run_study
    from sweeper.study.options import RunOptions
    from sweeper.study.studyfile import load_study

    study = load_study(str(ROOT / "studies" / "lr_momentum.py"))
    if not datasets.is_available("mnist", args.data_dir):
        print(f"MNIST is not under {args.data_dir}: the course grid on digits instead (its fallback)")
        study = dataclasses.replace(study, dataset="digits", fallback=None,
                                    split=datasets.scaled_for(study.split, datasets.DIGITS_TRAIN))
    base = RunOptions(data_root=args.data_dir, device=args.device, seeds=args.seeds, gpus_per_trial=args.gpus_per_trial,
                      show_progress=False, stream=io.StringIO())
    print(f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''} visible ({devices.VISIBLE_ENV}="
          f"{os.environ.get(devices.VISIBLE_ENV, 'unset')}); device plan:")
    for line in device_plan(study, base).lines():
        print(f"  {line}")
    if args.device == "cuda":
        print(_memory_note())
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="sweeper-gpu-check-") as tmp:
        for name, stack in (("one at a time", False), ("stacked", True)):
            options = base.replace(results_root=Path(tmp) / name.replace(" ", "_"), stack=stack)
            start = time.perf_counter()
            summary = run_study(study, options)
            seconds[name] = time.perf_counter() - start
            print(f"\n{name}: {seconds[name]:.1f} s wall for {summary.trained} rows ({summary.failed} failed) "
                  f"with {summary.where} on {summary.device}; rows by worker and device:")
            _print_devices(summary.folder / "trials.csv")
    print(f"\none at a time / stacked: {seconds['one at a time'] / seconds['stacked']:.2f}x "
          f"(wall, start-up of the workers included)")
    return 0


def _memory_note() -> str:
    """What the stacked groups' size rule makes of this GPU's free memory for the course's MLP."""
    import torch

    from sweeper.schedules.groups import GROUP_MODELS, models_that_fit

    free, total = torch.cuda.mem_get_info(0)
    mlp = 784 * 30 + 30 + 30 * 10 + 10  # MLP(30) on 28x28 images
    return (f"  cuda:0: {free / 2**30:.1f} of {total / 2**30:.1f} GiB free; a stacked group of MLP(30) x 5 seeds "
            f"may hold {models_that_fit(free, mlp, seeds=5)} models (at most {GROUP_MODELS})")


def _print_devices(trials: Path) -> None:
    import pandas as pd

    rows = pd.read_csv(trials, dtype=str, keep_default_na=False)
    counts = rows.groupby(["worker", "device"]).size().reset_index(name="rows")
    for _, r in counts.iterrows():
        print(f"  worker {r['worker']}: {r['device']}: {r['rows']} rows")


if __name__ == "__main__":
    sys.exit(main())
