"""The built-in trainer's checks in the driver, before any results folder is written.

- `resolve_dataset`: the dataset's files are there (or its fallback's, loudly), and the
  split fits, read from the files' headers only.
- `check`: every configuration's batch fits in the training split; the first
  configuration's model (the user's or a built-in one) builds, is an `nn.Module`, runs on a
  few examples of the data's shape and gives one output per class (or regression target);
  the user's metrics run on its outputs; and every hyperparameter name the study gives is
  read by some part of it. A problem is one StudyError line, not a row of failed trials.
- `structure` and `summary`: what that model is made of, and what the user's data is, as
  study.json records them.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from sweeper.builtin import data as datasets
from sweeper.builtin.hparams import MODEL_PARAMS
from sweeper.errors import DataError, StudyError
from sweeper.usercode.plugin import Config, describe_callable

PROBE_EXAMPLES = 64
SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def resolve_dataset(study_data: tuple[Any, ...], data_root: str, log: Callable[[str], None]) -> datasets.DataSpec:
    """The DataSpec trials will load: the study's dataset, or loudly its fallback."""
    dataset, fallback, split, task, standardize = study_data
    pair = None if standardize is None else (float(standardize[0]), float(standardize[1]))
    spec = datasets.DataSpec(dataset, data_root, split, task, pair)
    try:
        datasets.prepare(dataset, data_root)
    except DataError as e:
        if fallback is None:
            raise
        datasets.prepare(fallback, data_root)
        s = datasets.scaled_for(split, datasets.train_size(fallback, data_root))
        spec = dataclasses.replace(spec, dataset=fallback, split=s)
        log(f"WARNING: {e}\nWARNING: this study runs on its fallback dataset {fallback} "
            f"(train={s.train}, val={s.val}) instead of {dataset}; every row records dataset={fallback}")
    datasets.check_split(spec)
    return spec


class Reads(Config):
    """A configuration that remembers which names were read from it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def examples(spec: datasets.DataSpec | None, own: datasets.Tensors | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """A few validation examples (zeros of the dataset's shape for a built-in one), their
    targets and the number of training examples."""
    if own is not None:
        return own.x_val[:PROBE_EXAMPLES], own.y_val[:PROBE_EXAMPLES], len(own.x_train)
    assert spec is not None
    split = datasets.fit_split(spec.split, datasets.train_size(spec.dataset, spec.root))
    return torch.zeros(2, *SHAPES[spec.dataset]), torch.zeros(2, dtype=torch.long), int(split.train or 0)


def check(configs: Sequence[Mapping[str, Any]], x: torch.Tensor, y: torch.Tensor, n_train: int, n_outputs: int,
          model_fn: Callable[..., Any] | None, metric_fns: Mapping[str, Callable[..., Any]],
          own_names: Mapping[str, str]) -> tuple[nn.Module, dict[str, Any]]:
    """Check the study's first model on `x` (see the module's docstring); return it, and the
    part of its configuration that building it read. `own_names` are the study's own
    hyperparameters, each with its "file:line"."""
    from sweeper.builtin.models import build

    for config in configs:
        if config["batch_size"] > n_train:
            raise StudyError(f"`batch_size` = {config['batch_size']} is larger than the training split "
                             f"({n_train} examples); an epoch would have no full batch")
    config = Reads(configs[0])
    torch.manual_seed(0)
    try:
        model = build(config, tuple(x.shape[1:]), n_outputs) if model_fn is None else model_fn(config)
    except Exception as e:
        raise StudyError(f"model(config) raised {type(e).__name__}: {e}, for the configuration {dict(configs[0])}") from None
    if not isinstance(model, nn.Module):
        raise StudyError(f"field `model`: model(config) returned {type(model).__name__}, not a torch.nn.Module")
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:
        raise StudyError(f"field `model`: the model cannot take inputs of shape {tuple(x.shape[1:])} "
                         f"({type(e).__name__}: {e})") from None
    _check_outputs(out, x, y, n_outputs, model_fn)
    _check_metrics(metric_fns, out, y)
    unread = [n for n in own_names if n not in config.read]
    if model_fn is not None:
        unread = _unread_where_active(unread, configs, model_fn)
    if model_fn is not None and unread:
        raise StudyError(_unread(unread[0], own_names[unread[0]], set(configs[0]) - set(own_names), config.read))
    return model, {k: configs[0][k] for k in sorted(config.read, key=str) if k in configs[0]}


def _unread_where_active(names: Sequence[str], configs: Sequence[Mapping[str, Any]],
                        model_fn: Callable[..., Any]) -> list[str]:
    """Of `names` the first model did not read, those that no model reads in a configuration
    where the name is active (a conditional space gives `n_units_l1` only with `n_layers >= 2`):
    each such configuration's model is built once, as the first one was."""
    unread = list(names)
    for config in configs[1:]:
        if not any(n in config for n in unread):
            continue
        reads = Reads(config)
        torch.manual_seed(0)
        try:
            model_fn(reads)
        except Exception as e:
            raise StudyError(f"model(config) raised {type(e).__name__}: {e}, for the configuration {dict(config)}") from None
        unread = [n for n in unread if n not in reads.read]
        if not unread:
            break
    return unread


