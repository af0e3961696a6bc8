"""The networks of the course notes, built from a configuration.

- `mlp`: the tutorial's MLP (and MLPBN / MLPBNBeforeReLu), generalised to `num_layers` hidden
  layers of `hidden_size` units, with the normalization placement and dropout searched.
- `cnn`: the tutorial's small CNN (conv 4 -> pool -> conv 8 -> pool -> linear), and its CNNBN
  variant (BatchNorm after each ReLU) with normalization="bn_after_relu".
- `lenet`: the LeNet notebook's CNN, for 28x28 or larger images.

Every model returns raw logits: CrossEntropyLoss for 10 classes, BCEWithLogitsLoss for the
single logit of the small-digit task (the LeNet notebook's log_softmax + nll_loss is the same loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

CNN_NORMALIZATIONS = ("none", "bn_before_relu", "bn_after_relu")


def build(config: Mapping[str, Any], input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    """A freshly initialised model; seed torch's RNG first for a reproducible initialisation."""
    kind = config["model"]
    if kind == "mlp":
        model: nn.Module = MLP(input_shape, config["hidden_size"], config["num_layers"], n_outputs,
                               config["normalization"], config["dropout"])
    elif kind == "cnn":
        model = CNN(input_shape, n_outputs, config["normalization"])
    elif kind == "lenet":
        model = LeNet(input_shape, n_outputs, config["normalization"])
    else:
        raise ValueError(f"unknown model {kind!r}")
    if config["init"] == "zeros":
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
    return model


class MLP(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], hidden_size: int, num_layers: int,
                 n_outputs: int, normalization: str = "none", dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = _numel(input_shape)
        for _ in range(num_layers):
            layers.append(nn.Linear(width, hidden_size))
            if normalization == "bn_before_relu":
                layers.append(nn.BatchNorm1d(hidden_size))
            layers.append(nn.ReLU())
            if normalization == "bn_after_relu":
                layers.append(nn.BatchNorm1d(hidden_size))
            elif normalization == "layernorm":  # after the ReLU, as in the lecture slides
                layers.append(nn.LayerNorm(hidden_size))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden_size
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _conv_block(conv: nn.Conv2d, normalization: str) -> list[nn.Module]:
    bn = nn.BatchNorm2d(conv.out_channels)
    if normalization == "bn_before_relu":
        return [conv, bn, nn.ReLU()]
    if normalization == "bn_after_relu":
        return [conv, nn.ReLU(), bn]
    return [conv, nn.ReLU()]


class CNN(nn.Module):
    """Seed 000's CNN: relu(conv 3x3, 4) -> pool -> relu(conv 3x3, 8) -> pool -> linear."""

    def __init__(self, input_shape: tuple[int, ...], n_outputs: int, normalization: str = "none") -> None:
        super().__init__()
        _require(normalization in CNN_NORMALIZATIONS, f"model cnn supports normalization {list(CNN_NORMALIZATIONS)}, not {normalization!r}")
        channels = input_shape[0]
        self.features = nn.Sequential(
            *_conv_block(nn.Conv2d(channels, 4, kernel_size=3, padding=1), normalization),
            nn.MaxPool2d(2, 2),
            *_conv_block(nn.Conv2d(4, 8, kernel_size=3, padding=1), normalization),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
        )
        self.fc = nn.Linear(_flat_size(self.features, input_shape), n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class LeNet(nn.Module):
    """Seed 002's network: conv 5x5 (6) -> pool -> relu -> conv 2x2/2 (16) -> pool -> relu
    -> conv 2x2/2 (120) -> relu -> linear 84 -> relu -> linear."""

    def __init__(self, input_shape: tuple[int, ...], n_outputs: int, normalization: str = "none") -> None:
        super().__init__()
        _require(normalization == "none", f"model lenet supports normalization 'none' only, not {normalization!r}")
        _require(min(input_shape[1:]) >= 28, f"model lenet needs images of at least 28x28, not {input_shape[1]}x{input_shape[2]}")
        self.features = nn.Sequential(
            nn.Conv2d(input_shape[0], 6, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(6, 16, kernel_size=2, stride=2), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(16, 120, kernel_size=2, stride=2), nn.ReLU(),
            nn.Flatten(),
        )
        flat = _flat_size(self.features, input_shape)
        self.classifier = nn.Sequential(nn.Linear(flat, 84), nn.ReLU(), nn.Linear(84, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _flat_size(features: nn.Module, input_shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        was_training = features.training
        features.eval()  # a BatchNorm in train mode refuses a batch of one
        out = features(torch.zeros(1, *input_shape))
        features.train(was_training)
    return out.shape[1]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
