"""The documented benchmark command runs (its quick form) and prints its table."""

from __future__ import annotations

import os

import pytest

from bench import bench
from sweeper.builtin import data as datasets


@pytest.mark.slow
def test_bench_quick_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    root = os.environ.get("SWEEPER_DATA_DIR", "")
    if not (root and datasets.is_available("mnist", root)):
        if os.environ.get("CI") == "true":
            pytest.fail("MNIST is needed: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
        pytest.skip("MNIST not found: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
    assert bench.main(["--data-dir", root, "--quick", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for case in ("(a) notebook loop", "(b) sweeper", "(c) sweeper", "(d) 8 seeds vectorized", "(e) study",
                 "(f) sweep --help"):
        assert case in out


def test_bench_says_when_mnist_is_missing(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--data-dir", str(tmp_path)]) == 2
    assert "MNIST is missing" in capsys.readouterr().err
