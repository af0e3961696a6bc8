"""Where a sweep's time before its first trial goes: interpreters, torch imports, workers.

    python bench/startup.py [--repeats 3]

Each case runs in a fresh process (best of --repeats): a bare interpreter; `import torch`;
two worker processes ready to run a torch task, started as sweeper starts them (joblib's
loky, each worker a fresh interpreter importing torch) and from a forkserver that imports
torch once and forks both; and a whole `sweep run` of a study with two one-epoch trials on
100 images of scikit-learn's digits, with 2 loky workers and in-process (sequential).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOKY = """
from joblib.externals.loky import ProcessPoolExecutor
from sweeper.engine.executors import _init_worker
def task(_):
    import torch
    return float(torch.ones(2).sum())
pool = ProcessPoolExecutor(max_workers=2, initializer=_init_worker)
list(pool.map(task, range(2)))
"""
FORKSERVER = """
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
def task(_):
    import torch
    return float(torch.ones(2).sum())
if __name__ == "__main__":
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch"])
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        list(pool.map(task, range(2)))
"""
STUDY = """from sweeper import Split, Study
study = Study(name="startup", dataset="digits", split=Split(train=100, val=50), fixed={"epochs": 1},
              space={"learning_rate": [0.05, 0.1]}, seeds=1)
"""


def timed(args: list[str], repeats: int, env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "startup.py"
        study.write_text(STUDY)
        (Path(tmp) / "forkserver.py").write_text(FORKSERVER)
        run = [py, "-m", "sweeper.cli", "run", str(study), "--results", str(Path(tmp) / "r"), "--quiet", "--restart",
               "--device", "cpu"]
        cases = [
            ("bare interpreter (`python -c pass`)", [py, "-c", "pass"]),
            ("`import torch`", [py, "-c", "import torch"]),
            ("2 loky workers ready (each imports torch), as sweeper starts them", [py, "-c", LOKY]),
            ("2 workers forked from a forkserver that imported torch once", [py, str(Path(tmp) / "forkserver.py")]),
            ("`sweep run`, 2 tiny trials, --jobs 2 (loky)", [*run, "--jobs", "2"]),
            ("`sweep run`, 2 tiny trials, --executor sequential", [*run, "--executor", "sequential"]),
        ]
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        print(f"| case | seconds (best of {args.repeats}) |\n|---|---:|")
        for name, command in cases:
            print(f"| {name} | {timed(command, args.repeats, env):.2f} |", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
