"""A sweep as a notebook runs it: the model class is defined right here (in `__main__`, as
a notebook cell defines it) and `sweeper.run` trains it in 2 worker processes.

    python examples/notebook.py                      # local worker processes
    python examples/notebook.py --executor dask      # a local Dask cluster

In Jupyter, paste the cells below the imports into a notebook: the progress line redraws
in the cell, and `results` is what `sweeper.load` gives.
"""

import argparse

from torch import nn

import sweeper
from sweeper import Split, Study


class TwoLayer(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.net(x)


study = Study(
    name="notebook",
    description="a model class defined in __main__, swept from Python",
    dataset="digits",
    model=lambda config: TwoLayer(config["hidden"]),
    split=Split(train=1000, val=400),
    fixed={"epochs": 4, "batch_size": 32},
    space={"hidden": [16, 64], "learning_rate": [0.05, 0.2]},
    seeds=3,
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", default="local")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    results = sweeper.run(study, jobs=2, executor=args.executor, results=args.results)
    print(results.summary[["label", "rank", "val_acc_mean", "val_acc_ci_low", "val_acc_ci_high"]].to_string(index=False))
