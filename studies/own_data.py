"""Your own data: a regression on scikit-learn's bundled diabetes data (442 patients, 10
measurements each, and a number for how far the disease progressed a year later).

`data=` is a function that returns the splits as (inputs, targets) tensors; sweeper calls
it once in the driver (to check it) and once per worker process. Float targets make it a
regression (declared here with task="regress"): the built-in trainer minimises the mean
squared error and reports `val_rmse`. The targets are standardised, so an RMSE of 1.0 is
what always predicting the mean scores. The model is the user's own too: `model=` a
function of the configuration, which reads its own hyperparameters (`width`) beside the
built-in trainer's (`learning_rate`, `dropout` passed on to the model).
"""

import torch
from torch import nn

from sweeper import Study


def diabetes():
    """Train / validation / test splits of the diabetes data (300 / 71 / 71), standardised
    with the training split's means and deviations. The split is fixed: every seed and
    configuration sees the same patients."""
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, val, test = order[:300], order[300:371], order[371:]
    x = (x - x[train].mean(0)) / x[train].std(0)
    y = (y - y[train].mean()) / y[train].std()
    return (x[train], y[train]), (x[val], y[val]), (x[test], y[test])


def mlp(config):
    width = config["width"]
    return nn.Sequential(nn.Linear(10, width), nn.ReLU(), nn.Dropout(config["dropout"]), nn.Linear(width, 1))


study = Study(
    name="own_data",
    description="own data and model: diabetes progression regression, MLP width x dropout x learning rate",
    data=diabetes,
    task="regress",
    model=mlp,
    fixed={"optimizer": "adam", "epochs": 40, "batch_size": 32, "weight_decay": 1e-4},
    space={"learning_rate": [0.001, 0.01], "width": [8, 64], "dropout": [0.0, 0.3]},
    metric="val_rmse",
    seeds=5,
)
