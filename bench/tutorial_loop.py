"""The course notebook's training loop (the tutorial), transcribed as the baseline.

Kept as the notebook has it: a DataLoader over a Python list of (image, label) pairs, and
training and validation accuracy recomputed after every iteration by `get_accuracy`, which
builds a DataLoader over the list each time and runs the model with gradients tracked.
Only the plotting and printing are left out, the datasets are passed in instead of read
from globals, and `train` returns its learning curves. bench/bench.py times it and
tests/builtin/test_tutorial.py compares sweeper's trainer with it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.optim as optim


class MLP(nn.Module):
    def __init__(self, num_hidden: int) -> None:
        super().__init__()
        self.layer1 = nn.Linear(28 * 28, num_hidden)
        self.layer2 = nn.Linear(num_hidden, 10)
        self.num_hidden = num_hidden

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        flattened = img.view(-1, 28 * 28)  # flatten the image
        activation1 = self.layer1(flattened)
        activation1 = torch.relu(activation1)
        activation2 = self.layer2(activation1)
        return activation2


def pairs(x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, int]]:
    """What `list(datasets.MNIST(..., transform=transforms.ToTensor()))[:n]` holds: one
    (1 x 28 x 28 float image in [0, 1], int label) pair per image."""
    return [(x[i], int(y[i])) for i in range(len(x))]


def get_accuracy(model: nn.Module, data: list[tuple[torch.Tensor, int]], batch_size: int) -> float:
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size)
    model.eval()  # annotate model for evaluation
    correct = 0
    total = 0
    for imgs, labels in loader:
        output = model(imgs)  # We don't need to run torch.softmax
        pred = output.max(1, keepdim=True)[1]  # get the index of the max log-probability
        correct += pred.eq(labels.view_as(pred)).sum().item()
        total += imgs.shape[0]
    return correct / total


def train(model: nn.Module, mnist_train: list[Any], mnist_val: list[Any], batch_size: int = 64,
          weight_decay: float = 0.0, optimizer: str = "sgd", learning_rate: float = 0.1, momentum: float = 0.9,
          data_shuffle: bool = True, num_epochs: int = 10) -> dict[str, list[float]]:
    # training data
    train_loader = torch.utils.data.DataLoader(mnist_train, batch_size=batch_size, shuffle=data_shuffle)
    # loss function
    criterion = nn.CrossEntropyLoss()
    # optimizer
    assert optimizer in ("sgd", "adam")
    if optimizer == "sgd":
        opt: optim.Optimizer = optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum,
                                         weight_decay=weight_decay)
    else:
        opt = optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    # track learning curve
    iters: list[float] = []
    losses: list[float] = []
    train_acc: list[float] = []
    val_acc: list[float] = []
    # training
    n = 0  # the number of iterations (for plotting)
    for _epoch in range(num_epochs):
        for imgs, labels in iter(train_loader):
            if imgs.size()[0] < batch_size:
                continue
            model.train()  # annotate model for training
            out = model(imgs)
            loss = criterion(out, labels)
            loss.backward()
            opt.step()
            opt.zero_grad()
            # save the current training information
            iters.append(n)
            losses.append(float(loss) / batch_size)  # compute *average* loss
            train_acc.append(get_accuracy(model, mnist_train, batch_size=4096))  # compute training accuracy
            val_acc.append(get_accuracy(model, mnist_val, batch_size=1024))  # compute validation accuracy
            n += 1
    return {"iters": iters, "losses": losses, "train_acc": train_acc, "val_acc": val_acc}


def run(seed: int, mnist_train: list[Any], mnist_val: list[Any], **kwargs: Any) -> dict[str, list[float]]:
    """One seeded run of the notebook's `model = MLP(30); train(model, mnist_train, ...)`. The
    seed fixes the initialisation (the same weights as sweeper's MLP(30) for that seed) and,
    through torch's global RNG, the DataLoader's shuffling."""
    torch.manual_seed(seed)
    model = MLP(30)
    return train(model, mnist_train, mnist_val, **kwargs)
