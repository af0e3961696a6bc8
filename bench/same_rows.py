"""The same rows however a study is run: stacked groups are fixed by the study, so `--jobs`,
the executor and a resume after `kill -9` change nothing, bit for bit.

    python bench/same_rows.py [studies/lr_momentum.py] --data-dir ../shared/data

Runs the study (stacked, the default) with `--jobs 1`; `--jobs 2`; `--executor dask --jobs 2`
(a local Dask cluster); and `--jobs 2` killed with SIGKILL (the whole process group) once
a quarter of its rows are stored, then run again with the same command to resume. Prints,
for each against `--jobs 1`, how many of trials.csv's values and curves.csv's values differ
(the columns of time and place left out).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = ["seconds", "started", "host", "worker", "device", "resumed_epoch"]
KEY = ["trial", "seed"]
CURVE_KEY = ["trial", "seed", "epoch", "iteration", "split", "metric"]


def command(study: Path, results: Path, data_dir: str, *flags: str) -> list[str]:
    return [sys.executable, "-m", "sweeper.cli", "run", str(study), "--results", str(results), "--quiet",
            "--data-dir", data_dir, "--device", "cpu", *flags]


def killed_then_resumed(cmd: list[str], trials: Path, planned: int) -> int:
    """Run, SIGKILL the whole process group once a quarter of the rows are stored, run again;
    the number of rows there were at the kill."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and _rows(trials) < planned // 4:
        time.sleep(0.01)
    at = _rows(trials)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return at


def _rows(trials: Path) -> int:
    try:
        return max(0, trials.read_text().count("\n") - 1)
    except OSError:
        return 0


def differences(a: Path, b: Path) -> str:
    def read(path: Path, key: list[str]) -> pd.DataFrame:  # as text: the values as written, bit for bit
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        return table.drop(columns=VOLATILE, errors="ignore").sort_values(key).reset_index(drop=True)

    ta, tb = (read(f / "trials.csv", KEY) for f in (a, b))
    ca, cb = (read(f / "curves.csv", CURVE_KEY) for f in (a, b))
    if ta.shape != tb.shape or ca.shape != cb.shape:
        return f"different shapes: trials {ta.shape} / {tb.shape}, curves {ca.shape} / {cb.shape}"
    rows, curves = int((ta != tb).to_numpy().sum()), int((ca != cb).to_numpy().sum())
    return f"{rows} of {ta.size} values in trials.csv, {curves} of {ca.size} in curves.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", nargs="?", type=Path, default=ROOT / "studies" / "lr_momentum.py")
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR", "data"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from sweeper.study.studyfile import load_study

    study = load_study(args.study)
    planned = study.planned_configs() * len(study.seed_list)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        runs = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"],
                "--executor dask --jobs 2": ["--executor", "dask", "--jobs", "2"]}
        for label, flags in runs.items():
            subprocess.run(command(args.study, tmp / label, args.data_dir, *flags), check=True, env=env,
                           stdout=subprocess.DEVNULL)
        label = "--jobs 2, SIGKILL, resumed"
        at = killed_then_resumed(command(args.study, tmp / label, args.data_dir, "--jobs", "2"),
                                 tmp / label / study.name / "trials.csv", planned)
        runs[label] = []
        reference = tmp / "--jobs 1" / study.name
        print(f"{study.name}: {planned} rows, stacked (the default); killed with {at} rows stored\n")
        print("| run | values that differ from `--jobs 1` |\n|---|---|")
        for label in runs:
            print(f"| {label} | {differences(reference, tmp / label / study.name)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
