"""A sweep's kept weights: the trained model back as an `nn.Module`, its numbers on the test
split, and its weights written out for use elsewhere.

A results folder keeps, in weights/<trial>.<seed>.best.safetensors (and `.last` with
`keep_last=True`), the state_dict of trials as the study's `weights` field says: the best
configuration's seeds (the default), every trial's, or none. A model is rebuilt from its
configuration's row by the study's trainer: a built-in model from study.json, which records
the data's shapes; a study's own model from the Study the caller passes or loads from its
file, never from code saved in the results folder. The weights are read with safetensors,
which reads tensors and never unpickles.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sweeper.errors import ResultsError, StudyError
from sweeper.storage import checkpoint
from sweeper.storage.layout import weights_file


def _study(study: Any) -> Any:
    if study is None or not isinstance(study, (str, Path)):
        return study
    from sweeper.study.studyfile import load_study

    return load_study(study)


def chosen(results: Any, rank: int = 1) -> str:
    """The configuration id at `rank` (1: the best), as the summary ranks them."""
    ranked = results.summary.dropna(subset=["rank"]).sort_values("rank", kind="stable")
    if not 1 <= rank <= len(ranked):
        raise ResultsError(f"{results.name} has {len(ranked)} ranked configurations; rank {rank} is not one of them")
    return str(ranked["trial"].iloc[rank - 1])


def config_of(results: Any, trial: str) -> dict[str, Any]:
    """A configuration's hyperparameters as its rows record them (typed as sweeper.load types them)."""
    from sweeper.storage.layout import column_groups

    columns, _ = column_groups(list(results.trials.columns))
    row = results.trials[results.trials["trial"] == trial].iloc[0]
    return {c: _plain(row[c]) for c in columns if not _missing(row[c])}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("<NA>", "nan")


def kept(results: Any, trial: str, seed: int, which: str = "best") -> Path:
    """The weights file of a (configuration, seed), or a one-line error saying why there is none."""
    path = weights_file(results.folder, trial, seed, which)
    if not path.is_file():
        policy = results.study.get("weights", "best")
        why = {"none": "the study keeps no weights (weights='none')",
               "best": "the study keeps the best configuration's weights only (weights='best'); "
                       "pass Study(weights='all') to keep every trial's"}.get(policy, "it was not kept")
        if which == "last":
            why = "the last epoch's weights are kept with Study(keep_last=True)"
        raise ResultsError(f"{results.name}: no {which} weights of configuration {trial}, seed {seed}: {why}")
    return path


def model(results: Any, rank: int = 1, seed: int | None = None, study: Any = None, which: str = "best") -> Any:
    """The `nn.Module` of the configuration at `rank`, with the kept weights of `seed` (its
    first kept seed by default). `study`: the Study (or its file) for a study's own model."""
    trial = chosen(results, rank)
    seed = seed if seed is not None else seeds_kept(results, trial, which)[0]
    path = kept(results, trial, seed, which)
    config = config_of(results, trial)
    study = _study(study)
    if study is None and results.study.get("model") not in (None, "mlp", "cnn", "lenet") \
            and "(" in str(results.study.get("model")):
        raise StudyError(f"{results.name} was trained with the study's own model ({results.study['model']}): pass "
                         "study= (the Study, or its file) to rebuild it; a results folder's saved code is never run")
    if study is None and results.study.get("trainer") == "lightning":
        raise StudyError(f"{results.name} was trained from a LightningModule ({results.study.get('lightning')}): pass "
                         "study= (the Study, or its file) to rebuild it; a results folder's saved code is never run")
    module = _architecture(results, config, study)
    module.load_state_dict(checkpoint.tensors(path))
    return module.eval()


def seeds_kept(results: Any, trial: str, which: str = "best") -> list[int]:
    seeds = sorted(int(p.name.split(".")[1]) for p in (results.folder / "weights").glob(f"{trial}.*.{which}.safetensors"))
    if not seeds:
        kept(results, trial, 0, which)  # raises, saying why
    return seeds


def _architecture(results: Any, config: dict[str, Any], study: Any) -> Any:
    io = results.study.get("model_io") or _known_io(results.study)
    if study is not None:
        return study.trainer.architecture(config, io)
    if io is None:
        raise ResultsError(f"{results.name}: study.json does not record the data's shapes; pass study= to rebuild the model")
    from sweeper.builtin.models import build  # a built-in model, from its row and the recorded shapes

    return build(config, tuple(io["inputs"]), int(io["outputs"]))


def _known_io(study: dict[str, Any]) -> dict[str, Any] | None:
    """The shapes of a built-in dataset, for folders written before study.json recorded them."""
    shapes = {"digits": [1, 8, 8], "mnist": [1, 28, 28], "fashion_mnist": [1, 28, 28], "cifar10": [3, 32, 32]}
    dataset = study.get("dataset_used", study.get("dataset"))
    if dataset not in shapes:
        return None
    return {"inputs": shapes[dataset], "outputs": 1 if study.get("task") == "small_digit" else 10}


def test(study: Any, results: Any, rank: int = 1, data_root: str | None = None, device: str = "cpu") -> Any:
    """The kept weights of the configuration at `rank`, every kept seed, evaluated on the test
    split: a table of (seed, metric, value) and the summary (mean, 95 % interval)."""
    import pandas as pd

    from sweeper.study.options import default_data_root
    from sweeper.usercode.plugin import FitOptions

    study = _study(study)
    trainer = study.trainer
    root = data_root or default_data_root()
    trainer.prepare(root, lambda msg: None, study.foreseen_configs())
    options = FitOptions(data_root=root, device=device)
    trial = chosen(results, rank)
    rows = []
    for seed in seeds_kept(results, trial):
        values = trainer.evaluate(model(results, rank, seed, study), "test", options)
        rows += [{"trial": trial, "seed": seed, "metric": f"test_{k}", "value": v} for k, v in values.items()]
    return pd.DataFrame(rows)


def export(results: Any, out: Path, rank: int = 1, seed: int | None = None, which: str = "best") -> dict[str, Any]:
    """Write a kept model's weights to `out` (a safetensors file), with its configuration in
    the file's metadata; returns the configuration."""
    import json

    trial = chosen(results, rank)
    seed = seed if seed is not None else seeds_kept(results, trial, which)[0]
    tensors = checkpoint.tensors(kept(results, trial, seed, which))
    config = config_of(results, trial)
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"study": results.name, "trial": trial, "seed": str(seed), "weights": which,
                                           "config": json.dumps(config, default=str)})
    return {"trial": trial, "seed": seed, **config}
