"""Your own training loop: any PyTorch code that trains one configuration with one seed.

sweeper calls `train(config, seed, log)` once per (configuration, seed), in worker
processes, after seeding Python's `random`, NumPy and torch with the seed (so
`torch.randperm` below and the model's initialisation are reproducible), and writes the
returned dict as the trial's row: here macro-F1, the study's metric, and accuracy.
`log(epoch=..., val_f1=...)` adds curve rows (split `val`, metric `f1`) that `sweep
report` draws. Names in `space` and `fixed` reach `config` as they are: the loop decides
what they mean.
"""

import torch
from torch import nn

from sweeper import Study


def macro_f1(pred, target, classes=10):
    """The mean over classes of F1 (2 precision recall / (precision + recall))."""
    scores = []
    for c in range(classes):
        tp = ((pred == c) & (target == c)).sum().item()
        fp = ((pred == c) & (target != c)).sum().item()
        fn = ((pred != c) & (target == c)).sum().item()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    return sum(scores) / classes


def train(config, seed, log):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x, dtype=torch.float32) / 16, torch.tensor(y)
    x_train, y_train, x_val, y_val = x[:1200], y[:1200], x[1200:], y[1200:]
    model = nn.Sequential(nn.Linear(64, config["hidden"]), nn.ReLU(), nn.Linear(config["hidden"], 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])
    for epoch in range(1, 2 if log.dry_run else config["epochs"] + 1):  # --dry-run: one epoch
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), config["batch"]):
            batch = order[i:i + config["batch"]]
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            pred = model(x_val).argmax(1)
        f1, acc = macro_f1(pred, y_val), (pred == y_val).float().mean().item()
        log(epoch=epoch, train_loss=loss.item(), val_f1=f1, val_acc=acc)
    return {"val_f1": f1, "val_acc": acc}


study = Study(
    name="own_loop",
    description="own training loop: digits MLP, macro-F1 over hidden size x learning rate",
    train=train,
    fixed={"epochs": 8, "batch": 32, "momentum": 0.9},
    space={"hidden": [8, 32], "lr": [0.01, 0.05, 0.2]},
    metric="val_f1",
    seeds=5,
)
