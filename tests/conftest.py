"""Shared fixtures: small studies on scikit-learn's digits (no files needed), and the real
MNIST root when SWEEPER_DATA_DIR points at one (CI sets it; tests that need it skip without,
except under CI, where a missing dataset is a failure)."""

from __future__ import annotations

import os
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


@pytest.fixture
def mnist_root() -> str:
    root = os.environ.get("SWEEPER_DATA_DIR", "")
    if not (Path(root) / "MNIST" / "raw").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs MNIST under SWEEPER_DATA_DIR, got {root!r}")
        pytest.skip("MNIST not available: set SWEEPER_DATA_DIR")
    return root
