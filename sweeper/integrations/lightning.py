"""A user's LightningModule as it is: `Study(lightning=MyModule, datamodule=MyData, ...)`.

Each (configuration, seed) builds the module and the datamodule from the configuration
(each constructor gets the configuration's names its signature takes, as
`save_hyperparameters` records them; a function config -> object gets the whole
configuration), calls `lightning.seed_everything(seed)` first, and trains with a
`lightning.Trainer` set up for one worker: one device (from `--device`), no progress bar,
no logger, no checkpoint files, no model summary, no sanity check. The configuration's
names that are `lightning.Trainer.__init__` parameters (`max_epochs`, `precision`,
`gradient_clip_val`, ...) go to the Trainer; a name may go to several of the three.

What the module logs with `self.log` is read at every training epoch's end
(`trainer.callback_metrics`): each name becomes a curve row (`val_acc`: split `val`, metric
`acc`), the last values the trial's row, with `best_<metric>` and `best_epoch` of the study's
metric. Resume checkpoints are Lightning's own checkpoint dict (`trainer.save_checkpoint`,
caught in memory by a CheckpointIO plug-in) with the RNGs' states, written as sweeper's
safetensors checkpoints (`storage/checkpoint.py`): tensors and JSON, never a pickle. A
resumed trial hands that dict back to `trainer.fit(ckpt_path=...)` through the same plug-in
and puts the RNGs back when the fit starts, so it goes on as the uninterrupted run would; a
pruning rung's survivor goes on from its rung's checkpoint the same way (`max_epochs`).

Nothing here imports lightning at import time, so `sweep --help` and studies without it never
do; the callback and the checkpoint plug-in (`lightning_bridge.py`) are imported by a worker's `fit`.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sweeper.errors import StudyError, SweeperError, closest
from sweeper.metrics import direction_of
from sweeper.usercode.plugin import (
    Config,
    FitOptions,
    Log,
    Outcome,
    Trainer,
    code_hash,
    describe_callable,
    source_file,
)

# Trainer arguments sweeper sets for a worker; a study that sets them is refused
SET_BY_SWEEPER = ("accelerator", "devices", "strategy", "num_nodes", "logger", "callbacks", "plugins",
                  "enable_progress_bar", "enable_checkpointing", "enable_model_summary", "default_root_dir")
DATA_DIR = "data_dir"  # a datamodule argument that gets the sweep's data folder when the study gives none


class LightningTrainer(Trainer):
    """Trains `Study(lightning=..., datamodule=...)` with a `lightning.Trainer`, one seed at a time."""

    name = "lightning"
    takes_any_name = True  # checked against the constructors' and the Trainer's signatures instead
    continues = ("max_epochs",)  # an epoch's end is a checkpoint: a longer run goes on from it
    preload = ("lightning.pytorch", "safetensors.torch")
    unstacks = "a LightningModule trains with Lightning's own loop (the stacked default does not apply)"

    def __init__(self, study: Any) -> None:
        given = [f for f in ("model", "data", "train") if getattr(study, f) is not None] + \
            (["metrics"] if study.metrics else [])
        if given:
            raise StudyError(f"field `{given[0]}` cannot be used with `lightning`: the LightningModule is the model "
                             f"and trains with its own steps and metrics; drop `{given[0]}`")
        self.module, self.datamodule = study.lightning, study.datamodule
        _check_user_class(self.module, "lightning", "LightningModule")
        if self.datamodule is not None:
            _check_user_class(self.datamodule, "datamodule", "LightningDataModule")
        self.metric = study.metric.removeprefix("best_")  # what the module logs; best_<it> is its best epoch's
        self.maximize = (study.direction or direction_of(study.metric)) == "maximize"
        self.source_file = source_file(self.module)

    # -- what a study may say --------------------------------------------------------
    def check_config(self, config: Mapping[str, Any]) -> None:
        trainer_args = _trainer_params()
        for name in config:
            if name in SET_BY_SWEEPER:
                raise StudyError(f"`{name}` is a lightning.Trainer argument that sweeper sets for each worker "
                                 "(one device from --device, no logger, progress bar or checkpoint files); drop it")
            if name in trainer_args or _takes(self.module, name) or _takes(self.datamodule, name):
                continue
            known = sorted(set(_named(self.module)) | set(_named(self.datamodule)) | trainer_args)
            owners = " nor of ".join(_signature(c) for c in (self.module, self.datamodule) if c is not None)
            raise StudyError(f"`{name}` is neither a parameter of {owners} nor of lightning.Trainer"
                             f"{closest(name, known)}; add it to a constructor or drop it")

    def code(self) -> dict[str, str]:
        return {role: code_hash(obj) for role, obj in self.user_code().items()}

    def user_code(self) -> dict[str, Any]:
        return {k: v for k, v in (("lightning", self.module), ("datamodule", self.datamodule)) if v is not None}

    def describe(self) -> dict[str, Any]:
        return {role: describe_callable(obj) for role, obj in self.user_code().items()}

    def prepare(self, data_root: str, log: Callable[[str], None], configs: Sequence[Mapping[str, Any]]) -> str:
        """Builds the first configuration's module and datamodule and sets the datamodule up
        for fitting: what cannot be built, or data that is missing, fails here, before anything runs."""
        if not configs:
            return "own"
        self.architecture(configs[0])
        data = self._datamodule(configs[0], data_root)
        if data is not None:  # its data is found (or not) now: a missing file is one line, not a failed row each
            try:
                data.prepare_data()
                data.setup("fit")
            except SweeperError:
                raise
            except Exception as e:  # the user's code: anything may come out
                raise StudyError(f"field `datamodule`: {describe_callable(self.datamodule)}: prepare_data() and "
                                 f"setup('fit') raised {type(e).__name__}: {e}") from None
        return "own"

    def architecture(self, config: Mapping[str, Any], io: Mapping[str, Any] | None = None) -> Any:
        """The configuration's module, untrained: an instance of the user's class."""
        import lightning.pytorch as pl

        module = _build(self.module, config)
        if not isinstance(module, pl.LightningModule):
            raise StudyError(f"field `lightning`: {describe_callable(self.module)} returned a "
                             f"{type(module).__name__}, not a lightning.LightningModule")
        return module

    def _datamodule(self, config: Mapping[str, Any], data_root: str) -> Any:
        if self.datamodule is None:
            return None
        extra = {DATA_DIR: data_root} if DATA_DIR not in config and _takes(self.datamodule, DATA_DIR, exact=True) else {}
        return _build(self.datamodule, {**config, **extra})

    # -- a worker --------------------------------------------------------------------
    def fit(self, config: Mapping[str, Any], seeds: Sequence[int], options: FitOptions) -> list[Outcome]:
        return [self._fit_seed(config, seed, options) for seed in seeds]

    def _fit_seed(self, config: Mapping[str, Any], seed: int, options: FitOptions) -> Outcome:
        import lightning.pytorch as pl

        from sweeper.integrations.lightning_bridge import CKPT_PATH, Bridge

        init, order = options.split(seed)
        pl.seed_everything(init, verbose=False)
        module, data = self.architecture(config), self._datamodule(config, options.data_root)
        if order != init:  # Crossed seeds: the data order (and dropout) follow the order seed
            pl.seed_everything(order, verbose=False)
        log = Log(dry_run=options.max_steps is not None, channel=options.channel, seed=seed)
        saved = None if log.dry_run or options.channel is None else options.channel.resume(0, seed)
        bridge = Bridge(self, log, options, int(config.get("max_epochs") or 0), saved)
        with _quiet():
            trainer = pl.Trainer(**self._trainer_args(config, options), callbacks=[bridge], plugins=[bridge.io])
            trainer.fit(module, datamodule=data, ckpt_path=CKPT_PATH if saved else None)
        return bridge.outcome(module, int(saved["user"]["epoch"]) if saved else 0)

    def _trainer_args(self, config: Mapping[str, Any], options: FitOptions) -> dict[str, Any]:
        args = {k: v for k, v in config.items() if k in _trainer_params()}
        if options.max_steps is not None:  # a dry run: one short epoch (validated: its row needs the metric)
            args.update(max_epochs=1, limit_train_batches=options.max_steps, limit_val_batches=1)
        return {"num_sanity_val_steps": 0, **args, "accelerator": _accelerator(options.device), "devices": 1,
                "logger": False, "enable_progress_bar": False, "enable_checkpointing": False,
                "enable_model_summary": False}


def _accelerator(device: str) -> str:
    if device == "auto":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    return "gpu" if device.startswith("cuda") else "cpu"


class _quiet:
    """Lightning's info lines and its advice warnings stay out of a sweep's output."""

    def __enter__(self) -> None:
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.filterwarnings("ignore", module="lightning")
        warnings.filterwarnings("ignore", module="pytorch_lightning")
        self.loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.WARNING)

    def __exit__(self, *exc: Any) -> None:
        for lg, level in zip(self.loggers, self.levels, strict=True):
            lg.setLevel(level)
        self.warnings.__exit__(*exc)


# -- the user's classes ----------------------------------------------------------------
def _check_user_class(obj: Any, field: str, base: str) -> None:
    """A class must be a Lightning one; a function config -> object is checked once built."""
    if not callable(obj):
        raise StudyError(f"field `{field}` = {obj!r} is not a {base} class or a function config -> {base}")
    if not inspect.isclass(obj):
        return
    import lightning.pytorch as pl

    if not issubclass(obj, getattr(pl, base)):
        raise StudyError(f"field `{field}`: {describe_callable(obj)} is not a lightning.{base}; subclass "
                         f"lightning.{base}, or pass a function config -> {base}")


def _build(obj: Any, config: Mapping[str, Any]) -> Any:
    """A class called with the configuration's names its constructor takes; a function with it all."""
    if not inspect.isclass(obj):
        return obj(Config(config))
    return obj(**{k: v for k, v in config.items() if _takes(obj, k, exact=True)})


def _takes(obj: Any, name: str, exact: bool = False) -> bool:
    """Whether `obj` (a class, a function, or None) takes `name`: a function takes every name,
    as does a constructor with **kwargs (unless `exact`: then only the names it spells out)."""
    if obj is None:
        return False
    if not inspect.isclass(obj):
        return not exact
    params = inspect.signature(obj.__init__).parameters
    return name in params or (not exact and any(p.kind is p.VAR_KEYWORD for p in params.values()))


def _named(obj: Any) -> list[str]:
    if obj is None or not inspect.isclass(obj):
        return []
    return [n for n, p in inspect.signature(obj.__init__).parameters.items()
            if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def _signature(obj: Any) -> str:
    return f"{getattr(obj, '__name__', type(obj).__name__)}({', '.join(_named(obj))})"


def _trainer_params() -> set[str]:
    import lightning.pytorch as pl

    return set(inspect.signature(pl.Trainer.__init__).parameters) - {"self"}


def for_study(study: Any) -> Trainer:
    return LightningTrainer(study)
