"""sweeper: hyperparameter sweeps for PyTorch with repeated seeds.

A study file (or a notebook) needs only what is exported here::

    from sweeper import Study, Split, loguniform, uniform, intrange, choice

    study = Study(name="lr_momentum", dataset="mnist", fixed={"hidden_size": 30},
                  space={"learning_rate": [0.01, 0.05, 0.1], "momentum": [0.0, 0.9]}, seeds=5)

The user's own code plugs in as `Study(model=fn)`, `data=...`, `metrics={...}` or
`train=fn`, or a LightningModule as `lightning=MyModule` (see `sweeper.usercode.plugin`). `sweeper.run(study, jobs=2)` runs a study from
Python and returns its results; `sweeper.load("lr_momentum")` reads a study's results as
pandas DataFrames. Importing sweeper does not import torch or pandas.
"""

from __future__ import annotations

from sweeper.execution.signals import quiet_start as _quiet_start

_quiet_start()  # first: a Ctrl-C while `sweep` still imports is its one line, not a traceback

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeper.errors import DataError, ResultsError, RunError, SearchSpaceError, StudyError, SweeperError, TrialsFailed
from sweeper.schedules import compare as _compare
from sweeper.schedules.pruning import Rungs
from sweeper.schedules.racing import Racing
from sweeper.storage import checkpoint as _checkpoint
from sweeper.study.seeds import Crossed
from sweeper.study.space import choice, intrange, loguniform, uniform
from sweeper.study.study import Split, Study
from sweeper.study.studyfile import load_study
from sweeper.usercode import plugin as _plugin
from sweeper.usercode.plugin import Log, Pruned, seed_everything

if TYPE_CHECKING:
    from sweeper.analysis.results import Results

__all__ = [
    "Study", "Split", "Racing", "Rungs", "Crossed", "Pruned", "choice", "uniform", "loguniform", "intrange", "load_study", "load", "run", "Log",
    "seed_everything",
    "SweeperError", "StudyError", "SearchSpaceError", "DataError", "ResultsError", "RunError", "TrialsFailed",
]
__version__ = "0.1.0"  # the distribution's version too (pyproject.toml reads it); installed as seedsweep


def load(path_or_name: str | Path, results: str | Path = "results") -> Results:
    """A study's results as DataFrames: `.trials`, `.curves`, `.summary`, `.comparisons`.

    `path_or_name` is a results folder ("results/lr_momentum"), a study name looked up under
    `results`, or a study file ("studies/lr_momentum.py"). pandas is imported only now.
    """
    from sweeper.analysis.results import load as load_results
    from sweeper.api import study_name

    return load_results(study_name(path_or_name), results)


def run(study: Study, *, jobs: int | None = None, results: str | Path = "results", executor: str = "local",
        data_dir: str | None = None, seeds: int | list[int] | None = None, restart: bool = False,
        vectorize: bool = False, device: str = "auto", progress: bool = True, scheduler: str | None = None,
        stack: bool | None = None) -> Results:
    """Run (or resume) a study from Python, e.g. in a notebook, and return its results as
    `sweeper.load` would. The arguments are those of `sweep run` (`stack=False` is
    `--no-stack`; None: as the study says); a progress line is shown
    in a terminal and in Jupyter. Raises RunError if every trial failed, with the first error."""
    from sweeper.api import run_and_load

    return run_and_load(study, jobs=jobs, results=results, executor=executor, data_dir=data_dir, seeds=seeds,
                        restart=restart, vectorize=vectorize, device=device, progress=progress,
                        scheduler=scheduler, stack=stack)


def _builtin_trainer(study: Study) -> _plugin.Trainer:
    from sweeper.builtin.trainer import BuiltinTrainer

    return BuiltinTrainer(study)


def _lightning_trainer(study: Study) -> _plugin.Trainer:
    from sweeper.integrations.lightning import LightningTrainer

    return LightningTrainer(study)


def _stepdown(values: Any, level: float) -> Any:
    from sweeper.analysis.stepdown import stepdown

    return stepdown(values, level=level, exact=False)  # which are worse, not how undecided the rest are


def _rebuild(results: Any, rank: int, seed: int | None, study: Any, which: str) -> Any:
    from sweeper.weights import model

    return model(results, rank, seed, study, which)


_plugin.register_default(_builtin_trainer)
_plugin.register_trainer("lightning", _lightning_trainer)
_compare.register_test(_stepdown)
_checkpoint.register_rebuild(_rebuild)
