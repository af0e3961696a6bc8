"""The `sweep` command: parses arguments, calls the library, prints. Nothing else.

Only the standard library is imported at start-up, so `sweep --help` answers at once; torch
and friends are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Hyperparameter sweeps for PyTorch that take random seeds seriously: every configuration
of a study is trained once per seed, in parallel, and every (configuration, seed) is a row
of results/<study>/trials.csv, with learning curves in curves.csv."""

RUN_EPILOG = """\
examples:
  sweep run studies/lr_momentum.py                 grid over learning rate x momentum, 5 seeds
  sweep run studies/bayes.py --jobs 2 --seeds 8    Bayesian search, 8 seeds per configuration
  sweep run studies/lr_momentum.py --dry-run       one batch per trial, into results/<study>.dry-run/
  sweep run studies/lr_momentum.py --vectorize     each configuration's seeds trained together

Running the same command again trains only what is missing (after a crash or Ctrl-C).
Data root: --data-dir, else $SWEEPER_DATA_DIR, else ./data (torchvision's layout)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _seeds(text: str) -> int | list[int]:
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
            if seeds and len(set(seeds)) == len(seeds) and min(seeds) >= 0:
                return seeds
        elif int(text) >= 1:
            return int(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected a count such as 8 or a list such as 0,1,2, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweep", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a study: every configuration x every seed",
                         description="Run a study file: train every configuration of its search space once per seed.",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("study", metavar="STUDY.py", help="a study file that defines `study = Study(...)`")
    run.add_argument("--jobs", "-j", type=_positive_int, default=None,
                     help="worker processes (default: all cores)")
    run.add_argument("--seeds", type=_seeds, default=None,
                     help="override the study's seeds: a count (8 = seeds 0..7) or a list (0,1,2)")
    run.add_argument("--data-dir", default=None, help="dataset root (default: $SWEEPER_DATA_DIR or ./data)")
    run.add_argument("--results", default="results", help="results root (default: ./results)")
    run.add_argument("--executor", default="local", choices=["local", "sequential"],
                     help="local: joblib worker processes (default); sequential: in this process, for debugging")
    run.add_argument("--dry-run", action="store_true",
                     help="one batch per trial, written to <results>/<study>.dry-run/: a smoke test")
    run.add_argument("--retry-failed", action="store_true", help="run trials recorded as failed again")
    run.add_argument("--restart", action="store_true",
                     help="move existing results of this study aside (to <study>.old-<time>) and start over")
    run.add_argument("--vectorize", action="store_true",
                     help="train all seeds of a configuration at once with torch.func (same rows; "
                          "faster for small models); overrides the study's `vectorize`")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                     help="where trials train (default auto: the GPU if torch sees one, else the CPU)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    run.set_defaults(handler=cmd_run)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from sweeper.executors import default_jobs
    from sweeper.runner import default_data_root, run_study
    from sweeper.study import load_study

    study = load_study(args.study)
    if args.seeds is not None:
        study = study.with_seeds(args.seeds)
    if args.vectorize:
        study = study.vectorized()
    jobs = args.jobs or default_jobs()
    summary = run_study(
        study, results_root=Path(args.results), data_root=args.data_dir or default_data_root(),
        jobs=jobs, executor=args.executor, dry_run=args.dry_run, retry_failed=args.retry_failed,
        restart=args.restart, source=Path(args.study).read_text(), show_progress=not args.quiet,
        device=args.device,
    )
    minutes, seconds = divmod(int(summary.seconds), 60)
    print(f"{study.name}: {summary.trained + summary.reused} of {summary.planned} trials done "
          f"({summary.trained} trained now, {summary.reused} from earlier runs, {summary.failed} failed, "
          f"{summary.diverged} diverged) in {minutes}:{seconds:02d} on {summary.dataset} with {jobs} jobs "
          f"on {summary.device}{', vectorized' if study.vectorize else ''}")
    print(f"results: {summary.folder}/trials.csv and curves.csv")
    if summary.best:
        print(f"best: {summary.best}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[Any], int] = args.handler
    from sweeper.errors import SweeperError

    try:
        return handler(args)
    except SweeperError as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("sweep: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        from sweeper.runner import Interrupted

        if isinstance(e, Interrupted):
            print(f"sweep: {e}", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise


if __name__ == "__main__":
    sys.exit(main())