def _unread(name: str, at: str, trainer_names: set[str], model_read: set[str]) -> str:
    """Why a study's own name is refused, and the fix. Where it looks like a name the trainer
    or the model reads, the only fix offered is to rename it: a model that read a misspelt
    `learnig_rate` would leave the optimizer on its default while the table showed the value."""
    where = f"{at}: " if at else ""
    said = f"{where}hyperparameter `{name}` is never read by the model function, nor by the built-in trainer"
    if name in MODEL_PARAMS:
        return f"{said}: it shapes the built-in models only; remove it, or make the model build with config[{name!r}]"
    match = difflib.get_close_matches(name, sorted(trainer_names | model_read), n=1, cutoff=0.8)  # a typo, not a guess
    if match and match[0] in trainer_names:
        return f"{said}; did you mean `{match[0]}`, which the built-in trainer reads? rename it to `{match[0]}`"
    if match:
        return f"{said}; did you mean `{match[0]}`, which the model reads? rename it to `{match[0]}`"
    return f"{said}; remove it, or make the model build with config[{name!r}]"


def _check_outputs(out: Any, x: torch.Tensor, y: torch.Tensor, n_outputs: int, model_fn: Any) -> None:
    """One output per class (one logit for a binary task), or per regression target."""
    width = tuple(getattr(out, "shape", ()))[1:]
    if width == (n_outputs,):
        return
    regress = y.is_floating_point()
    wanted = (f"{n_outputs} regression target{'s' * (n_outputs > 1)}" if regress else
              "a binary task (one logit)" if n_outputs == 1 else f"{n_outputs} classes")
    who = describe_callable(model_fn) if model_fn is not None else "the built-in model"
    got = f"{width[0]} output{'s' * (width[0] != 1)} per example" if len(width) == 1 else \
        f"outputs of shape {tuple(getattr(out, 'shape', ()))} for {len(x)} examples"
    raise StudyError(f"field `model`: {who} gives {got}, but the data has {wanted}; its last layer must give "
                     f"(examples, {n_outputs})")


def _check_metrics(metric_fns: Mapping[str, Callable[..., Any]], out: torch.Tensor, y: torch.Tensor) -> None:
    for name, fn in metric_fns.items():
        try:
            value = fn(out, y)
            value = value.item() if hasattr(value, "item") else value
        except Exception as e:
            raise StudyError(f"field `metrics`: `{name}` raised {type(e).__name__}: {e}, on the first model's outputs "
                             f"(shape {tuple(out.shape)}) and targets (shape {tuple(y.shape)})") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StudyError(f"field `metrics`: `{name}` returned {value!r}, not a number")


def structure(model: nn.Module) -> dict[str, dict[str, str]]:
    """Each module of `model` by its path ("WaveNet.conv1"): its type, the settings its
    `extra_repr` shows (`kernel_size`: "5") and its parameters' shapes ("param weight": "16x1x5")."""
    root = type(model).__name__
    out = {}
    for name, module in model.named_modules():
        entry = {"type": type(module).__name__, **_settings(module.extra_repr())}
        for pname, p in module.named_parameters(recurse=False):
            entry[f"param {pname}"] = "x".join(str(n) for n in p.shape) or "scalar"
        out[f"{root}.{name}" if name else root] = entry
    return out


def _settings(text: str) -> dict[str, str]:
    """'1, 16, kernel_size=(5,), stride=(1,)' as {"args": "1, 16", "kernel_size": "5", "stride": "1"}."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text + ","):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    out, args = {}, []
    for item in filter(None, items):
        key, eq, value = item.partition("=")
        if eq and key.strip().isidentifier():
            value = value.strip()
            out[key.strip()] = value[1:-2] if value.startswith("(") and value.endswith(",)") else value
        else:
            args.append(item)
    return {"args": ", ".join(args), **out} if args else out


def summary(own: datasets.Tensors) -> dict[str, Any]:
    """The user's data as study.json describes it: the task, the classes or targets, and each
    split's shapes and types."""
    splits: dict[str, tuple[Any, Any]] = {"train": (own.x_train, own.y_train), "val": (own.x_val, own.y_val)}
    if own.x_test is not None:
        splits["test"] = (own.x_test, own.y_test)
    out: dict[str, Any] = {"task": "regress", "targets": own.n_outputs} if own.regress else \
        {"task": "classify", "classes": own.n_outputs}
    for name, (x, y) in splits.items():
        out[name] = f"x {tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}, " \
                    f"y {tuple(y.shape)} {str(y.dtype).removeprefix('torch.')}"
    return out
