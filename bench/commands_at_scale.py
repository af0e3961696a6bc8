"""How long the commands that read a results folder take as it grows: 1k, 10k, 100k rows.

    python bench/commands_at_scale.py                                # 1,000 and 10,000 rows
    python bench/commands_at_scale.py --rows 1000 10000 100000 --against ../sweeper-098a735

Writes a synthetic folder of each size (bench/big_study.py: configurations x 5 seeds, two
epochs of curves) and times, for this checkout and each `--against PATH` (PYTHONPATH=PATH,
side by side in one run), in a fresh process each:

- `sweep show` end to end (the interpreter and imports included), first with no cache in the
  folder ("cold": the step-down runs, and a checkout that keeps a cache writes it), then again
  ("warm": the verdicts read from results/<study>/.cache/);
- `sweeper.load(folder).summary`, then `.comparisons` (the step-down's verdicts) cold, in one
  process; then `.comparisons` of a second `load` (warm);
- the live page's first verdicts (its table with verdicts, `web/page.py`), warm.

A checkout without the cache (098a735) works everything out each time: its cold and warm agree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# timed inside a fresh process of the checkout under test; the page's module moved from
# sweeper.analysis to sweeper.web: the checkout's own is taken (an editable install of another
# checkout would otherwise answer for a module this one lacks)
INSIDE = """
import importlib, sys, time
from pathlib import Path
import sweeper
folder = sys.argv[1]
moved = (Path(sweeper.__file__).parent / "web" / "page.py").is_file()
page = importlib.import_module("sweeper.web.page" if moved else "sweeper.analysis.page")
t = time.perf_counter(); r = sweeper.load(folder); r.summary; summary = time.perf_counter() - t
t = time.perf_counter(); r.comparisons; comparisons = time.perf_counter() - t
t = time.perf_counter(); sweeper.load(folder).comparisons; warm = time.perf_counter() - t
t = time.perf_counter(); page._table(sweeper.load(folder), True); first = time.perf_counter() - t
print(f"{summary:.2f} {comparisons:.2f} {warm:.2f} {first:.2f}")
"""


def measure(checkout: Path, folder: Path) -> tuple[float, ...]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    shows = []
    shutil.rmtree(folder / ".cache", ignore_errors=True)
    for _ in range(2):  # cold, then warm
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sweeper.cli", "show", str(folder)], env=env, check=True,
                       capture_output=True, cwd=folder.parent)
        shows.append(time.perf_counter() - start)
    shutil.rmtree(folder / ".cache", ignore_errors=True)
    done = subprocess.run([sys.executable, "-c", INSIDE, str(folder)], env=env, capture_output=True, text=True,
                          cwd=folder.parent)
    if done.returncode:
        sys.exit(f"timing the commands with {checkout} failed:\n{done.stderr[-2000:]}")
    return (*shows, *map(float, done.stdout.split()[-4:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10_000], help="trials.csv rows (x 5 seeds)")
    parser.add_argument("--against", type=Path, action="append", default=[], help="another checkout (repeatable)")
    args = parser.parse_args()
    from bench.big_study import write

    checkouts = [ROOT, *(p.resolve() for p in args.against)]
    print(f"{'rows':>7} {'checkout':<24} {'show cold':>9} {'show warm':>9} {'summary':>8} {'comparisons cold':>16} "
          f"{'warm':>6} {'page verdicts':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            folder = write(Path(tmp) / f"big{rows}", rows // 5, 5, 2)
            for checkout in checkouts:
                cold, warm, summary, comparisons, again, first = measure(checkout, folder)
                print(f"{rows:>7} {str(checkout)[-24:]:<24} {cold:>9.2f} {warm:>9.2f} {summary:>8.2f} "
                      f"{comparisons:>16.2f} {again:>6.2f} {first:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
