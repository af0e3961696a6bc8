"""sweeper's trainer against the course notebook's own loop (bench/tutorial_loop.py)."""

from __future__ import annotations

import math
import os
import statistics

import pytest
import torch

from bench import tutorial_loop
from sweeper.builtin import data as datasets
from sweeper.builtin.data import DataSpec
from sweeper.builtin.hparams import resolve
from sweeper.builtin.loop import train
from sweeper.builtin.models import build
from sweeper.study.study import Split

# The notebook's cell: model = MLP(30); train(model, mnist_train, learning_rate=0.05, momentum=0.9, num_epochs=3)
NOTEBOOK = {"learning_rate": 0.05, "momentum": 0.9, "num_epochs": 3}
CONFIG = resolve({"model": "mlp", "hidden_size": 30, "learning_rate": 0.05, "momentum": 0.9, "epochs": 3})


def test_a_seed_gives_the_notebooks_mlp_and_sweepers_the_same_weights() -> None:
    torch.manual_seed(11)
    notebook = tutorial_loop.MLP(30)
    torch.manual_seed(11)
    ours = build(CONFIG, (1, 28, 28), 10)
    for a, b in zip(notebook.parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_mean_validation_accuracy_over_8_seeds_equals_the_notebooks(mnist_dir: str | None) -> None:
    root = mnist_dir
    if root is None:
        if os.environ.get("CI") == "true":
            pytest.fail("MNIST is needed: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
        pytest.skip("MNIST not found: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
    data = datasets.load(DataSpec("mnist", root, Split(2000, 500)))
    mnist_train = tutorial_loop.pairs(data.x_train, data.y_train)
    mnist_val = tutorial_loop.pairs(data.x_val, data.y_val)
    seeds = range(8)
    notebook = [tutorial_loop.run(seed, mnist_train, mnist_val, **NOTEBOOK)["val_acc"][-1] for seed in seeds]
    ours = [train(CONFIG, seed, data, "epoch").metrics["val_acc"] for seed in seeds]
    # Same initialisation per seed, different shuffling: the means of 8 seeds differ by
    # about sd * sqrt(2 / 8). Allow three such standard errors.
    se = math.sqrt((statistics.variance(notebook) + statistics.variance(ours)) / len(seeds))
    assert abs(statistics.fmean(ours) - statistics.fmean(notebook)) <= 3 * se + 1e-9
    print(f"\nnotebook loop: val_acc {statistics.fmean(notebook):.4f} +- {1.96 * statistics.stdev(notebook) / math.sqrt(8):.4f}"
          f"; sweeper: {statistics.fmean(ours):.4f} +- {1.96 * statistics.stdev(ours) / math.sqrt(8):.4f} (95% CI, 8 seeds)")
