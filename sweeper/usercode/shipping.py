"""What travels to the worker processes: the study's parts, with the user's own code inside.

Every task carries the trainer and a configuration: the user's functions, classes and values
go with it. Functions and classes of a study file travel by value already (cloudpickle: the
study file is no module a worker could import); `ship` makes those of the user's modules
beside it travel by value too, so that a worker needs no copy of the study's folder (a Dask
worker on another machine), and tries each part once in the driver, so that one that cannot
be pickled is one error naming it and why, before anything runs, not a failed row per trial.
"""

from __future__ import annotations

import sys
from typing import Any

from sweeper.errors import StudyError
from sweeper.usercode.source import describe_callable
from sweeper.usercode.usercode import reach, unwrap


def parts(study: Any) -> dict[str, Any]:
    """The parts of a study that travel to the workers, by the field that gives them."""
    out = {"data": study.data, "model": study.model, "train": study.train, "objective": study.objective,
           "lightning": getattr(study, "lightning", None), "datamodule": getattr(study, "datamodule", None)}
    out = {k: v for k, v in out.items() if v is not None and not isinstance(v, str)}
    out.update({f"metrics[{name!r}]": fn for name, fn in study.metrics.items()})
    out.update({f"fixed[{name!r}]": value for name, value in study.fixed.items()})
    out.update({f"space[{name!r}]": dim for name, dim in study.space.items()})
    if study.define_by_run is not None and study.define_by_run is not study.objective:
        out["space"] = study.define_by_run
    return out


def ship(study: Any) -> None:
    """Before tasks go to worker processes: the user's modules that the study's parts reach
    are pickled by value from now on, and a part that cannot be pickled raises StudyError."""
    import cloudpickle

    fields = parts(study)
    _, found = reach({label: obj for label, obj in fields.items() if callable(obj)})
    for name, module in found.modules.items():
        if sys.modules.get(name) is module and name != "__main__":
            cloudpickle.register_pickle_by_value(module)
    for label, obj in fields.items():
        problem = None if _tensors(obj) else _unpicklable(obj)  # tensors always pickle, and may be large
        if problem is None:
            continue
        culprit = next(((who, v) for who, v in found.others if _unpicklable(v)), None) if callable(obj) else None
        if culprit is not None:
            problem = f"it refers to {culprit[0]}, a {type(culprit[1]).__name__}: {_unpicklable(culprit[1])}"
        what = describe_callable(unwrap(obj)) if callable(obj) else _brief(obj)
        raise StudyError(f"field `{label}`: {what} cannot be sent to worker processes ({problem}); {_hint(obj)}")


def _unpicklable(obj: Any) -> str | None:
    """Why `obj` cannot be pickled, or None."""
    import cloudpickle

    try:
        cloudpickle.dumps(obj)
    except Exception as e:  # pickling runs user code (__reduce__): anything may come out
        return f"{type(e).__name__}: {e}"
    return None


def _hint(obj: Any) -> str:
    if hasattr(obj, "cache_info") and hasattr(obj, "__wrapped__"):
        return ("functools.lru_cache/cache makes a function that travels only by name, and a study file's functions "
                "have none: drop the decorator (sweeper calls a data function once per worker and keeps what it returns)")
    return ("pass functions, classes and plain values, and open files, locks or connections inside the function "
            "that uses them; or run with --executor sequential")


def _tensors(obj: Any) -> bool:
    if isinstance(obj, (tuple, list)):
        return bool(obj) and all(_tensors(v) for v in obj)
    if isinstance(obj, dict):
        return bool(obj) and all(_tensors(v) for v in obj.values())
    return type(obj).__module__.split(".")[0] in ("torch", "numpy") and hasattr(obj, "shape")


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:55] + " ...>"

