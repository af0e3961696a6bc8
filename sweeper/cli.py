"""The `sweep` command: parses arguments, calls the library, prints. Nothing else.

Only the standard library is imported at start-up, so `sweep --help` answers at once; torch
and friends are imported by the command that needs them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_FAILED = 1  # every trial failed, or --pdb stopped at an exception
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
SCHEDULER_ENV = "SWEEPER_SCHEDULER"  # the Dask scheduler's address when --scheduler is not given

DESCRIPTION = """\
Hyperparameter sweeps for PyTorch that take random seeds seriously: every configuration
of a study is trained once per seed, in parallel, and every (configuration, seed) is a row
of results/<study>/trials.csv, with learning curves in curves.csv."""

RUN_EPILOG = """\
examples:
  sweep run studies/lr_momentum.py                 grid over learning rate x momentum, 5 seeds
  sweep run studies/bayes.py --jobs 2 --seeds 8    Bayesian search, 8 seeds per configuration
  sweep run studies/lr_momentum.py --dry-run       one batch per trial, into results/<study>.dry-run/
  sweep run studies/bayes.py --executor dask --scheduler tcp://10.0.0.5:8786
                                                   on a Dask cluster (see the manual: docs/guide/dask.md)
  sweep run studies/lr_momentum.py --vectorize     each configuration's seeds trained together
  sweep run studies/lr_momentum.py --no-stack      one model at a time (stacked groups are the default)

