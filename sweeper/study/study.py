"""The Study: what to train, over which search space, with which seeds (loading a study file: studyfile.py).

A study file (or a notebook) is plain Python that builds `Study(...)`. What trains one
configuration is a trainer plug-in (`usercode/plugin.py`): the built-in one, fed a dataset
name or the user's own `data`, a built-in model name or the user's own `model`, and the
user's `metrics`; or the user's own `train` function. Everything is checked when the Study
is built, so a typo or an impossible value is reported with the study file's name and line
before any training starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sweeper.errors import SearchSpaceError, StudyError, closest, is_int
from sweeper.metrics import direction_of
from sweeper.schedules import samplers
from sweeper.schedules.pruning import Rungs
from sweeper.schedules.racing import Racing
from sweeper.study.seeds import Crossed
from sweeper.study.space import Choice, Dimension, as_dimension, describe, expand_grid, grid_size
from sweeper.usercode.objective import DEFAULT_METRIC, DefineByRun, ObjectiveTrainer, sample
from sweeper.usercode.plugin import Trainer, trainer_for
from sweeper.usercode.source import defined_at, describe_callable, line_of

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
TASKS = ("classify", "small_digit", "regress")
BAYES_SAMPLERS = ("tpe", "gp")
CHECKPOINT_SECONDS = 30.0
WEIGHTS = ("best", "all", "none")  # whose weights a study keeps: the best configuration's seeds, every trial's, none
MAX_CONFIGS = 10_000  # a grid or a trial budget beyond this is a typo, not a study
MAX_SEEDS = 1000  # seeds per configuration; past this a sweep is a mistake rather than a plan
FORESEEN = 1_000  # combinations of a random/Bayesian search's choices checked at load time
FORESEEN_DRAWS = 64  # configurations a define-by-run space is sampled for at load time, to check them
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # fullmatch: `$` would let a trailing newline through
_ASIDE_NAME = re.compile(r"\.(dry-run|old-.*|fallback-.*)\Z")  # what `sweep run` names the folders it writes beside a study's
OPTUNA_STARTUP = 10  # Optuna's default n_startup_trials: the least start-up a Bayesian study gets by default


@dataclass(frozen=True)
class Split:
    """Which examples a trial trains and validates on (for the built-in datasets).

    The first `train` images of the official training set (after `offset`) are for
    training and the next `val` for validation, as the notes slice them (2000/500 of the
    first 2500, or 1024/1024). `train=None` takes everything left after `val`. With
    `test=True` the official test split is also evaluated (test_loss, test_acc).
    """

    train: int | None = 2000  # training examples, the first of the official training set; None: all but `val`
    val: int = 500  # validation examples, the ones right after the training examples
    test: bool = False  # also evaluate on the official test split (test_loss, test_acc)
    offset: int = 0  # examples skipped before the training examples

    def __post_init__(self) -> None:
        if self.train is not None and (not is_int(self.train) or self.train < 1):
            raise StudyError(f"field `split.train` = {self.train!r} must be an integer >= 1 or None")
        if not is_int(self.val) or self.val < 0:
            raise StudyError(f"field `split.val` = {self.val!r} must be an integer >= 0")
        if not is_int(self.offset) or self.offset < 0:
            raise StudyError(f"field `split.offset` = {self.offset!r} must be an integer >= 0")
        if not isinstance(self.test, bool):
            raise StudyError(f"field `split.test` = {self.test!r} must be True or False")


def brief(value: Any, limit: int = 80) -> str:
    """A value as an error message quotes it: a tensor by its shape, anything else cut short."""
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return f"<{type(value).__name__} of shape {tuple(shape)}, {value.dtype}>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + " ...>"


@dataclass(frozen=True, kw_only=True)
class Study:
    """A hyperparameter study. Every field but `name` has a default."""

    name: str  # folder name under results/
    dataset: str = "mnist"  # one of DATASETS; unused when `data` is given
    data: Any = None  # the user's own data: (train, val[, test]) of (x, y) tensors or Datasets, or a function returning them
    model: Any = None  # a built-in model name, or the user's own: a function config -> torch.nn.Module
    metrics: Mapping[str, Callable[..., float]] = field(default_factory=dict)  # name -> fn(outputs, targets), on every split
    train: Callable[..., Mapping[str, float]] | None = None  # the user's own loop: train(config, seed, log) -> metrics
    # an Optuna objective(trial) -> float, unchanged: run once per (configuration, seed); its suggest_*
    # calls define the space (usercode/objective.py); the returned number is the column `metric` ("value")
    objective: Callable[[Any], float] | None = None
    lightning: Any = None  # a LightningModule class (or a function config -> module), trained by lightning.Trainer
    datamodule: Any = None  # with `lightning`: its LightningDataModule class (or a function config -> datamodule)
    fallback: str | None = None  # dataset to use, loudly, when `dataset` is not available
    task: str | None = None  # classify, regress or small_digit (is the label < 3); None: classify, or inferred from `data`
    split: Split = field(default_factory=Split)  # which examples of a built-in dataset train and validate (Split)
    fixed: Mapping[str, Any] = field(default_factory=dict)  # hyperparameters held constant
    # hyperparameters searched: a dict of names to lists or uniform/loguniform/intrange/choice, or a
    # define-by-run function space(trial) whose trial.suggest_* calls may depend on each other (conditional)
    space: Any = field(default_factory=dict)
    sampler: Any = "grid"  # grid, random or bayes (samplers.SAMPLERS), or an Optuna sampler instance
    bayes_sampler: str = "tpe"  # Optuna sampler for sampler="bayes": tpe or gp
    n_trials: int | None = None  # configurations to try (random and bayes)
    # Bayesian search: how many configurations are proposed at random before the model guides
    # the search (Optuna's n_startup_trials), each value of each categorical among them. None:
    # max(10, the largest categorical's size), at most n_trials; not part of the study's identity,
    # so raising n_trials goes on where a study stopped (a value written is)
    bayes_startup: int | None = None
    # a count (0..n-1), an explicit list, Racing(start, max): seeds in rounds, or Crossed(init, order):
    # initialisation seeds crossed with data-order seeds (study/seeds.py)
    seeds: int | list[int] | Racing | Crossed = 5
    sampler_seed: int = 0  # seeds random/bayes proposals, so re-runs propose the same configs
    metric: str = "val_acc"  # what ranks configurations and what Bayesian search optimises (any column a trial writes)
    direction: str | None = None  # maximize/minimize; inferred from the metric's name when None (losses, errors: minimize)
    eval_every: str | int = "epoch"  # "epoch", "iteration" or every k iterations
    standardize: tuple[float, float] | None = None  # (mean, std) applied to pixels, as transforms.Normalize
    concurrent_configs: int = 2  # Bayesian search: configurations proposed before results are told
    # seconds: stop proposing configurations after this wall time; those running finish, and a
    # later run goes on with the rest (Optuna's `timeout`; not part of the study's identity)
    timeout: float | None = None
    vectorize: bool = False  # train a configuration's seeds together (torch.func): same rows, faster for small models
    prune: Rungs | None = None  # Rungs(resource="epochs", rungs=(1, 3)): stop configurations early (schedules/pruning.py)
    # train configurations with one stack key (for the built-in trainer: all but the model's shape and the
    # optimiser's settings) as one stacked model; None: stacked where the trainer can (False in a folder
    # written one at a time); same rows up to floating-point noise, faster (schedules/groups.py)
    stack: bool | None = None
    # a trial's share of one GPU where trials train on GPUs: 0.5 runs two workers a GPU (--gpus-per-trial
    # overrides it); how a study runs, not what it computes: no part of its fingerprint
    gpus_per_trial: float = 1.0
    # which trials' weights (at their best epoch) stay in results/<name>/weights/: those of the best
    # configuration's seeds, every trial's, or none; `keep_last` keeps the last epoch's too
    weights: str = "best"
    keep_last: bool = False  # keep the last epoch's weights too, beside the best epoch's
    # epochs between the checkpoints a stopped trial resumes from; None: an epoch's end at least
    # CHECKPOINT_SECONDS after the last (a short trial writes none, a long one loses at most that)
    checkpoint_every: int | None = None
    description: str = ""  # one line on what the study asks, shown at the top of the report's index.html
    _trainer: Trainer = field(init=False, repr=False, compare=False)
    _where: tuple[str, int] | None = field(init=False, repr=False, compare=False, default=None)  # see `where`

    def __post_init__(self) -> None:
        object.__setattr__(self, "_where", defined_at())
        if callable(self.space) and not isinstance(self.space, DefineByRun):
            object.__setattr__(self, "space", DefineByRun(self.space))
        self._check_scalars()
        if isinstance(self.split, Mapping):
            object.__setattr__(self, "split", _split_from(self.split))
        object.__setattr__(self, "metrics", dict(self.metrics))
        self._check_objective()
        object.__setattr__(self, "_trainer", self._make_trainer())
        params = self._trainer.params()
        space: Any = {}
        for name, value in (dict(self.space) if isinstance(self.space, Mapping) else {}).items():
            self._check_name(name, "field `space`")
            try:
                dim = as_dimension(_respelled(self._trainer, name, value))
            except SearchSpaceError as e:
                raise SearchSpaceError(f"field `space`: `{name}`: {e}") from None
            if name in params:
                for v in dim.bounds() if not self.is_grid else _grid_values(name, dim):
                    _check_value(params[name], v, "field `space`")
            space[name] = dim
        fixed = {name: self._trainer.canonical(name, value) for name, value in dict(self.fixed).items()}
        for name, value in fixed.items():
            self._check_name(name, "field `fixed`")
            if name in params:
                _check_value(params[name], value, "field `fixed`")
            if name in space:
                raise StudyError(f"field `fixed`: `{name}` is also in `space`; keep it in one of them")
        object.__setattr__(self, "space", self.space if isinstance(self.space, DefineByRun) else space)
        object.__setattr__(self, "fixed", fixed)
        check_metric(self.metric, self._trainer.metric_names())
        if self.vectorize and not self._trainer.vectorizes:
            raise StudyError("field `vectorize` = True (or --vectorize) needs the built-in trainer; a study's own "
                             "`train` function trains one seed at a time: drop vectorize")
        if self.stack and not self._trainer.stacks:
            raise StudyError("field `stack` = True (or --stack) needs the built-in trainer; a study's own "
                             "`train` function trains one configuration at a time: drop stack")
        if self.direction is None:
            object.__setattr__(self, "direction", direction_of(self.metric))
        if self.is_grid and grid_size(self.space) > MAX_CONFIGS:
            raise StudyError(f"field `space`: the grid has {grid_size(self.space)} configurations; at most {MAX_CONFIGS}")
        self._check_foreseen()
        self._check_prune()

    def _make_trainer(self) -> Trainer:
        if self.objective is None:
            return trainer_for(self)
        prune = self.prune if isinstance(self.prune, Rungs) else None
        full = self.fixed.get(prune.resource) if prune is not None and isinstance(self.fixed, Mapping) else None
        searched = list(self.space) if isinstance(self.space, Mapping) else []
        return ObjectiveTrainer(self.objective, self.metric, prune.resource if prune else None, full, searched)

    def _check_objective(self) -> None:
        """An objective brings its own model, data, loop and space: nothing else may say them."""
        if self.objective is None:
            return
        for other in ("train", "model", "data", "lightning", "datamodule"):
            if getattr(self, other) is not None:
                raise StudyError(f"field `{other}`: a study with an `objective` trains what the objective trains; "
                                 f"drop `{other}` (or drop `objective`)")
        if self.metrics:
            raise StudyError("field `metrics`: an objective returns its metric; record others with "
                             "trial.set_user_attr(name, value), and drop `metrics`")
        if self.direction is None:
            raise StudyError("field `direction` is missing: the number an objective returns has no direction sweeper "
                             "can infer; pass direction='maximize' or 'minimize', as to optuna.create_study")
        if isinstance(self.space, DefineByRun):
            raise StudyError("field `space`: the objective's own trial.suggest_* calls are its space; drop the "
                             "space function")
        if self.space and not self.is_grid:
            raise StudyError(f"field `space`: with sampler={samplers.describe(self.sampler)!r} the objective's own "
                             "trial.suggest_* calls are its space; drop `space`, or use sampler='grid' with lists "
                             "of values for its suggest_* calls to return")

    @property
    def define_by_run(self) -> Callable[[Any], Any] | None:
        """The function whose trial.suggest_* calls define the space, run by the sampler to
        propose each configuration: a space function, or the objective (random and Bayesian search)."""
        if isinstance(self.space, DefineByRun):
            return self.space.fn
        return self.objective if self.objective is not None and not self.is_grid else None

    def _check_prune(self) -> None:
        if self.prune is None:
            return
        if not isinstance(self.prune, Rungs):
            raise StudyError(f"field `prune` = {brief(self.prune)} must be None or Rungs(resource='epochs', rungs=(1, 3))")
        if self.learns and self.racing is not None:
            raise StudyError("field `prune` with seeds=Racing(...) and a sampler that learns (Bayesian search): the "
                             "race after the rungs would be decided again as new proposals arrive; use "
                             "sampler='random', or drop Racing or prune")
        self.prune.check(self.config({}).get(self.prune.resource), self.prune.resource in self.space, self._trainer)
        first = self.racing.start if self.racing is not None else len(self.seed_list)
        if first < 3:
            raise StudyError(f"field `prune`: a rung decides by a paired test, which needs 3 seeds; the study gives "
                             f"{first}: use seeds=3 or more")

    def _check_name(self, name: str, where: str) -> None:
        params = self._trainer.params()
        if name in params:
            return
        at = f"{self.where(name)}: " if self._where else ""
        known_as = self._trainer.renamed(name)
        if known_as is not None:  # never accepted as that name: one name per column, and no value hides behind another
            who = "the built-in trainer" if self._trainer.name == "builtin" else f"the {self._trainer.name} trainer"
            raise StudyError(f"{at}{where}: unknown hyperparameter `{name}`: {who} calls it `{known_as}`; "
                             f"rename it to `{known_as}` in {where.removeprefix('field ')}")
        if self._trainer.takes_any_name:
            return
        raise StudyError(f"{at}{where}: unknown hyperparameter `{name}`{closest(name, params)}; known: {', '.join(params)}"
                         "; a study's own names reach only its own `model` or `train`")

    def foreseen(self) -> list[dict[str, Any]]:
        """The searched values that can be known before any runs: every configuration of a
        grid; for a search, the combinations of its choices and its ranges' ends (the first
        FORESEEN)."""
        if self.is_grid:
            return self.grid()
        if isinstance(self.space, DefineByRun):
            return self.sampled(FORESEEN_DRAWS)
        if self.objective is not None:
            return [{}]  # the objective's space is known only by running it, in the sampler
        ends = {n: d.bounds() for n, d in self.space.items()}  # every choice, both ends of a range
        combos = itertools.islice(itertools.product(*ends.values()), FORESEEN)
        return [dict(zip(ends, c)) for c in combos]

    def sampled(self, n: int) -> list[dict[str, Any]]:
        """`n` configurations of a define-by-run space, drawn at random (the same ones every time),
        each checked against the trainer's names and rules where its parameters are active."""
        import optuna

        fn = self.define_by_run
        assert fn is not None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=self.sampler_seed))
        out, params = [], self._trainer.params()
        for _ in range(n):
            searched = sample(fn, draws.ask(), self.fixed)
            for name, value in searched.items():
                self._check_name(name, "field `space` (the space function)")
                if name in params:
                    _check_value(params[name], value, "field `space` (the space function)")
            out.append(searched)
        if not any(out):
            raise StudyError("field `space`: the space function suggested nothing; call trial.suggest_float(...), "
                             "trial.suggest_int(...) or trial.suggest_categorical(...) in it")
        return out

    def foreseen_configs(self) -> list[dict[str, Any]]:
        """The full configurations of `foreseen`: what the trainer checks before a run."""
        return [self.config(searched) for searched in self.foreseen()]

    def _check_foreseen(self) -> None:
        """Refuse configurations the trainer cannot train: every one of a grid, and every
        combination of a search's choices with its fixed values."""
        for searched in self.foreseen():
            try:
                self._trainer.check_config(self.config(searched))
            except StudyError as e:
                where = f" with {searched}" if searched else ""
                raise StudyError(f"field `space`/`fixed`{where}: {e}") from None

    def _check_scalars(self) -> None:
        def bad(field_name: str, rule: str) -> StudyError:
            return StudyError(f"field `{field_name}` = {brief(getattr(self, field_name))} is not allowed; it must be {rule}")

        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name) or _ASIDE_NAME.search(self.name):
            raise bad("name", "a non-empty name of letters, digits, '_', '-' or '.', "
                              "not ending in '.dry-run', '.old-...' or '.fallback-...' (sweep run's own folders)")
        if not isinstance(self.sampler, str) and not samplers.is_optuna_sampler(self.sampler):
            raise bad("sampler", f"one of {list(samplers.SAMPLERS)} or an Optuna sampler instance, such as "
                                 "optuna.samplers.QMCSampler(seed=0)")
        for fname, options in (("dataset", DATASETS), ("sampler", samplers.SAMPLERS), ("bayes_sampler", BAYES_SAMPLERS)):
            if fname == "sampler" and not isinstance(self.sampler, str):
                continue
            if getattr(self, fname) not in options:
                raise bad(fname, f"one of {list(options)}" + closest(str(getattr(self, fname)), options))
        if self.task is not None and self.task not in TASKS:
            raise bad("task", f"None or one of {list(TASKS)}" + closest(str(self.task), TASKS))
        if not isinstance(self.metric, str) or not self.metric:
            raise bad("metric", "the name of a column a trial writes, such as 'val_acc', 'val_loss' or 'val_f1'")
        if self.datamodule is not None and self.lightning is None:
            raise bad("datamodule", "given with `lightning` = the LightningModule that trains on it")
        if self.fallback is not None and self.fallback not in DATASETS:
            raise bad("fallback", f"None or one of {list(DATASETS)}")
        if self.direction not in (None, "maximize", "minimize"):
            raise bad("direction", "'maximize' or 'minimize'")
        if isinstance(self.gpus_per_trial, bool) or not isinstance(self.gpus_per_trial, (int, float)) \
                or not 0 < self.gpus_per_trial <= 1:
            raise bad("gpus_per_trial", "more than 0 and at most 1 (0.5: two trials share a GPU)")
        if not isinstance(self.split, (Split, Mapping)):
            raise bad("split", "a Split(train=..., val=..., test=...)")
        for fname, rule in (("fixed", "a dict of hyperparameter names to values"),
                            ("space", "a dict of hyperparameter names to lists or uniform/loguniform/intrange/choice"),
                            ("metrics", "a dict of metric names to functions fn(outputs, targets) -> float")):
            if not isinstance(getattr(self, fname), Mapping) and not isinstance(getattr(self, fname), DefineByRun):
                raise bad(fname, rule)
        if self.is_grid:
            if self.n_trials is not None:
                raise bad("n_trials", "None for a grid (a grid tries every combination)")
        elif not (isinstance(self.n_trials, int) and not isinstance(self.n_trials, bool)
                  and 1 <= self.n_trials <= MAX_CONFIGS):
            raise bad("n_trials", f"an integer >= 1 (at most {MAX_CONFIGS}): sampler={samplers.describe(self.sampler)!r} needs a trial count")
        if isinstance(self.space, DefineByRun) and self.is_grid:
            raise bad("space", "a dict of lists for sampler='grid' (a grid cannot enumerate a define-by-run space); "
                               "or use sampler='random' or 'bayes' with the space function")
        if not self.is_grid and not self.space and self.define_by_run is None:
            raise bad("space", f"non-empty: sampler={samplers.describe(self.sampler)!r} needs something to search")
        if isinstance(self.seeds, (Racing, Crossed)):
            pass  # checked when it was made
        elif isinstance(self.seeds, int) and not isinstance(self.seeds, bool):
            if not 1 <= self.seeds <= MAX_SEEDS:
                raise bad("seeds", f"a count >= 1 (at most {MAX_SEEDS}) or a non-empty list of distinct integers")
        elif not (isinstance(self.seeds, (list, tuple)) and self.seeds
                  and all(is_int(s) and s >= 0 for s in self.seeds) and len(set(self.seeds)) == len(self.seeds)
                  and len(self.seeds) <= MAX_SEEDS):
            raise bad("seeds", f"a count >= 1, a non-empty list of at most {MAX_SEEDS} distinct integers >= 0, "
                               "Racing(start=3, max=20) or Crossed(init=5, order=5)")
        if not is_int(self.sampler_seed):
            raise bad("sampler_seed", "an integer")
        if self.bayes_startup is not None and (not is_int(self.bayes_startup) or self.bayes_startup < 0):
            raise bad("bayes_startup", "None (max(10, the largest categorical's size)) or an integer >= 0")
        every = self.eval_every
        if not (every in ("epoch", "iteration") or (isinstance(every, int) and not isinstance(every, bool) and every >= 1)):
            raise bad("eval_every", "'epoch', 'iteration' or an integer k >= 1 (every k iterations)")
        if self.standardize is not None and not (
                isinstance(self.standardize, (tuple, list)) and len(self.standardize) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in self.standardize)
                and self.standardize[1] > 0):
            raise bad("standardize", "None or finite (mean, std) with std > 0, e.g. (0.1307, 0.3081) for MNIST")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and not isinstance(self.timeout, bool)
                                             and math.isfinite(self.timeout) and self.timeout > 0):
            raise bad("timeout", "None or a number of seconds > 0, e.g. timeout=3600")
        if not is_int(self.concurrent_configs) or self.concurrent_configs < 1:
            raise bad("concurrent_configs", "an integer >= 1")
        if not isinstance(self.vectorize, bool):
            raise bad("vectorize", "True or False")
        if self.stack is not None and not isinstance(self.stack, bool):
            raise bad("stack", "True, False or None (stacked where the trainer can)")
        if self.weights not in WEIGHTS:
            raise bad("weights", f"one of {list(WEIGHTS)}: whose weights to keep" + closest(str(self.weights), WEIGHTS))
        if not isinstance(self.keep_last, bool):
            raise bad("keep_last", "True or False")
        if self.checkpoint_every is not None and (not is_int(self.checkpoint_every) or self.checkpoint_every < 1):
            raise bad("checkpoint_every", "None or an integer >= 1 (epochs between checkpoints)")

    # -- derived views -------------------------------------------------------------
    @property
    def trainer(self) -> Trainer:
        """The plug-in that trains this study's configurations."""
        return self._trainer

    @property
    def seed_list(self) -> list[int]:
        """The common seeds, in the order they are given (a race gives the first ones first)."""
        if isinstance(self.seeds, Racing):
            return list(range(self.seeds.max))
        if isinstance(self.seeds, Crossed):
            return self.seeds.seed_list()
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def crossed(self) -> Crossed | None:
        """Initialisation seeds crossed with data-order seeds, if the study asks for them."""
        return self.seeds if isinstance(self.seeds, Crossed) else None

    @property
    def full_budget(self) -> int:
        """With `prune`: the study's value of the pruned resource, the last rung."""
        assert self.prune is not None
        return int(self.config({})[self.prune.resource])

    @property
    def is_grid(self) -> bool:
        """Whether the sampler tries every combination of the space's lists (a grid)."""
        return samplers.kind(self.sampler).exhaustive

    @property
    def learns(self) -> bool:
        """Whether the sampler learns from the values told (Bayesian search): asked in batches."""
        return samplers.kind(self.sampler).learns

    @property
    def racing(self) -> Racing | None:
        return self.seeds if isinstance(self.seeds, Racing) else None

    def config(self, searched: Mapping[str, Any]) -> dict[str, Any]:
        """A full configuration: searched values over fixed values over the trainer's defaults."""
        from sweeper.usercode.identity import SCHEME, Identity

        return Identity(SCHEME, self._trainer.defaults()).resolve({**self.fixed, **searched})

    def grid(self) -> list[dict[str, Any]]:
        """The grid's configurations in order, each effective configuration once: values
        that have no effect (momentum under Adam) do not make a second one."""
        seen, out = set(), []
        for searched in expand_grid(self.space):
            key = repr(sorted(self._trainer.effective(self.config(searched)).items()))
            if key not in seen:
                seen.add(key)
                out.append(searched)
        return out

    @property
    def startup_trials(self) -> int:
        """Random proposals before Bayesian search is model-guided (see `bayes_startup`)."""
        if self.bayes_startup is not None:
            return self.bayes_startup
        largest = max((len(d.values) for d in self.space.values() if isinstance(d, Choice)), default=0)
        return min(max(OPTUNA_STARTUP, largest), int(self.n_trials or 0))

    def planned_configs(self) -> int:
        return len(self.grid()) if self.is_grid else int(self.n_trials or 0)

    def with_seeds(self, seeds: int | list[int]) -> Study:
        return self._replaced(seeds=seeds)

    def vectorized(self) -> Study:
        return self._replaced(vectorize=True)

    def stacked(self, stack: bool | None = True) -> Study:
        return self._replaced(stack=stack)

    def _replaced(self, **changes: Any) -> Study:
        new = dataclasses.replace(self, **changes)
        object.__setattr__(new, "_where", self._where)  # made here, but defined where this one was
        return new

    def where(self, name: str | None = None) -> str:
        """'studies/x.py:12': the line of the user's file that made this study (that of `name`'s
        key in it, where the call spells the name out); '' where there is no file (a notebook)."""
        if self._where is None:
            return ""
        file, line = self._where
        return f"{file}:{line_of(file, line, name) if name else line}"

    @classmethod
    def field_defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in dataclasses.fields(cls) if f.init and f.default is not dataclasses.MISSING}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description; what results/<name>/study.json holds. The user's code and
        data are named and described (`code`: what identifies the code, see `usercode/identity.py`),
        not stored; with the study's own data or loop, the built-in dataset's fields are left out."""
        from sweeper.usercode.identity import record

        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        d["split"] = dataclasses.asdict(self.split)
        d["sampler"] = samplers.describe(self.sampler)
        d["space"] = {k: describe(v) for k, v in self.space.items()}  # a define-by-run space: names known from rows
        if isinstance(self.space, DefineByRun):
            d["space_function"] = describe_callable(self.space.fn)
        d["seeds"] = self.seed_list
        if self.racing is not None:
            d["racing"] = dataclasses.asdict(self.racing)
        if self.crossed is not None:
            d["crossed"] = dataclasses.asdict(self.crossed)
        if self.prune is not None:
            d["prune"] = {**dataclasses.asdict(self.prune), "full": self.full_budget,
                          "continues": self.prune.continuing(self._trainer)}
        d["metrics"] = list(self.metrics)
        d["trainer"] = self._trainer.name
        d.update(self._trainer.describe())
        for key in ("data", "train", "model", "objective"):
            if d[key] is not None and not isinstance(d[key], (str, dict)):
                d[key] = brief(d[key])
        if self.data is not None or self.train is not None or self.objective is not None or self.lightning is not None:
            del d["dataset"], d["split"]
        roots = {**self._trainer.user_code(), **({"space": self.space.fn} if isinstance(self.space, DefineByRun) else {})}
        code = record(roots, self._trainer.structure())
        if code:
            d["code"] = code
        return d

    def fingerprint(self) -> str:
        """The fingerprint of a new results folder for this study (see `usercode/identity.py`)."""
        from sweeper.usercode.identity import identity_of

        return identity_of(None, self._trainer).fingerprint(self, self._trainer)


def check_metric(metric: str, known: list[str] | None) -> None:
    """The study's metric must be a column its trials write, where that is known."""
    if known is not None and metric not in known:
        hint = ("; the test split is evaluated only with split=Split(..., test=True) or data with a test split"
                if metric.startswith("test_") else "")
        raise StudyError(f"field `metric` = {metric!r} is not a column this study's trials write"
                         f"{closest(metric, known)}; choose one of {known}{hint}")


