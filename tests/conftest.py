"""Shared fixtures: small studies on scikit-learn's digits (no files needed), and the real
MNIST root when SWEEPER_DATA_DIR points at one (CI sets it; tests that need it skip without,
except under CI, where a missing dataset is a failure)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from sweeper import Split, Study

ROOT = Path(__file__).resolve().parents[1]


def tiny_study(**overrides: Any) -> Study:
    """A study that trains in well under a second per trial on digits."""
    fields: dict[str, Any] = dict(
        name="tiny", dataset="digits", split=Split(train=400, val=200),
        fixed={"hidden_size": 16, "epochs": 2, "batch_size": 32, "learning_rate": 0.1},
        space={"momentum": [0.0, 0.9]}, seeds=2,
    )
    fields.update(overrides)
    return Study(**fields)


def trainer_for_spec(spec: Any, **fields: Any) -> Any:
    """The built-in trainer of a study on `spec`'s dataset, prepared to load exactly `spec`."""
    study = Study(name="t", dataset=spec.dataset, split=spec.split, task=spec.task, **fields)
    trainer = study.trainer
    trainer.spec = spec
    return trainer


@pytest.fixture
def mnist_root() -> str:
    root = os.environ.get("SWEEPER_DATA_DIR", "")
    if not (Path(root) / "MNIST" / "raw").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs MNIST under SWEEPER_DATA_DIR, got {root!r}")
        pytest.skip("MNIST not available: set SWEEPER_DATA_DIR")
    return root


@pytest.fixture(scope="session")
def torchvision_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the MNIST and Fashion-MNIST archives under SWEEPER_DATA_DIR, extracted there
    by torchvision itself: what sweeper reads is compared with it, and the shared data root
    (possibly read-only) is never written to."""
    source = Path(os.environ.get("SWEEPER_DATA_DIR", ""))
    if not (source / "MNIST" / "raw").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs MNIST under SWEEPER_DATA_DIR, got {str(source)!r}")
        pytest.skip("MNIST not available: set SWEEPER_DATA_DIR")
    from torchvision import datasets

    root = tmp_path_factory.mktemp("torchvision")
    for folder, cls in (("MNIST", datasets.MNIST), ("FashionMNIST", datasets.FashionMNIST)):
        if (source / folder / "raw").is_dir():
            (root / folder / "raw").mkdir(parents=True)
            for archive in (source / folder / "raw").glob("*.gz"):
                shutil.copy(archive, root / folder / "raw")
            cls(str(root), train=True, download=True)  # verifies the archives and extracts them, offline
    return str(root)
