"""State saved to disk as data: safetensors files, tensors and a JSON header, nothing to
execute. Used for a running trial's resume checkpoints (checkpoints/<trial>.<seed>.safetensors)
and a trial's kept weights (weights/<trial>.<seed>.<best|last>.safetensors).

A state is a nested dict of tensors and JSON values (numbers, strings, lists, dicts), such as
a model's and an optimizer's `state_dict()`: tensors go into the file by their path in the
dict ("optimizer/state/0/momentum_buffer"), everything else into the header's metadata. So a
results folder copied from someone else opens safely: `safetensors.torch.load` reads tensors
and a header and never unpickles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sweeper.errors import ResultsError
from sweeper.storage.atomic import atomic_write

SEP = "/"
_META = "sweeper"  # the metadata key that holds the state's JSON values
# Rebuilds a kept model from a results folder (`sweeper.weights.model`): registered by `sweeper`,
# so that the analysis side (`Results.model`) reaches the trainer without importing it.
rebuild: Callable[..., Any] | None = None


def register_rebuild(fn: Callable[..., Any]) -> None:
    global rebuild
    rebuild = fn


def dumps(state: Mapping[str, Any]) -> bytes:
    """A state as the bytes of a safetensors file."""
    from safetensors.torch import save

    tensors: dict[str, Any] = {}
    skeleton = _split(state, "", tensors)
    return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()},
                metadata={_META: json.dumps(skeleton, allow_nan=True)})


def loads(data: bytes) -> dict[str, Any]:
    """The state that `dumps` saved (tensors on the CPU)."""
    from safetensors.torch import load

    tensors = load(data)
    header = _header(data)
    return _join(json.loads(header.get(_META, "{}")), tensors) if header is not None else dict(tensors)


def save(path: Path, state: Mapping[str, Any] | bytes, durable: bool = True) -> None:
    """Write a state (or its bytes) atomically: a reader sees the old file or the new one.
    `durable=False` skips the fsync: for a resume checkpoint, which a crash of the machine may
    leave empty (and a resume then starts afresh), the next epoch replaces anyway."""
    data = state if isinstance(state, bytes) else dumps(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data, durable)


def load(path: Path) -> dict[str, Any]:
    try:
        return loads(path.read_bytes())
    except Exception as e:  # safetensors' own errors: not a file of ours
        raise ResultsError(f"{path} is not a safetensors file that sweeper wrote ({e})") from None


def tensors(path: Path) -> dict[str, Any]:
    """A weights file's tensors by name, as `torch.nn.Module.load_state_dict` takes them."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as e:  # safetensors' own errors: not a file of ours (it reads headers, never pickles)
        raise ResultsError(f"{path} is not a safetensors file that sweeper wrote ({e}); its weights cannot be "
                           "read") from None


def _split(value: Any, path: str, tensors: dict[str, Any]) -> Any:
    """The JSON skeleton of a state, each tensor replaced by {"$tensor": its key}."""
    if hasattr(value, "detach") and hasattr(value, "shape"):
        tensors[path] = value
        return {"$tensor": path}
    if isinstance(value, Mapping):
        return {"$dict": [[_key(k), _split(v, f"{path}{SEP}{k}" if path else str(k), tensors)]
                          for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_split(v, f"{path}{SEP}{i}" if path else str(i), tensors) for i, v in enumerate(value)]
    return value


def _join(value: Any, tensors: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and "$tensor" in value:
        return tensors[value["$tensor"]]
    if isinstance(value, dict) and "$dict" in value:
        return {_unkey(k): _join(v, tensors) for k, v in value["$dict"]}
    if isinstance(value, list):
        return [_join(v, tensors) for v in value]
    return value


def _key(k: Any) -> Any:
    """Dict keys as JSON keeps them: an optimizer's state is keyed by integers."""
    return k if isinstance(k, str) else {"$int": k} if isinstance(k, int) else str(k)


def _unkey(k: Any) -> Any:
    return k["$int"] if isinstance(k, dict) else k


def _header(data: bytes) -> dict[str, str] | None:
    """The metadata of a safetensors file's header (its first 8 bytes give the header's length)."""
    size = int.from_bytes(data[:8], "little")
    try:
        return json.loads(data[8:8 + size]).get("__metadata__", {})
    except ValueError:
        return None