def _respelled(trainer: Trainer, name: str, value: Any) -> Any:
    """A space's values as the trainer spells them (`Trainer.canonical`)."""
    if isinstance(value, Choice):
        return Choice(tuple(trainer.canonical(name, v) for v in value.values))
    if isinstance(value, (list, tuple)):
        return [trainer.canonical(name, v) for v in value]
    return value


def _check_value(param: Any, value: Any, where: str) -> None:
    if not param.check(value):
        raise StudyError(f"{where}: `{param.name}` = {brief(value)} is not allowed; it must be {param.rule}")


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
    known = [f.name for f in dataclasses.fields(Study) if f.init]

    def __init__(self: Study, *args: Any, **kwargs: Any) -> None:
        if args:
            raise StudyError("Study takes keyword arguments only, e.g. Study(name='my_study', ...)")
        for k in kwargs:
            if k not in known:
                raise StudyError(f"unknown field `{k}`{closest(k, known)}; known fields: {', '.join(known)}")
        if kwargs.get("objective") is not None and "metric" not in kwargs:
            kwargs["metric"] = DEFAULT_METRIC  # the returned number's column
        if "name" not in kwargs:
            raise StudyError("field `name` is missing; every study needs a name, e.g. Study(name='lr_momentum', ...)")
        original(self, **kwargs)

    return __init__


Study.__init__ = _checked_init(Study.__init__)  # type: ignore[method-assign]


