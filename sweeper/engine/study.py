"""The Study: what to train, over which search space, with which seeds (loading a study file: studyfile.py).

A study file is plain Python that defines `study = Study(...)`. Everything is checked when
the Study is built, so a typo or an impossible value is reported with the study file's name
and line before any training starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeper.builtin import hparams
from sweeper.engine.space import Dimension, as_dimension, describe, expand_grid, grid_size
from sweeper.errors import SearchSpaceError, StudyError, closest

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
TASKS = ("classify", "small_digit")
SAMPLERS = ("grid", "random", "bayes")
BAYES_SAMPLERS = ("tpe", "gp")
METRICS = ("val_acc", "val_loss", "best_val_acc", "train_acc", "train_loss", "test_acc", "test_loss")
SHAPES_ROWS = ("dataset", "fallback", "task", "split", "fixed", "space", "sampler", "eval_every", "standardize")
SHAPES_PROPOSALS = ("metric", "direction", "concurrent_configs", "sampler_seed", "bayes_sampler")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # fullmatch: `$` would let a trailing newline through
_ASIDE_NAME = re.compile(r"\.(dry-run|old-.*)\Z")  # what `sweep run` names the folders it writes beside a study's
MAX_SEEDS = 1000  # seeds per configuration; past this a sweep is a mistake rather than a plan
MAX_TRIALS = 10_000  # configurations of a random or Bayesian search, as for a grid


@dataclass(frozen=True)
class Split:
    """Which images a trial trains and validates on.

    The first `train` images of the official training set (after `offset`) are for
    training and the next `val` for validation, as the notes slice them (2000/500 of the
    first 2500, or 1024/1024). `train=None` takes everything left after `val`. With
    `test=True` the official test split is also evaluated (test_loss, test_acc).
    """

    train: int | None = 2000
    val: int = 500
    test: bool = False
    offset: int = 0

    def __post_init__(self) -> None:
        if self.train is not None and (not _is_int(self.train) or self.train < 1):
            raise StudyError(f"field `split.train` = {self.train!r} must be an integer >= 1 or None")
        if not _is_int(self.val) or self.val < 0:
            raise StudyError(f"field `split.val` = {self.val!r} must be an integer >= 0")
        if not _is_int(self.offset) or self.offset < 0:
            raise StudyError(f"field `split.offset` = {self.offset!r} must be an integer >= 0")
        if not isinstance(self.test, bool):
            raise StudyError(f"field `split.test` = {self.test!r} must be True or False")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True, kw_only=True)
class Study:
    """A hyperparameter study. Every field but `name` has a default."""

    name: str  # folder name under results/
    dataset: str = "mnist"  # one of DATASETS
    fallback: str | None = None  # dataset to use, loudly, when `dataset` is not available
    task: str = "classify"  # classify: 10 classes; small_digit: is the label < 3 (the textbook chapter's task)
    split: Split = field(default_factory=Split)
    fixed: Mapping[str, Any] = field(default_factory=dict)  # hyperparameters held constant
    space: Mapping[str, Any] = field(default_factory=dict)  # hyperparameters searched
    sampler: str = "grid"  # grid, random or bayes
    bayes_sampler: str = "tpe"  # Optuna sampler for sampler="bayes": tpe or gp
    n_trials: int | None = None  # configurations to try (random and bayes)
    seeds: int | list[int] = 5  # a count (0..n-1) or an explicit list
    sampler_seed: int = 0  # seeds random/bayes proposals, so re-runs propose the same configs
    metric: str = "val_acc"  # what ranks configurations and what Bayesian search optimises
    direction: str | None = None  # maximize/minimize; inferred from the metric when None
    eval_every: str | int = "epoch"  # "epoch", "iteration" or every k iterations
    standardize: tuple[float, float] | None = None  # (mean, std) applied to pixels, as transforms.Normalize
    concurrent_configs: int = 2  # Bayesian search: configurations proposed before results are told
    vectorize: bool = False  # train a configuration's seeds together (torch.func): same rows, faster for small models
    description: str = ""

    def __post_init__(self) -> None:
        self._check_scalars()
        space: dict[str, Any] = {}
        possible: dict[str, list[Any]] = {}  # the values each searched hyperparameter can take
        for name, value in dict(self.space).items():
            hparams.check_name(name, "field `space`")
            try:
                dim = as_dimension(value)
            except SearchSpaceError as e:
                raise SearchSpaceError(f"field `space`: `{name}`: {e}") from None
            for v in dim.bounds() if not (self.sampler == "grid") else _grid_values(name, dim):
                hparams.check_value(name, v, "field `space`")
                possible.setdefault(name, []).append(v)
            space[name] = dim
        for name, value in dict(self.fixed).items():
            hparams.check_value(name, value, "field `fixed`")
            if name in space:
                raise StudyError(f"field `fixed`: `{name}` is also in `space`; keep it in one of them")
        hparams.check_together(self.fixed, possible)
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "fixed", dict(self.fixed))
        if isinstance(self.split, Mapping):
            object.__setattr__(self, "split", _split_from(self.split))
        if self.direction is None:
            object.__setattr__(self, "direction", "minimize" if self.metric.endswith("loss") else "maximize")
        if self.metric.startswith("test") and not self.split.test:
            raise StudyError(f"field `metric` = {self.metric!r} needs split=Split(..., test=True)")
        if self.sampler == "grid" and grid_size(self.space) > 10_000:
            raise StudyError(f"field `space`: the grid has {grid_size(self.space)} configurations; at most 10000")

    def _check_scalars(self) -> None:
        def bad(field_name: str, rule: str) -> StudyError:
            return StudyError(f"field `{field_name}` = {getattr(self, field_name)!r} is not allowed; it must be {rule}")

        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name) or _ASIDE_NAME.search(self.name):
            raise bad("name", "a non-empty name of letters, digits, '_', '-' or '.', "
                              "not ending in '.dry-run' or '.old-...' (sweep run's own folders)")
        for fname, options in (("dataset", DATASETS), ("task", TASKS), ("sampler", SAMPLERS),
                               ("bayes_sampler", BAYES_SAMPLERS), ("metric", METRICS)):
            if getattr(self, fname) not in options:
                raise bad(fname, f"one of {list(options)}" + closest(str(getattr(self, fname)), options))
        if self.fallback is not None and self.fallback not in DATASETS:
            raise bad("fallback", f"None or one of {list(DATASETS)}")
        if self.direction not in (None, "maximize", "minimize"):
            raise bad("direction", "'maximize' or 'minimize'")
        if not isinstance(self.split, (Split, Mapping)):
            raise bad("split", "a Split(train=..., val=..., test=...)")
        if not isinstance(self.fixed, Mapping):
            raise bad("fixed", "a dict of hyperparameter names to values")
        if not isinstance(self.space, Mapping):
            raise bad("space", "a dict of hyperparameter names to lists or uniform/loguniform/intrange/choice")
        if self.sampler == "grid":
            if self.n_trials is not None:
                raise bad("n_trials", "None for a grid (a grid tries every combination)")
        elif not isinstance(self.n_trials, int) or isinstance(self.n_trials, bool) or not 1 <= self.n_trials <= MAX_TRIALS:
            raise bad("n_trials", f"an integer >= 1 (at most {MAX_TRIALS}): sampler={self.sampler!r} needs a trial count")
        if self.sampler != "grid" and not self.space:
            raise bad("space", f"non-empty: sampler={self.sampler!r} needs something to search")
        if isinstance(self.seeds, int) and not isinstance(self.seeds, bool):
            if not 1 <= self.seeds <= MAX_SEEDS:
                raise bad("seeds", f"a count >= 1 (at most {MAX_SEEDS}) or a non-empty list of distinct integers")
        elif not (isinstance(self.seeds, (list, tuple)) and self.seeds
                  and all(_is_int(s) and s >= 0 for s in self.seeds) and len(set(self.seeds)) == len(self.seeds)
                  and len(self.seeds) <= MAX_SEEDS):
            raise bad("seeds", f"a count >= 1 or a non-empty list of at most {MAX_SEEDS} distinct integers >= 0")
        if not _is_int(self.sampler_seed):
            raise bad("sampler_seed", "an integer")
        every = self.eval_every
        if not (every in ("epoch", "iteration") or (isinstance(every, int) and not isinstance(every, bool) and every >= 1)):
            raise bad("eval_every", "'epoch', 'iteration' or an integer k >= 1 (every k iterations)")
        if self.standardize is not None and not (
                isinstance(self.standardize, (tuple, list)) and len(self.standardize) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in self.standardize)
                and self.standardize[1] > 0):
            raise bad("standardize", "None or finite (mean, std) with std > 0, e.g. (0.1307, 0.3081) for MNIST")
        if not _is_int(self.concurrent_configs) or self.concurrent_configs < 1:
            raise bad("concurrent_configs", "an integer >= 1")
        if not isinstance(self.vectorize, bool):
            raise bad("vectorize", "True or False")

    # -- derived views -------------------------------------------------------------
    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def hparam_names(self) -> list[str]:
        """Hyperparameter columns of trials.csv: every known one, in registry order."""
        return list(hparams.HPARAMS)

    def config(self, searched: Mapping[str, Any]) -> dict[str, Any]:
        """A full configuration: searched values over fixed values over defaults."""
        return hparams.resolve({**self.fixed, **searched})

    def grid(self) -> list[dict[str, Any]]:
        return list(expand_grid(self.space))

    def planned_configs(self) -> int:
        return grid_size(self.space) if self.sampler == "grid" else int(self.n_trials or 0)

    def with_seeds(self, seeds: int | list[int]) -> Study:
        return dataclasses.replace(self, seeds=seeds)

    def vectorized(self) -> Study:
        return dataclasses.replace(self, vectorize=True)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description; what results/<name>/study.json holds."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["split"] = dataclasses.asdict(self.split)
        d["space"] = {k: describe(v) for k, v in self.space.items()}
        d["seeds"] = self.seed_list
        return d

    def fingerprint(self) -> str:
        """What must not change under existing results: everything that shapes a row's numbers
        or (for random/Bayesian search) which configurations are proposed. Seeds and the number
        of trials may grow; fields that change only how trials are run, not their numbers, may
        change freely, and so may fields added to Study later."""
        full, defaults = self.to_dict(), _DEFAULTS
        shaping = SHAPES_ROWS + (SHAPES_PROPOSALS if self.sampler != "grid" else ())
        d = {k: full[k] for k in shaping if k not in defaults or full[k] != defaults[k]}  # a new field at its default changes nothing
        d["fixed"] = hparams.resolve(self.fixed)
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Study) if f.default is not dataclasses.MISSING}


def _grid_values(name: str, dim: Dimension) -> list[Any]:
    try:
        return dim.grid_values()
    except SearchSpaceError as e:
        raise SearchSpaceError(f"field `space`: `{name}`: {e}") from None


def _split_from(d: Mapping[str, Any]) -> Split:
    known = {f.name for f in dataclasses.fields(Split)}
    for k in d:
        if k not in known:
            raise StudyError(f"field `split`: unknown key `{k}`{closest(k, known)}; known: {', '.join(sorted(known))}")
    return Split(**d)


def _checked_init(original: Any) -> Any:
    known = [f.name for f in dataclasses.fields(Study)]

    def __init__(self: Study, *args: Any, **kwargs: Any) -> None:
        if args:
            raise StudyError("Study takes keyword arguments only, e.g. Study(name='my_study', ...)")
        for k in kwargs:
            if k not in known:
                raise StudyError(f"unknown field `{k}`{closest(k, known)}; known fields: {', '.join(known)}")
        if "name" not in kwargs:
            raise StudyError("field `name` is missing; every study needs a name, e.g. Study(name='lr_momentum', ...)")
        original(self, **kwargs)

    return __init__


Study.__init__ = _checked_init(Study.__init__)  # type: ignore[method-assign]


def config_id(config: Mapping[str, Any]) -> str:
    """A configuration's id: the same full configuration always gets the same id."""
    blob = json.dumps(dict(sorted(config.items())), sort_keys=True, default=repr)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]
