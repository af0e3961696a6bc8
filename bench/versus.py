"""Studies timed end to end with this checkout against another (an earlier commit), in turns.

    python bench/versus.py --before ../old-checkout studies/tutorial_hidden_size.py studies/tutorial_optimizer.py \
        --before-flags=--stack [--rounds 3] [--jobs 2]

Each study runs as `sweep run STUDY --jobs N` in a fresh process, with this checkout's code
and its default flags, and with the other checkout's code and --before-flags (say `--stack`,
what it had to be asked for), alternately, --rounds times; the load average is printed
before each round. Prints each study's rounds, the best of each side and their ratio, and
whether the best configuration and each configuration's verdict are the same on both sides.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(code: Path, study: Path, results: Path, flags: list[str], jobs: int, data_dir: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(code), "SWEEPER_DATA_DIR": data_dir}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweeper.cli", "run", str(study), "--results", str(results), "--quiet",
                    "--restart", "--jobs", str(jobs), "--device", "cpu", *flags], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def verdicts(folder: Path) -> tuple[str, dict[str, str]]:
    from sweeper.analysis.results import read_folder

    r = read_folder(folder)
    return r.summary.sort_values("rank")["label"].iloc[0], dict(zip(r.comparisons["label"], r.comparisons["verdict"],
                                                                    strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("studies", nargs="+", type=Path)
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--before-flags", default="", help="flags of the other checkout's runs, e.g. --stack")
    parser.add_argument("--flags", default="", help="flags of this checkout's runs (default: none)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir", default=os.environ.get("SWEEPER_DATA_DIR", "data"))
    args = parser.parse_args(argv)
    sides = {"this": (ROOT, shlex.split(args.flags)), "before": (args.before.resolve(), shlex.split(args.before_flags))}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as name:
        for r in range(args.rounds):
            print(f"round {r + 1}: load {' / '.join(f'{v:.1f}' for v in os.getloadavg())}", file=sys.stderr, flush=True)
            for study in args.studies:
                order = list(sides) if r % 2 == 0 else list(sides)[::-1]
                for side in order:
                    code, flags = sides[side]
                    wall = run(code, study, Path(name) / side, flags, args.jobs, args.data_dir)
                    times.setdefault((study.stem, side), []).append(wall)
                    print(f"  {study.stem} {side}: {wall:.1f} s", file=sys.stderr, flush=True)
        print(f"{args.jobs} workers; this checkout `{args.flags or '(no flags)'}`, before ({args.before}) "
              f"`{args.before_flags or '(no flags)'}`; load after: {os.getloadavg()[0]:.1f}\n")
        print("| study | this checkout (each round) | before (each round) | faster by (best; each round) "
              "| same best, same verdicts |\n|---|---|---|---:|---|")
        for study in args.studies:
            mine, theirs = times[(study.stem, "this")], times[(study.stem, "before")]
            each = ", ".join(f"{b / a:.2f}x" for a, b in zip(mine, theirs, strict=True))
            (best_a, va), (best_b, vb) = (verdicts(Path(name) / side / study.stem) for side in sides)
            same = sum(va[c] == vb.get(c) for c in va)
            print(f"| {study.stem} | {', '.join(f'{v:.1f}' for v in mine)} | {', '.join(f'{v:.1f}' for v in theirs)} "
                  f"| {min(theirs) / min(mine):.2f}x; {each} | {'yes' if best_a == best_b else 'NO'}, "
                  f"{same} of {len(va)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
