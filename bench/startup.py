"""Where a sweep's time before its first trial goes: interpreters, torch imports, workers, the
driver's own start-up, and the time to the first row of `make run`.

    python bench/startup.py [--repeats 3] [--before ../other-checkout]

Each case runs in a fresh process (best of --repeats): a bare interpreter; `import torch`;
two worker processes ready to run a torch task, started as loky starts them (each worker a
fresh interpreter importing torch) and as sweeper starts them (`LocalExecutor`: forked
from a forkserver that imported torch and the training code once); a whole `sweep run` of a
study with two one-epoch trials on 100 images of scikit-learn's digits, with 2 workers and
in-process (sequential); and the seconds from `sweep run studies/lr_momentum.py` (what `make
run` runs) to the first row in its trials.csv. With --before, that last case runs for the
other checkout too, alternately. Then the driver's own start-up, profiled: where the
seconds before its first task goes.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOKY = """
import os
from joblib.externals.loky import ProcessPoolExecutor
from sweeper.execution.executors import _init_worker
def task(_):
    import torch
    return float(torch.ones(2).sum())
pool = ProcessPoolExecutor(max_workers=2, initializer=_init_worker, initargs=(os.getpid(),))
list(pool.map(task, range(2)))
"""
SWEEPER_POOL = """
from sweeper.execution.executors import LocalExecutor
def task(_):
    import torch
    return float(torch.ones(2).sum())
if __name__ == "__main__":
    pool = LocalExecutor(2)
    pool.preload = ("sweeper.builtin.loop",)
    pool.start()
    [f.result() for f in [pool.submit(task, i) for i in range(2)]]
    pool.shutdown(kill=True)
"""
STUDY = """from sweeper import Split, Study
study = Study(name="startup", dataset="digits", split=Split(train=100, val=50), fixed={"epochs": 1},
              space={"learning_rate": [0.05, 0.1]}, seeds=1)
"""
# the driver's steps before its first task, as the profile names them
STEPS = [("import torch (to resolve the device)", "devices.py", "resolve_device"),
         ("start the workers (the forkserver)", "executors.py", "start"),
         ("find the study's data and check a model on it", "trainer.py", "prepare"),
         ("open the results folder (lock, snapshot, repair)", "store.py", "open")]


def timed(args: list[str], repeats: int, env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def first_row(code: Path, results: Path, env: dict[str, str]) -> float:
    """Seconds from `sweep run studies/lr_momentum.py` to the first row of its trials.csv."""
    trials = results / "lr_momentum" / "trials.csv"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sweeper.cli", "run", str(code / "studies" / "lr_momentum.py"),
                             "--results", str(results), "--quiet", "--jobs", "2"],
                            env={**env, "PYTHONPATH": str(code)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (trials.exists() and trials.read_text().count("\n") > 1):
            if proc.poll() is not None:
                raise RuntimeError(f"sweep run in {code} ended without a row")
            time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait()


def driver_steps(tmp: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    """The driver's start-up in `sweep run studies/lr_momentum.py --jobs 2`, profiled: each
    step's seconds, and all of them together."""
    prof = tmp / "driver.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "sweeper.cli", "run",
                    str(ROOT / "studies" / "lr_momentum.py"), "--results", str(tmp / "profiled"), "--quiet",
                    "--jobs", "2"], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stats = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    found = {(Path(file).name, name): entry[3] for (file, _, name), entry in stats.items()}
    total = next(v for (file, name), v in found.items() if name == "run_study")
    run_loop = next(v for (file, name), v in found.items() if file == "runner.py" and name == "_sweep")
    steps = [(label, found.get((file, name), 0.0)) for label, file, name in STEPS]
    return [*steps, ("the driver from `run_study` to its sweep loop", total - run_loop)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout, whose time to the first row is measured too")
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR", "data"))
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SWEEPER_DATA_DIR": args.data_dir}
    py = sys.executable
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        study = tmp / "startup.py"
        study.write_text(STUDY)
        (tmp / "pool.py").write_text(SWEEPER_POOL)
        run = [py, "-m", "sweeper.cli", "run", str(study), "--results", str(tmp / "r"), "--quiet", "--restart",
               "--device", "cpu"]
        cases = [
            ("bare interpreter (`python -c pass`)", [py, "-c", "pass"]),
            ("`import torch`", [py, "-c", "import torch"]),
            ("2 loky workers ready, each a fresh interpreter importing torch", [py, "-c", LOKY]),
            ("2 workers ready as sweeper starts them: forked from a forkserver that imported torch once",
             [py, str(tmp / "pool.py")]),
            ("`sweep run`, 2 tiny trials, --jobs 2", [*run, "--jobs", "2"]),
            ("`sweep run`, 2 tiny trials, --executor sequential", [*run, "--executor", "sequential"]),
        ]
        print(f"load average before: {os.getloadavg()[0]:.1f}")
        print(f"| case | seconds (best of {args.repeats}) |\n|---|---:|")
        for label, command in cases:
            print(f"| {label} | {timed(command, args.repeats, env):.2f} |", flush=True)
        checkouts = [("this checkout", ROOT)] + ([("--before", args.before.resolve())] if args.before else [])
        firsts: dict[str, list[float]] = {label: [] for label, _ in checkouts}
        for r in range(args.repeats):  # alternately
            for label, code in checkouts:
                firsts[label].append(first_row(code, tmp / f"first-{r}-{len(firsts[label])}-{label[:4]}", env))
        for label, values in firsts.items():
            print(f"| first row of `sweep run studies/lr_momentum.py` ({label}) | {min(values):.2f} "
                  f"(each: {', '.join(f'{v:.2f}' for v in values)}) |", flush=True)
        print(f"\nThe driver's start-up (`sweep run studies/lr_momentum.py --jobs 2`, cProfile, load "
              f"{os.getloadavg()[0]:.1f}):\n\n| step | seconds |\n|---|---:|")
        for label, seconds in driver_steps(tmp, env):
            print(f"| {label} | {seconds:.2f} |")
        print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
