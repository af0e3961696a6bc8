"""`sweeper.run`: a study run from Python, the way `sweep run` runs a study file."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sweeper.errors import RunError, TrialsFailed
from sweeper.study.study import Study

if TYPE_CHECKING:
    from sweeper.analysis.results import Results
    from sweeper.execution.runner import RunSummary


def run_and_load(study: Study, *, jobs: int | None, results: str | Path, executor: str, data_dir: str | None,
                 seeds: int | list[int] | None, restart: bool, vectorize: bool, device: str, progress: bool,
                 scheduler: str | None, stack: bool | None = None) -> Results:
    from sweeper.analysis.results import read_folder
    from sweeper.execution.runner import run_study
    from sweeper.study.options import RunOptions, default_data_root

    if not isinstance(study, Study):
        raise RunError(f"sweeper.run needs a Study, but got {type(study).__name__}")
    options = RunOptions(results_root=Path(results), data_root=data_dir or default_data_root(),
                         jobs=jobs, executor=executor, scheduler=scheduler, seeds=seeds,
                         vectorize=vectorize, stack=stack, restart=restart, device=device, source=_source(),
                         show_progress=progress, stream=sys.stderr)
    summary = run_study(study, options)
    check_not_all_failed(summary)
    return read_folder(summary.folder)


def check_not_all_failed(summary: RunSummary) -> None:
    """A run in which every trial trained now failed is an error, with the first failure."""
    if summary.trained and summary.failed == summary.trained:
        raise TrialsFailed(f"every trial of this run failed ({summary.failed}); the first: {summary.first_error}; "
                       f"the rows are in {summary.folder}/trials.csv")


def _source() -> str | None:
    """The calling script's source (the caller of `sweeper.run`), kept beside the results as
    study.py; None in a notebook, whose cells are no file."""
    caller = Path(inspect.stack()[3].filename)
    try:
        return caller.read_text() if caller.suffix == ".py" and caller.is_file() else None
    except OSError:
        return None


def study_name(path_or_name: str | Path) -> str | Path:
    """A study file ("studies/lr_momentum.py") as its study's name; anything else as it is."""
    if Path(path_or_name).suffix == ".py":
        from sweeper.study.studyfile import load_study

        return load_study(path_or_name).name
    return path_or_name
