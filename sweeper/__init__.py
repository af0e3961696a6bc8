"""sweeper: hyperparameter sweeps for PyTorch with repeated seeds.

A study file needs only what is exported here::

    from sweeper import Study, Split, loguniform, uniform, intrange, choice

    study = Study(name="lr_momentum", dataset="mnist", fixed={"hidden_size": 30},
                  space={"learning_rate": [0.01, 0.05, 0.1], "momentum": [0.0, 0.9]}, seeds=5)

Importing sweeper does not import torch or pandas. `sweeper.load("lr_momentum")` reads a
study's results as pandas DataFrames.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sweeper.engine.space import choice, intrange, loguniform, uniform
from sweeper.engine.study import Split, Study
from sweeper.engine.studyfile import load_study
from sweeper.errors import DataError, ResultsError, RunError, SearchSpaceError, StudyError, SweeperError

if TYPE_CHECKING:
    from sweeper.analysis.results import Results

__all__ = [
    "Study", "Split", "choice", "uniform", "loguniform", "intrange", "load_study", "load",
    "SweeperError", "StudyError", "SearchSpaceError", "DataError", "ResultsError", "RunError",
]
__version__ = "0.1.0"


def load(path_or_name: str | Path, results: str | Path = "results") -> Results:
    """A study's results as DataFrames: `.trials`, `.curves`, `.summary`, `.comparisons`.

    `path_or_name` is a results folder ("results/lr_momentum"), a study name looked up under
    `results`, or a study file ("studies/lr_momentum.py"). pandas is imported only now.
    """
    from sweeper.analysis.results import load as load_results

    return load_results(path_or_name, results)
