"""The peer benchmark runs (its quick form, some tools) and prints its table."""

from __future__ import annotations

import os

import pytest

from bench import peers
from sweeper.builtin import data as datasets


@pytest.mark.slow
def test_peers_quick_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    root = os.environ.get("SWEEPER_DATA_DIR", "")
    if not (root and datasets.is_available("mnist", root)):
        if os.environ.get("CI") == "true":
            pytest.fail("MNIST is needed: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
        pytest.skip("MNIST not found: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
    tools = ["sweeper", "joblib", "optuna 2 procs"]
    assert peers.main(["--data-dir", root, "--quick", "--tools", ",".join(tools)]) == 0
    out = capsys.readouterr().out
    assert "| tool | seconds" in out
    for tool in tools:
        assert f"| {tool} |" in out
    # every tool trained the same grid, so each finds the same best configuration
    assert len({line.split("|")[5] for line in out.splitlines() if line.startswith(("| sweeper", "| joblib"))}) == 1


def test_peers_says_when_mnist_is_missing(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert peers.main(["--data-dir", str(tmp_path)]) == 2
    assert "MNIST is missing" in capsys.readouterr().err


def test_peers_refuses_an_unknown_tool(capsys: pytest.CaptureFixture[str]) -> None:
    root = os.environ.get("SWEEPER_DATA_DIR", "")
    if not (root and datasets.is_available("mnist", root)):
        pytest.skip("MNIST not found")
    assert peers.main(["--data-dir", root, "--tools", "ray"]) == 2
    assert "unknown tools" in capsys.readouterr().err
