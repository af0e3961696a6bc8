"""How many rows a second the sweep loop (the driver) records when training costs nothing.

    python bench/driver_rate.py                          # 4,000 configurations x 5 seeds = 20,000 rows
    python bench/driver_rate.py --configs 400 --against ../sweeper-098a735 --repeats 2

A study whose own `train(config, seed, log)` returns a metric at once, a grid of `--configs`
configurations x 5 seeds, run with `sweep run --jobs 2` in a fresh process as a user would,
the progress line and progress.json on. Prints, for each checkout (this one, and `--against
PATH` run with PYTHONPATH=PATH, alternating), the rows a second end to end and the driver's
own CPU time per row (its process's user + system time, not the workers').

`--profile FILE` runs this checkout once under cProfile and writes the driver's profile
(read it with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STUDY = '''
from sweeper import Study


def train(config, seed, log):
    return {{"score": config["a"] * 1e-3 + config["b"] * 1e-6 + seed * 1e-9}}


study = Study(name="driver_rate", train=train, metric="score", direction="maximize", seeds=5,
              space={{"a": list(range({a})), "b": list(range({b}))}})
'''

# the driver's CPU time, printed by the driver process itself as it exits
DRIVER = textwrap.dedent("""
    import atexit, os, sys
    atexit.register(lambda: print(f"driver-cpu {sum(os.times()[:2])}", file=sys.stderr))
    from sweeper.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def write_study(folder: Path, configs: int) -> Path:
    b = 100 if configs >= 100 else configs
    path = folder / "driver_rate.py"
    path.write_text(STUDY.format(a=configs // b, b=b))
    return path


def run_once(checkout: Path, study: Path, results: Path, jobs: int, profile: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, driver CPU seconds, rows stored) of one `sweep run` of the study."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    code = DRIVER if profile is None else \
        f"import cProfile, sys\nsys.argv = ['sweep', *sys.argv[1:]]\ncProfile.run({DRIVER!r}, {str(profile)!r})"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "run", str(study), "--jobs", str(jobs), "--results",
                           str(results), "--restart"], env=env, cwd=study.parent, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"sweep run with {checkout} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = next((float(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("driver-cpu")), float("nan"))
    with (results / "driver_rate" / "trials.csv").open() as f:
        rows = sum(1 for _ in csv.reader(f)) - 1
    return wall, cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", type=int, default=4000, help="configurations, x 5 seeds (default 4000)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--against", type=Path, action="append", default=[],
                        help="another checkout to run the same study with, alternating (repeatable)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of this checkout's driver here and stop")
    args = parser.parse_args()
    checkouts = [ROOT, *(p.resolve() for p in args.against)]
    with tempfile.TemporaryDirectory() as tmp:
        study = write_study(Path(tmp), args.configs)
        if args.profile:
            wall, _, rows = run_once(ROOT, study, Path(tmp) / "results", args.jobs, args.profile.resolve())
            print(f"profiled {rows} rows in {wall:.1f} s: {args.profile}")
            return
        print(f"{args.configs} configurations x 5 seeds, sweep run --jobs {args.jobs}, {os.cpu_count()} CPUs")
        print(f"{'checkout':<28} {'rows':>7} {'seconds':>8} {'rows/s':>8} {'driver ms/row':>14}")
        for _ in range(args.repeats):
            for checkout in checkouts:
                wall, cpu, rows = run_once(checkout, study, Path(tmp) / f"results-{checkouts.index(checkout)}", args.jobs)
                print(f"{str(checkout)[-28:]:<28} {rows:>7} {wall:>8.1f} {rows / wall:>8.0f} {1000 * cpu / rows:>14.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
