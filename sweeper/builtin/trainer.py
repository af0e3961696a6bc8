"""The built-in trainer: the course's training loop as one plug-in behind `usercode/plugin.py`.

It trains a built-in model (`mlp`, `cnn`, `lenet`) or the user's own (`model=` a function
config -> nn.Module) on a built-in dataset (by name) or the user's own (`data=`), with
torch.optim's update rules, lr decay, early stopping, curves at every evaluation, the
best epoch, `--vectorize`, `--stack` and `--device`, and computes the user's `metrics` on every split
at every evaluation. Classification: cross-entropy loss and accuracy; regression: MSE loss
and RMSE.

This module imports no torch at import time: a study is checked (names, values,
impossible combinations) without it. The driver's `prepare` and the workers' `fit` import
the loop.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sweeper.builtin import hparams
from sweeper.errors import DataError, StudyError
from sweeper.usercode.plugin import (
    CannotStack,
    FitOptions,
    Outcome,
    Param,
    Trainer,
    code_hash,
    describe_callable,
    source_file,
)

DRY_RUN_IMAGES = 1024  # per split, in a dry run
MIN_SIZES = {"digits": 8, "mnist": 28, "fashion_mnist": 28, "cifar10": 32}  # image side of each dataset
CNN_NORMALIZATIONS = ("none", "bn_before_relu", "bn_after_relu")
# What may differ between configurations trained as one stacked group: the optimiser (its numbers are
# per-model tensors in the update; each kind is a part of the group) and early stopping (each model's
# own log); for the built-in models their shape too (each shape a part: `mixed.py`).
STACKED_PARAMS = ("learning_rate", "momentum", "weight_decay", "lr_decay", "patience", "optimizer", "nesterov")
SHAPE_PARAMS = ("hidden_size", "num_layers", "normalization", "dropout", "init")


class BuiltinTrainer(Trainer):
    name = "builtin"
    vectorizes = True
    stacks = True
    continues = ("epochs",)  # an epoch's end is a checkpoint: a run of more epochs goes on from it
    preload = ("sweeper.builtin.trainer", "sweeper.builtin.loop", "sweeper.builtin.stacked", "sweeper.builtin.mixed",
               "safetensors.torch")
    V1_DEFAULTS = hparams.V1_DEFAULTS

    def __init__(self, study: Any) -> None:
        model = study.model
        if model is not None and not callable(model) and model not in hparams.MODELS:
            raise StudyError(f"field `model` = {model!r} is not allowed; it must be one of {list(hparams.MODELS)} "
                             "or a function config -> torch.nn.Module")
        if isinstance(model, str) and "model" in {**study.fixed, **study.space}:
            raise StudyError("field `model` and the hyperparameter `model` both name the model; keep one")
        self.model_fn: Callable[[Mapping[str, Any]], Any] | None = None if isinstance(model, str) else model
        self.model_name = model if isinstance(model, str) else None
        self.metric_fns = dict(study.metrics)
        for name, fn in self.metric_fns.items():
            if not callable(fn) or not isinstance(name, str) or not name.isidentifier():
                raise StudyError(f"field `metrics`: `{name}` must map a name such as 'f1' to a function "
                                 "fn(outputs, targets) -> float")
        self.takes_any_name = self.model_fn is not None
        user_code = [self.model_fn, *self.metric_fns.values()]
        self.source_file = next((source_file(f) for f in user_code if f is not None and source_file(f)), "")
        self.own_data = study.data
        self.task = study.task
        if study.data is None and study.task == "regress":
            raise StudyError("field `task` = 'regress' needs the study's own `data`; the built-in datasets are classified")
        self.study_data = (study.dataset, study.fallback, study.split, study.task or "classify", study.standardize)
        self.eval_every, self.vectorize = study.eval_every, study.vectorize
        self.spec: Any = None  # the built-in dataset's DataSpec, set by `prepare`
        known = study.data is None or study.task is not None
        self._regress: bool | None = study.task == "regress" if known else None  # None: inferred from the data
        self._has_test: bool | None = None  # whether the user's data has a test split, once loaded
        self.own_names = [n for n in {**study.fixed, **study.space} if n not in self.params()]
        self.name_lines = {n: study.where(n) for n in self.own_names}  # "file:line" of each, for errors
        self.data_key = uuid.uuid4().hex  # names the user's data in each worker's cache
        self.io: dict[str, Any] = {}  # the data's input shape and outputs, once `prepare` has seen them
        self._structure: dict[str, Any] = {}  # the user's model, as `prepare` built it
        self._data_summary: dict[str, Any] = {}  # the user's data, as `prepare` loaded it

    # -- what a study may say --------------------------------------------------------
    def params(self) -> Mapping[str, Param]:
        table = dict(hparams.HPARAMS)
        if self.model_fn is not None:
            table = {k: v for k, v in table.items() if k not in hparams.MODEL_PARAMS}
        elif self.model_name is not None:
            table["model"] = Param("model", self.model_name, table["model"].rule, table["model"].check,
                                   table["model"].doc)
        return table

    def renamed(self, name: str) -> str | None:
        """This trainer's name for another spelling of one (`lr`); with the user's own model,
        only the trainer's own names are claimed: the model may read `width` or `depth`."""
        found = hparams.renamed(name)
        return found if found in self.params() else None

    def canonical(self, name: str, value: Any) -> Any:
        return hparams.canonical(name, value)

    def metric_names(self) -> list[str] | None:
        """Known once the data is: for the user's data, after `prepare` unless `task` is declared."""
        if self.own_data is not None and (self._has_test is None or self._regress is None):
            return None
        primary = "rmse" if self._regress else "acc"
        test = self._has_test if self.own_data is not None else self.study_data[2].test
        splits = ["train", "val", "test"] if test else ["train", "val"]
        names = [f"{s}_{m}" for s in splits for m in ("loss", primary, *self.metric_fns)]
        return names + [f"best_val_{primary}", "best_epoch", "epochs_run", "iterations", "resumed_epoch"]

    def check_config(self, config: Mapping[str, Any]) -> None:
        if config.get("nesterov") and (config.get("optimizer") != "sgd" or config.get("momentum", 0) == 0):
            raise StudyError("`nesterov` = True needs `momentum` > 0 and optimizer 'sgd', as torch.optim.SGD does; "
                             "set momentum > 0 or nesterov=False")
        if self.model_fn is not None:
            return
        kind, norm = config["model"], config["normalization"]
        if kind == "cnn" and norm not in CNN_NORMALIZATIONS:
            raise StudyError(f"model 'cnn' supports normalization {list(CNN_NORMALIZATIONS)}, not {norm!r}")
        if kind == "lenet" and norm != "none":
            raise StudyError(f"model 'lenet' supports normalization 'none' only, not {norm!r}")
        side = MIN_SIZES.get(self.study_data[0]) if self.own_data is None else None
        if kind == "lenet" and side is not None and side < 28:
            raise StudyError(f"model 'lenet' needs images of at least 28x28, but dataset "
                             f"{self.study_data[0]!r} has {side}x{side}")

    def effective(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Leaves out what cannot change the run: momentum and Nesterov under Adam and AdamW
        (and Nesterov under RMSprop), and the MLP's sizes and dropout under the CNNs."""
        out = dict(config)
        if out.get("optimizer") in ("adam", "adamw"):
            out.pop("momentum", None)
            out.pop("nesterov", None)
        elif out.get("optimizer") == "rmsprop":
            out.pop("nesterov", None)
        if self.model_fn is None and out.get("model") in ("cnn", "lenet"):
            for name in ("hidden_size", "num_layers", "dropout"):
                out.pop(name, None)
        return out

    def code(self) -> dict[str, str]:
        code = {f"metric {name}": code_hash(fn) for name, fn in self.metric_fns.items()}
        if self.model_fn is not None:
            code["model"] = code_hash(self.model_fn)
        if self.own_data is not None:
            from sweeper.builtin import owndata

            own = self.own_data
            code["data"] = code_hash(own) if callable(own) and not _is_data(own) else owndata.fingerprint(own)
        return code

    def user_code(self) -> dict[str, Any]:
        code: dict[str, Any] = {f"metric {name}": fn for name, fn in self.metric_fns.items()}
        if self.model_fn is not None:
            code["model"] = self.model_fn
        if self.own_data is not None and callable(self.own_data) and not _is_data(self.own_data):
            code["data"] = self.own_data
        return code

    def structure(self) -> dict[str, Any]:
        return self._structure

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"metric {name}": describe_callable(fn) for name, fn in self.metric_fns.items()}
        if self.model_fn is not None:
            out["model"] = describe_callable(self.model_fn)
        if self.own_data is not None:
            own = self.own_data
            given = describe_callable(own) if callable(own) and not _is_data(own) else "passed as tensors or Datasets"
            out["data"] = {"from": given, **self._data_summary}
        if self.io:  # what a kept model is rebuilt for (`Results.model`)
            out["model_io"] = dict(self.io)
        return out

    # -- the driver: data and a first model, checked before anything is written --------
    def prepare(self, data_root: str, log: Callable[[str], None], configs: Sequence[Mapping[str, Any]]) -> str:
        from sweeper.builtin import probe

        own = None
        if self.own_data is None:
            self.spec = probe.resolve_dataset(self.study_data, data_root, log)
            n_outputs = 1 if self.spec.task == "small_digit" else 10
        else:
            own = self._tensors(FitOptions(data_root=data_root))
            self._regress, self._has_test, n_outputs = own.regress, own.x_test is not None, own.n_outputs
            self._data_summary = probe.summary(own)
        x, y, n_train = probe.examples(self.spec, own)
        # a define-by-run space's names are known from the configurations sampled from it
        drawn = {n: "" for c in configs for n in c if n not in self.params() and n not in self.name_lines}
        model, read = probe.check(configs, x, y, n_train, n_outputs, self.model_fn, self.metric_fns,
                                  {**self.name_lines, **drawn})
        self.io = {"inputs": list(x.shape[1:]), "outputs": n_outputs}
        if self.model_fn is not None:  # built with what it read of the first configuration: compared where that is the same
            config = json.loads(json.dumps(read, sort_keys=True, default=str))
            self._structure = {"config": config, "modules": probe.structure(model)}
        return "own" if own is not None else self.spec.dataset

    # -- kept weights ----------------------------------------------------------------
    def architecture(self, config: Mapping[str, Any], io: Mapping[str, Any] | None = None) -> Any:
        """The configuration's model, untrained: the user's `model(config)`, or the built-in
        one for the data's shapes (`io`, as study.json records them, or those `prepare` found)."""
        from sweeper.builtin.bank import build_model
        from sweeper.builtin.models import build

        if self.model_fn is not None:
            return build_model(config, None, self.model_fn)  # type: ignore[arg-type]
        shapes = io or self.io
        if not shapes:
            raise DataError("the data's shapes are not known: call prepare() first")
        return build(config, tuple(shapes["inputs"]), int(shapes["outputs"]))

    def evaluate(self, model: Any, split: str, options: FitOptions) -> dict[str, float]:
        """What the trainer records for `split` at an epoch's end, for a model trained before."""
        from sweeper.builtin.loop import evaluate, splits

        data = self._tensors(options)
        found = {name: (x, y) for name, x, y in splits(data, with_test=True)}
        if split not in found:
            raise DataError(f"the study's data has no {split} split" + (
                "; add test=True to its Split, e.g. split=Split(train=2000, val=500, test=True)"
                if split == "test" and self.own_data is None else "; return (train, val, test) from `data`"))
        x, y = found[split]
        model = model.to(x.device).eval()

        class One:  # the evaluation of the driver, on this one model
            def eval_chunk(self, n: int) -> int:
                from sweeper.builtin.bank import EVAL_CHUNK

                return EVAL_CHUNK

            def outputs(self, chunk: Any, models: Any) -> Any:
                return model(chunk).unsqueeze(0)

        return evaluate(One(), [0], x, y, data.regress, self.metric_fns)[0]  # type: ignore[arg-type]


    # -- a worker --------------------------------------------------------------------
    def setup(self, options: FitOptions) -> None:
        self._tensors(options)

    def fit(self, config: Mapping[str, Any], seeds: Sequence[int], options: FitOptions) -> list[Outcome]:
        from sweeper.builtin.loop import train, train_seeds

        data = self._data(options, config)
        if self.vectorize and len(seeds) > 1:
            return train_seeds(config, seeds, data, self.eval_every, None, self.model_fn, self.metric_fns, options)
        return [train(config, seed, data, self.eval_every, None, self.model_fn, self.metric_fns, options)
                for seed in seeds]

    def stack_key(self, config: Mapping[str, Any]) -> Any:
        """Everything but the optimiser, patience and (of a built-in model) its shape: the model,
        its data, the batch size, the epochs, the data order (a user's own names too: `model`
        may read them)."""
        free = STACKED_PARAMS + (SHAPE_PARAMS if self.model_fn is None else ())
        return tuple(sorted((name, repr(value)) for name, value in config.items() if name not in free))

    def fit_group(self, configs: Sequence[Mapping[str, Any]], seeds: Sequence[int],
                  options: FitOptions) -> list[list[Outcome]]:
        """Configurations with one stack key, trained as one stacked model per part of one
        shape and optimizer (`stacked.py`, `mixed.py`); `CannotStack` where their model
        cannot be stacked."""
        from sweeper.builtin.loop import train_group
        from sweeper.builtin.stacked import NotStackable

        parts: dict[Any, list[int]] = {}
        for c, config in enumerate(configs):
            shape = () if self.model_fn is not None else tuple(repr(config[n]) for n in SHAPE_PARAMS if n != "init")
            parts.setdefault((shape, config["optimizer"], config["nesterov"]), []).append(c)
        try:
            return train_group(configs, seeds, self._data(options, configs[0]), self.eval_every, None,
                               self.model_fn, self.metric_fns, options, list(parts.values()))
        except NotStackable as e:
            raise CannotStack(str(e)) from None

    def _data(self, options: FitOptions, config: Mapping[str, Any]) -> Any:
        """The task's data; in a dry run the first few images, but enough for one batch."""
        data = self._tensors(options)
        return data.head(max(DRY_RUN_IMAGES, int(config["batch_size"]))) if options.max_steps else data

    def _tensors(self, options: FitOptions) -> Any:
        """This process's copy of the data on the task's device (loaded once, then cached)."""
        from sweeper.builtin import data as datasets

        device = datasets.resolve_device(options.device)
        if self.own_data is not None:
            from sweeper.builtin import owndata

            return owndata.load_cached(self.data_key, self.own_data, self.task, device)
        if self.spec is None:
            raise DataError("the built-in trainer was not prepared: call prepare() in the driver first")
        return datasets.load(datasets.worker_data(self.spec), device)


def _is_data(obj: Any) -> bool:
    """A Dataset is callable-free data even when its class defines __call__."""
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__")
