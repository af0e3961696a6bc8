"""Where trials train: the CPU, or a CUDA GPU that torch sees."""

from __future__ import annotations

from sweeper.errors import RunError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> str:
    """`auto` is the GPU where torch sees one, else the CPU; `cuda` without a GPU is an error."""
    if name not in DEVICES:
        raise RunError(f"device {name!r} is not known; choose one of {', '.join(DEVICES)}")
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError("device cuda was asked for, but torch sees no CUDA GPU here; use --device cpu or auto")
    return name
