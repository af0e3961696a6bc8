"""sweeper: hyperparameter sweeps for PyTorch with repeated seeds.

A study file needs only what is exported here::

    from sweeper import Study, Split, loguniform, uniform, intrange, choice

    study = Study(name="lr_momentum", dataset="mnist", fixed={"hidden_size": 30},
                  space={"learning_rate": [0.01, 0.05, 0.1], "momentum": [0.0, 0.9]}, seeds=5)

Importing sweeper does not import torch.
"""

from sweeper.errors import DataError, ResultsError, RunError, SearchSpaceError, StudyError, SweeperError
from sweeper.space import choice, intrange, loguniform, uniform
from sweeper.study import Split, Study, load_study

__all__ = [
    "Study", "Split", "choice", "uniform", "loguniform", "intrange", "load_study",
    "SweeperError", "StudyError", "SearchSpaceError", "DataError", "ResultsError", "RunError",
]
__version__ = "0.1.0"
