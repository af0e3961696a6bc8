"""The floor of a sweep of MLPs on this machine: the arithmetic of its matrix products at the
measured single-thread product rate, on every worker, plus the start-up of an interpreter
and of torch. No tool that trains and evaluates the same models can take less.

The arithmetic, per model: every training step's three products of the first layer's size
(forward, and the weight's gradient; its input needs none) and of the second's (forward,
the input's and the weight's gradients), 2 operations per multiply-add; every evaluation's
forward pass over both splits after each epoch.
"""

from __future__ import annotations

import subprocess
import sys
import time


def grid_flops(models: int, epochs: int, train: int, val: int, batch: int, hidden: int, inputs: int = 784,
               classes: int = 10) -> tuple[float, float]:
    """The training and evaluation FLOPs of `models` MLPs (one hidden layer) on the split."""
    first, second = inputs * hidden, hidden * classes
    step = 2 * batch * (2 * first + 3 * second)
    training = models * epochs * (train // batch) * step
    evaluation = models * epochs * (train + val) * 2 * (first + second)
    return float(training), float(evaluation)


def gemm_rate(repeats: int = 5) -> float:
    """GFLOP/s of one torch thread on a 4096 x 784 x 900 product, best of `repeats`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(4096, 784), torch.randn(784, 900)
        a @ b
        best = min(_timed(lambda: a @ b) for _ in range(repeats))
    finally:
        torch.set_num_threads(threads)
    return 2 * 4096 * 784 * 900 / best / 1e9


def startup(repeats: int = 3) -> tuple[float, float]:
    """Wall seconds of a bare interpreter and of `import torch`, each best of `repeats`."""
    def run(code: str) -> float:
        return min(_timed(lambda: subprocess.run([sys.executable, "-c", code], check=True)) for _ in range(repeats))

    return run("pass"), run("import torch")


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start
