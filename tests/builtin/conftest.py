"""Data for the trainer tests: a small MNIST subset where SWEEPER_DATA_DIR holds MNIST,
else scikit-learn's digits, so that the tests run anywhere."""

from __future__ import annotations

import os

import pytest

from sweeper.builtin import data as datasets
from sweeper.builtin.data import DataSpec, Tensors
from sweeper.study.study import Split


def mnist_root() -> str | None:
    root = os.environ.get("SWEEPER_DATA_DIR")
    return root if root and datasets.is_available("mnist", root) else None


@pytest.fixture(scope="session")
def mnist_dir() -> str | None:
    """The data root that holds MNIST, or None."""
    return mnist_root()


@pytest.fixture(scope="session")
def small_data() -> Tensors:
    """1000 training and 300 validation images (of MNIST, or of digits)."""
    root = mnist_root()
    spec = DataSpec("mnist", root, Split(1000, 300)) if root else DataSpec("digits", "", Split(1000, 300))
    return datasets.load(spec)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> None:
    """As in sweeper's workers: one thread, so that timings do not depend on other processes
    competing for the cores (oversubscribed threads make small models many times slower)."""
    import torch

    torch.set_num_threads(1)