Running the same command again trains only what is missing (after a crash or Ctrl-C).
Data root: --data-dir, else $SWEEPER_DATA_DIR, else ./data (torchvision's layout); a Dask worker
reads from its own $SWEEPER_WORKER_DATA_DIR instead when that is set."""


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


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0 such as 3600, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweep", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from sweeper import __version__

    parser.add_argument("--version", action="version", version=f"sweep (seedsweep) {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a study: every configuration x every seed",
                         description="Run a study file: train every configuration of its search space once per seed.",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("study", metavar="STUDY.py", help="a study file that defines `study = Study(...)`")
    run.add_argument("--jobs", "-j", type=_positive_int, default=None,
                     help="worker processes (default: one per GPU with --device cuda, see --gpus-per-trial; "
                          "else all cores)")
    run.add_argument("--seeds", type=_seeds, default=None,
                     help="override the study's seeds: a count (8 = seeds 0..7) or a list (0,1,2)")
    run.add_argument("--data-dir", default=None, help="dataset root (default: $SWEEPER_DATA_DIR or ./data)")
    run.add_argument("--results", default="results", help="results root (default: ./results)")
    from sweeper.execution.executors import EXECUTORS

    run.add_argument("--executor", default="local", choices=list(EXECUTORS),
                     help="; ".join(f"{name}: {cls.summary}" for name, cls in EXECUTORS.items()))
    run.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                     help="with --executor dask: the cluster's scheduler (default: $SWEEPER_SCHEDULER; "
                          "without either, a local Dask cluster of --jobs workers)")
    run.add_argument("--async", dest="asynchronous", action=argparse.BooleanOptionalAction, default=None,
                     help="Bayesian search: ask for a new configuration as each one finishes, instead of in "
                          "batches of concurrent_configs whose proposals do not depend on timing "
                          "(default: on with --executor dask, off otherwise)")
    run.add_argument("--timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                     help="stop proposing configurations after this wall time; running trials finish, and running "
                          "the same command again goes on with the rest (overrides the study's `timeout`)")
    run.add_argument("--dry-run", action="store_true",
                     help="one batch per trial, written to <results>/<study>.dry-run/: a smoke test")
    run.add_argument("--retry-failed", action="store_true", help="run trials recorded as failed again")
    run.add_argument("--restart", action="store_true",
                     help="move existing results of this study aside (to <study>.old-<time>) and start over")
    run.add_argument("--vectorize", action="store_true",
                     help="train all seeds of a configuration at once with torch.func (same rows; "
                          "faster for small models); overrides the study's `vectorize`")
    run.add_argument("--stack", action=argparse.BooleanOptionalAction, default=None,
                     help="train configurations that differ only in the model's shape and the optimiser's settings "
                          "as stacked groups of about 12 models, fixed by the study (the default where the trainer "
                          "can; the same rows whatever --jobs, up to floating-point noise); --no-stack: one model at "
                          "a time, exactly the course's loop. Overrides the study's `stack`; a folder written one at "
                          "a time goes on one at a time")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                     help="where trials train (default auto: the GPUs if torch sees one, else the CPU)")
    run.add_argument("--gpus-per-trial", default=None, metavar="SHARE",
                     help="a trial's share of a GPU: 0.5 runs two workers a GPU (default: the study's "
                          "gpus_per_trial, 1: one worker a GPU)")
    run.add_argument("--plan", action="store_true",
                     help="print which worker trains on which device, and stop without training")
    run.add_argument("--pdb", action="store_true",
                     help="debug the study's own code: run trials in this process (the sequential executor) and "
                          "stop in pdb where an exception is raised, instead of recording a failed row")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    run.add_argument("--mlflow", default=None, metavar="URI",
                     help="log to MLflow while the sweep runs: a parent run for the study, a nested run per "
                          "(configuration, seed) (needs the mlflow extra)")
    run.set_defaults(handler=cmd_run)
    add_report_commands(sub)
    add_live_commands(sub)
    from sweeper.cli_weights import add_weights_commands

    add_weights_commands(sub)
    return parser


REPORT_EPILOG = """\
examples:
  sweep report                          every study under results/
  sweep report lr_momentum              by name (or results/lr_momentum, or studies/lr_momentum.py)
  sweep report lr_momentum --results /tmp/r

Writes results/<study>/report/: summary.csv, comparisons.csv, one PNG per plot and index.html,
which opens in a browser without a network."""


def add_report_commands(sub: Any) -> None:
    report = sub.add_parser("report", help="write a study's report: tables, plots and index.html",
                            description="Summarise each configuration over its seeds, compare it with the best "
                                        "one, draw the plots and write index.html.",
                            epilog=REPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("study", nargs="?", metavar="STUDY",
                        help="study name, results folder or study file (default: every study under --results)")
    report.add_argument("--results", default="results", help="results root (default: ./results)")
    report.set_defaults(handler=cmd_report)

    ls = sub.add_parser("ls", help="list the studies under results/ with their progress",
                        description="List the studies under the results root: trials done of planned, failures.")
    ls.add_argument("--results", default="results", help="results root (default: ./results)")
    ls.set_defaults(handler=cmd_ls)

    show = sub.add_parser("show", help="print a study's best configurations, mean +- 95%% interval and verdict",
                          description="Print the best configurations of a study with the mean over seeds, its "
                                      "95% interval, the difference to the best and the verdict.")
    show.add_argument("study", metavar="STUDY", help="study name, results folder or study file")
    show.add_argument("--results", default="results", help="results root (default: ./results)")
    show.add_argument("--top", type=_positive_int, default=10, help="configurations to show (default: 10)")
    show.add_argument("--wide", action="store_true", help="print every column in full (default: fit 160 columns)")
    show.set_defaults(handler=cmd_show)

    render = sub.add_parser("render", help="fill a Markdown template with tables, intervals and plots from results",
                            description="Fill a Markdown template's {{...}} directives (about, table, mean, diff, "
                                        "verdict, plot) from results, writing each referenced study's report first.")
    render.add_argument("template", metavar="TEMPLATE.md", help="Markdown with {{directive STUDY ...}} placeholders")
    render.add_argument("--out", "-o", required=True, help="the Markdown file to write; figures go beside it")
    render.add_argument("--results", default="results", help="results root (default: ./results)")
    render.set_defaults(handler=cmd_render)


SERVE_EPILOG = """\
examples:
  sweep serve                           every study under results/, at http://127.0.0.1:8765/
  sweep serve lr_momentum --port 9000   open at that study
  sweep serve --host 0.0.0.0            also to other machines: anyone who can reach this one
                                        can read every study under the results folder

The page updates every second while sweeps run (on this machine or a Dask cluster that
writes here), and shows finished studies too. It reads the results folder only."""


def add_live_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="a page on localhost that follows the studies of a results folder live",
                           description="Serve a page that shows progress, ranked configurations and learning "
                                       "curves of the studies under the results folder, updated while they run.",
                           epilog=SERVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("study", nargs="?", metavar="STUDY", help="the study to open first (default: a running one)")
    serve.add_argument("--results", default="results", help="results root (default: ./results)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 exposes every "
                            "study under the results folder to the network, unauthenticated)")
    serve.add_argument("--port", type=_positive_int, default=8765, help="port (default: 8765)")
    serve.set_defaults(handler=cmd_serve)

    export = sub.add_parser("export", help="log a study's results to MLflow or write TensorBoard event files",
                            description="Export a study: to MLflow (a parent run, a nested run per configuration "
                                        "and seed) and/or as TensorBoard event files with HParams. Exporting "
                                        "again adds no duplicates.")
    export.add_argument("study", metavar="STUDY", help="study name, results folder or study file")
    export.add_argument("--results", default="results", help="results root (default: ./results)")
    export.add_argument("--mlflow", metavar="URI", help="an MLflow tracking URI (http://..., sqlite:///..., ./mlruns)")
    export.add_argument("--tensorboard", metavar="DIR", help="a TensorBoard log folder; runs go to DIR/<study>/")
    export.set_defaults(handler=cmd_export)


def cmd_serve(args: argparse.Namespace) -> int:
    from sweeper.errors import SweeperError

    try:
        from sweeper.web.serve import serve
    except ImportError as e:
        raise SweeperError(f"sweep serve needs {e.name}: pip install 'seedsweep[serve]'") from None
    root = Path(args.results)
    name = ""
    if args.study is not None:
        from sweeper.analysis.results import find
        from sweeper.api import study_name

        folder = find(study_name(args.study), args.results)
        root, name = folder.parent, folder.name
    if not root.is_dir():
        raise SweeperError(f"--results {root}: no such folder; run `sweep run STUDY.py` first or pass --results DIR")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {root}/ at http://{shown}:{args.port}/{f'#study={name}' if name else ''} (Ctrl-C to stop)")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"sweep: warning: listening on {args.host}: anyone who can reach this machine can read every study "
              f"under {root}/", file=sys.stderr)
    try:
        serve(root, args.host, args.port)
    except OSError as e:
        raise SweeperError(f"cannot listen on {args.host}:{args.port} ({e.strerror}); pass --port N") from None
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sweeper.analysis.results import find
    from sweeper.api import study_name
    from sweeper.errors import SweeperError

    if not args.mlflow and not args.tensorboard:
        raise SweeperError("sweep export needs --mlflow URI and/or --tensorboard DIR")
    folder = find(study_name(args.study), args.results)
    if args.mlflow:
        from sweeper.integrations.mlflow_sync import sync

        counts = sync(folder, args.mlflow)
        print(f"{folder.name}: MLflow at {args.mlflow}: {counts.runs} runs ({counts.created} new, "
              f"{counts.finished} given their final values now)")
    if args.tensorboard:
        from sweeper.integrations.tensorboard_export import export

        done = export(folder, Path(args.tensorboard))
        print(f"{folder.name}: TensorBoard runs in {done.folder}/ ({done.written} written, {done.skipped} already final)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sweeper.analysis.report import write_report
    from sweeper.analysis.results import find, list_studies, read_folder
    from sweeper.api import study_name
    from sweeper.errors import ResultsError, StorageError

    if args.study is not None:
        folders = [find(study_name(args.study), args.results)]
    else:
        folders = list_studies(Path(args.results))
        if not folders:
            raise ResultsError(f"no studies under {args.results}/; run `sweep run STUDY.py` first or pass --results DIR")
    failed = 0
    for folder in folders:
        try:
            results = read_folder(folder)
            _print_notes(results.notes)
            report = write_report(results)
        except ResultsError as e:
            if args.study is not None:
                raise
            print(f"sweep: skipped: {e}", file=sys.stderr)
            continue
        except OSError as e:  # a read-only or full disk
            raise StorageError(f"cannot write the report of {folder.name} to {e.filename or folder} ({e.strerror}); "
                               "copy the results folder somewhere writable and report from there") from None
        except Exception as e:  # one study that cannot be drawn must not keep the others from their reports
            if args.study is not None:
                raise
            failed += 1
            print(f"sweep: error: could not write the report of {folder.name} ({type(e).__name__}: {e})", file=sys.stderr)
            continue
        print(f"{folder.name}: {report.index} ({len(report.plots)} plots, summary.csv, comparisons.csv)")
    return 1 if failed else 0


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"sweep: warning: {note}", file=sys.stderr)


def cmd_ls(args: argparse.Namespace) -> int:
    from sweeper.analysis.results import list_studies, progress

    rows = [progress(f) for f in list_studies(Path(args.results), include_aside=True)]
    if not rows:
        print(f"no studies under {args.results}/")
        return 0
    table = [["study", "done/planned", "failed", "diverged", "dataset", ""]]
    for p in rows:
        table.append([p.folder.name, f"{p.done}/{p.planned if p.planned is not None else '?'}",
                      str(p.failed), str(p.diverged), p.dataset, p.note])
    print_table(table)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from sweeper.analysis import show
    from sweeper.analysis.results import load
    from sweeper.api import study_name

    r = load(study_name(args.study), args.results)
    _print_notes(r.notes)
    print(show.text(r, args.top, width=None if args.wide else show.WIDTH))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from sweeper.analysis.findings import render
    from sweeper.errors import SweeperError

    template = Path(args.template)
    if not template.is_file():
        raise SweeperError(f"{template}: no such template; pass a Markdown file with {{{{table STUDY}}}}-style directives")
    page = render(template, Path(args.out), Path(args.results))
    print(f"{args.out}: {len(page.studies)} studies, {len(page.figures)} figures")
    return 0


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def run_options(args: argparse.Namespace) -> Any:
    """`sweep run`'s arguments as the runner's options."""
    from sweeper.execution.executors import EXECUTORS
    from sweeper.study.options import RunOptions, default_data_root
    from sweeper.study.studyfile import read_study_source

    remote = args.executor in EXECUTORS and EXECUTORS[args.executor].takes_scheduler
    return RunOptions(
        results_root=Path(args.results), data_root=args.data_dir or default_data_root(), jobs=args.jobs,
        gpus_per_trial=_share(args.gpus_per_trial),
        executor="sequential" if args.pdb else args.executor, asynchronous=args.asynchronous, device=args.device,
        scheduler=args.scheduler or (os.environ.get(SCHEDULER_ENV) if remote else None),
        seeds=args.seeds, timeout=args.timeout, vectorize=args.vectorize, stack=args.stack, dry_run=args.dry_run,
        retry_failed=args.retry_failed, restart=args.restart, debug=args.pdb,
        source=read_study_source(args.study), show_progress=not args.quiet)


def _share(text: str | None) -> float | None:
    """--gpus-per-trial's value, checked here so that a bad one is one line (argparse's are three)."""
    if text is None:
        return None
    from sweeper.execution.devices import check_share

    try:
        value: float | None = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value <= 1:
        check_share(text)  # refuses it, named as given
    return value


PLAN_GPUS_ENV = "SWEEPER_PLAN_GPUS"  # --plan only: plan for these GPUs ("8", or "2,3") instead of this machine's


def print_plan(study: Any, options: Any) -> int:
    """`sweep run --plan`: which worker trains on which device; nothing is trained."""
    from sweeper.execution import devices
    from sweeper.execution.runner import device_plan

    pretend = os.environ.get(PLAN_GPUS_ENV)
    if pretend and options.executor == "local" and options.device != "cpu":
        share = study.gpus_per_trial if options.gpus_per_trial is None else options.gpus_per_trial
        names = [n.strip() for n in pretend.split(",")] if "," in pretend else int(pretend)
        plan = devices.plan_devices(names, options.jobs, share)
    else:
        devices.resolve_device(options.device)  # --device cuda without a GPU: refused as the run would be
        plan = device_plan(study, options)
    print(f"{study.name}: device plan ({options.executor} executor)")
    for line in plan.lines():
        print(f"  {line}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sweeper.api import check_not_all_failed
    from sweeper.execution.runner import run_study
    from sweeper.study.studyfile import load_study

    study = load_study(args.study)
    options = run_options(args)
    if args.plan:
        return print_plan(study, options)
    follower = _follow_in_mlflow(args, study.name)
    try:
        summary = run_study(study, options)
    except BaseException as e:
        if follower is not None:  # what was stored is logged, then the error goes on
            follower.stop(None)
        if not args.pdb or not isinstance(e, Exception):
            raise
        _post_mortem()
        return EXIT_FAILED
    if follower is not None:
        for error in follower.stop(summary.folder)[-1:]:
            print(f"sweep: warning: MLflow at {args.mlflow}: {error}", file=sys.stderr)
    study = options.apply(study)
    minutes, seconds = divmod(int(summary.seconds), 60)
    mode = ", stacked" if summary.stacked else ""
    if summary.unstacked:
        mode += f"{' but' if summary.stacked else ''} one at a time where {'; '.join(summary.unstacked)}"
    if summary.timed_out:
        mode += f"; no configuration proposed after the timeout of {options.timeout or study.timeout:g} s: run again to go on"
    rungs = " (rungs included: a pruned study trains a survivor once per rung)" if study.prune is not None else ""
    print(f"{study.name}: {summary.trained + summary.reused} of {summary.planned} trials done{rungs} "
          f"({summary.trained} trained now, {summary.reused} from earlier runs, "  # failures of both, as the progress line
          f"{summary.failed + summary.earlier_failed} failed, {summary.diverged + summary.earlier_diverged} diverged) in {minutes}:{seconds:02d} on {summary.dataset} {_where(summary.where)} "
          f"on {summary.device}{', vectorized' if study.vectorize else ''}{mode}")
    print(f"results: {summary.folder}/trials.csv and curves.csv")
    if args.dry_run:
        print(f"first configuration: {_first_configuration(study, summary.folder)}")
    if summary.best:
        print(f"best: {summary.best}")
    _keep_comparisons(summary.folder)
    check_not_all_failed(summary)
    return 0


def _keep_comparisons(folder: Path) -> None:
    """Work out the verdicts once, into the results folder's cache (`sweeper.storage.cache`), so
    that `sweep show`, the report and the page read them at once after the run."""
    from sweeper.analysis.results import load
    from sweeper.errors import SweeperError

    try:
        _ = load(folder).comparisons
    except (SweeperError, ValueError, KeyError):  # nothing to compare (every trial failed): the run says so
        pass


def _first_configuration(study: Any, folder: Path) -> str:
    """Every hyperparameter the first row trained with, the trainer's defaults included (but
    not those that have no effect in it, such as momentum under Adam), as trials.csv records it."""
    import pandas as pd

    from sweeper.metrics import config_label

    rows = pd.read_csv(folder / "trials.csv", nrows=1)
    if rows.empty:
        return "none was trained"
    row = {k: v.item() if hasattr(v, "item") else v for k, v in rows.iloc[0].items()}
    full = study.config({name: row[name] for name in study.space if name in row})
    return config_label(study.trainer.effective({k: row.get(k, v) for k, v in full.items()}).items())


def _where(where: str) -> str:
    return where if where.startswith("in ") else f"with {where}"


def _follow_in_mlflow(args: argparse.Namespace, name: str) -> Any:
    """With --mlflow, a thread that syncs this sweep's results folder to MLflow every second."""
    if not args.mlflow:
        return None
    from sweeper.integrations.mlflow_sync import Follower

    root = Path(args.results)

    def candidates() -> list[Path]:  # a study whose dataset falls back writes to <name>.fallback-<dataset>
        return [root / f"{name}.dry-run"] if args.dry_run else [root / name, *sorted(root.glob(f"{name}.fallback-*"))]

    return Follower(candidates, args.mlflow, os.getpid()).start()


