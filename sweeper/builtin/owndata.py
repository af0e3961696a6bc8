"""A user's own data as the built-in trainer's tensors.

`Study(data=...)` takes the splits as `(train, val)` or `(train, val, test)`, or a dict with
those keys, or a function (no arguments) that returns either. Each split is an `(x, y)` pair
of tensors (or NumPy arrays), or a `torch.utils.data.Dataset` whose items are `(x, y)`,
which is read once into memory. Inputs may have any shape; the first dimension counts the
examples.

The task is what the study declares (`task="classify"` or `"regress"`), or else inferred
from the targets: integer labels are classes (as many as the largest label + 1), floating
ones regression targets (one per column).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sweeper.builtin.data import Tensors
from sweeper.errors import DataError

SPLIT_NAMES = ("train", "val", "test")


_CACHE: dict[tuple[str, str], Tensors] = {}


def load_cached(key: str, data: Any, task: str | None, device: str = "cpu") -> Tensors:
    """`load` on `device`, once per process and `key`: a worker keeps the data between trials."""
    if (key, device) not in _CACHE:
        _CACHE[(key, device)] = load(data, task) if device == "cpu" else load_cached(key, data, task).to(device)
    return _CACHE[(key, device)]


def load(data: Any, task: str | None) -> Tensors:
    """The user's data as Tensors; DataError, naming the split and the rule, if it cannot be."""
    if callable(data) and not isinstance(data, (torch.utils.data.Dataset, tuple, list, Mapping)):
        data = data()
    parts = _splits(data)
    x_train, y_train = parts["train"]
    x_val, y_val = parts["val"]
    x_test, y_test = parts.get("test", (None, None))
    shapes = {name: tuple(x.shape[1:]) for name, (x, _) in parts.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"field `data`: the splits' inputs have different shapes {shapes}; give every split the same")
    ys = [y for _, y in parts.values()]
    regress = task == "regress" or (task is None and ys[0].is_floating_point())
    if regress:
        ys = [y.float() for y in ys]
        n_outputs = 1 if ys[0].ndim == 1 else int(ys[0].shape[1])
    else:
        if any(y.is_floating_point() and not torch.equal(y, y.round()) for y in ys):
            raise DataError("field `data`: classification targets must be whole class numbers 0, 1, ...; "
                            "pass task='regress' for numeric targets")
        ys = [y.long() for y in ys]
        n_outputs = int(max(int(y.max()) for y in ys if len(y))) + 1
        if min(int(y.min()) for y in ys if len(y)) < 0 or n_outputs < 2:
            raise DataError(f"field `data`: class labels must be 0 .. n-1 with n >= 2, but got {n_outputs} class(es)")
    y_test = ys[2] if len(ys) > 2 else None
    return Tensors(x_train, ys[0], x_val, ys[1], x_test, y_test, n_outputs, regress)


def _splits(data: Any) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, Mapping):
        unknown = [k for k in data if k not in SPLIT_NAMES]
        if unknown or "train" not in data or "val" not in data:
            raise DataError(f"field `data`: a dict of splits needs keys 'train' and 'val' (and optionally 'test'), "
                            f"but has {list(data)}")
        named = {k: data[k] for k in SPLIT_NAMES if k in data}
    elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
        named = dict(zip(SPLIT_NAMES, data))
    else:
        raise DataError(f"field `data`: expected (train, val) or (train, val, test), each (x, y) tensors or a "
                        f"Dataset, or a function returning them, but got {type(data).__name__}")
    return {name: _pair(name, part) for name, part in named.items()}


def _pair(name: str, part: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(part, torch.utils.data.Dataset):
        part = _read(name, part)
    if not (isinstance(part, (tuple, list)) and len(part) == 2):
        raise DataError(f"field `data`: split `{name}` must be an (x, y) pair or a Dataset of (x, y) items, "
                        f"but got {type(part).__name__}")
    x, y = (torch.as_tensor(v) for v in part)
    if len(x) != len(y):
        raise DataError(f"field `data`: split `{name}` has {len(x)} inputs but {len(y)} targets; they must match")
    if len(x) == 0 and name == "train":
        raise DataError("field `data`: split `train` is empty")
    return x.float(), y


def _read(name: str, dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (x, y) item of a Dataset, stacked."""
    try:
        items = [dataset[i] for i in range(len(dataset))]
        return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.stack([torch.as_tensor(_scalar(y)) for _, y in items])
    except (TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"field `data`: split `{name}`: the Dataset's items must be (x, y) with x tensors of one "
                        f"shape ({type(e).__name__}: {e})") from None


def _scalar(y: Any) -> Any:
    return y.item() if hasattr(y, "item") and getattr(y, "ndim", 0) == 0 else y


def fingerprint(data: Any) -> str:
    """What identifies tensors given directly: their shapes and a hash of their bytes (a
    function is identified by its source instead, by the caller)."""
    import hashlib

    h = hashlib.sha1()
    for x, y in _splits(data).values():
        for t in (x, y):
            h.update(repr((tuple(t.shape), str(t.dtype))).encode())
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:12]

