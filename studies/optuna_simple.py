"""Optuna's PyTorch example as a sweeper study: its objective, as written for `study.optimize`.

The objective is that of optuna-examples' `pytorch/pytorch_simple.py`: an MLP on
Fashion-MNIST with 1-3 layers, each with its own width (`n_units_l{i}`, 4-128) and dropout
(`dropout_l{i}`, 0.2-0.5), optimizer Adam, RMSprop or SGD with torch's defaults, and a
log-scale learning rate `lr` (1e-5 to 1e-1); 10 epochs of 30 batches of 128, each scored on
10 batches of the test split, reported every epoch with a pruning check. Only the lines marked
`# [sweeper]` differ from a plain Optuna script: where the data is, and the Study at the end
instead of `optuna.create_study(direction="maximize").optimize(objective, n_trials=100)`.

Each of the 20 configurations Bayesian search proposes is trained with 3 seeds, and the
verdicts say which differences are real. `studies/optuna_simple_pruned.py` is the same study
with seed-aware pruning rungs, which the objective's `trial.should_prune()` obeys.
"""

import os
import shutil
import tempfile

import optuna
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torch.utils.data
from torchvision import datasets, transforms

from sweeper import Study

DEVICE = torch.device("cpu")
BATCHSIZE = 128
CLASSES = 10
EPOCHS = 10
N_TRAIN_EXAMPLES = BATCHSIZE * 30
N_VALID_EXAMPLES = BATCHSIZE * 10


def _data_dir() -> str:  # [sweeper] the archives of $SWEEPER_DATA_DIR (or ./data) copied where torchvision may
    source = os.path.join(os.environ.get("SWEEPER_DATA_DIR", "data"), "FashionMNIST", "raw")  # extract them
    target = os.path.join(tempfile.gettempdir(), "sweeper-optuna-simple")
    if os.path.isdir(source) and not os.path.isdir(os.path.join(target, "FashionMNIST", "processed")):
        shutil.copytree(source, os.path.join(target, "FashionMNIST", "raw"), dirs_exist_ok=True)
        datasets.FashionMNIST(target, train=True, download=True)  # extracts, once, before any worker reads it
    return target


DIR = _data_dir()  # [sweeper] was os.getcwd()


def define_model(trial):
    # The number of layers, and each layer's width and dropout.
    n_layers = trial.suggest_int("n_layers", 1, 3)
    layers = []
    in_features = 28 * 28
    for i in range(n_layers):
        out_features = trial.suggest_int(f"n_units_l{i}", 4, 128)
        layers += [nn.Linear(in_features, out_features), nn.ReLU()]
        layers.append(nn.Dropout(trial.suggest_float(f"dropout_l{i}", 0.2, 0.5)))
        in_features = out_features
    layers += [nn.Linear(in_features, CLASSES), nn.LogSoftmax(dim=1)]
    return nn.Sequential(*layers)


def get_mnist():
    # Fashion-MNIST's training split, and its test split to score on.
    train = datasets.FashionMNIST(DIR, train=True, download=True, transform=transforms.ToTensor())
    valid = datasets.FashionMNIST(DIR, train=False, transform=transforms.ToTensor())
    return (torch.utils.data.DataLoader(train, batch_size=BATCHSIZE, shuffle=True),
            torch.utils.data.DataLoader(valid, batch_size=BATCHSIZE, shuffle=True))


def objective(trial):
    model = define_model(trial).to(DEVICE)
    optimizer_name = trial.suggest_categorical("optimizer", ["Adam", "RMSprop", "SGD"])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    optimizer = getattr(optim, optimizer_name)(model.parameters(), lr=lr)
    train_loader, valid_loader = get_mnist()

    for epoch in range(EPOCHS):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            if batch_idx * BATCHSIZE >= N_TRAIN_EXAMPLES:  # a subset, for faster epochs
                break
            data, target = data.view(data.size(0), -1).to(DEVICE), target.to(DEVICE)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()

        model.eval()
        correct = 0
        with torch.no_grad():
            for batch_idx, (data, target) in enumerate(valid_loader):
                if batch_idx * BATCHSIZE >= N_VALID_EXAMPLES:
                    break
                data, target = data.view(data.size(0), -1).to(DEVICE), target.to(DEVICE)
                pred = model(data).argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        accuracy = correct / min(len(valid_loader.dataset), N_VALID_EXAMPLES)

        trial.report(accuracy, epoch)
        if trial.should_prune():
            raise optuna.exceptions.TrialPruned()

    return accuracy


study = Study(  # [sweeper] in place of optuna.create_study(direction="maximize").optimize(objective, n_trials=...)
    name="optuna_simple",
    description="Optuna's pytorch_simple objective, unchanged: 20 configurations x 3 seeds, Bayesian",
    objective=objective,
    direction="maximize",
    metric="val_acc",  # the returned accuracy's column (the default name is `value`)
    sampler="bayes",
    n_trials=20,
    seeds=3,
)