def _post_mortem() -> None:
    """The exception of --pdb's trial, and pdb where it was raised."""
    import pdb
    import traceback

    traceback.print_exc()
    pdb.post_mortem(sys.exc_info()[2])


def _keep_freed_memory() -> None:
    """Let glibc keep freed blocks of this process for reuse rather than hand each back to the
    system: working out verdicts allocates and frees arrays of megabytes thousands of times
    from several threads, and each hand-back (munmap) stops every thread; at 20,000
    configurations the kernel's share of `sweep show` varied from 1.6 to 4.9 s, and stays
    near the lower. Only in this process, for the commands that read results, and where libc is glibc."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: blocks under 256 MB come from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: up to 1 GB free at the heap's top is kept
    except (OSError, AttributeError):  # another libc: its defaults
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("show", "report", "serve"):  # the commands that work verdicts out, not training's
        _keep_freed_memory()
    handler: Callable[[Any], int] = args.handler
    from sweeper.errors import SweeperError
    from sweeper.execution import signals

    try:
        for option in ("results", "data_dir"):
            value = getattr(args, option, None)
            if value is not None and not value.strip():  # '' would mean the current folder
                raise SweeperError(f"--{option.replace('_', '-')}: expected a folder, got an empty name")
        with signals.stop_on_signals():  # SIGTERM and SIGHUP stop a sweep as Ctrl-C does
            return handler(args)
    except SweeperError as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return int(getattr(e, "exit_code", EXIT_BAD_INPUT))
    except KeyboardInterrupt:
        print(f"sweep: {_stopped_by()}interrupted", file=sys.stderr)
        return signals.exit_code(EXIT_INTERRUPTED)
    except Exception as e:
        from sweeper.execution.runner import Interrupted

        if isinstance(e, Interrupted):
            print(f"sweep: {_stopped_by()}{e}", file=sys.stderr)
            return signals.exit_code(EXIT_INTERRUPTED)
        raise


def _stopped_by() -> str:
    import signal

    from sweeper.execution.signals import received

    signum = received()
    return f"{signal.Signals(signum).name} received; " if signum and signum != signal.SIGINT else ""


if __name__ == "__main__":
    sys.exit(main())
