"""Your own model on a built-in dataset: a small residual CNN on Fashion-MNIST, with its
own hyperparameters (`width`, `depth`) beside the built-in trainer's learning rate and
dropout.

`model=` is any function config -> torch.nn.Module. The built-in trainer does the rest as
for its own models: the seed fixes the initialisation (torch's RNG is seeded just before
`model(config)` is called) and the batch order; optimiser, lr decay, early stopping,
curves, `--vectorize` and `--device` all apply. A name the study gives must be read by the
model or be one of the trainer's, so a typo is caught when the study loads.
"""

from torch import nn

from sweeper import Split, Study


class Block(nn.Module):
    """conv-BN-ReLU-conv-BN, added to its input."""

    def __init__(self, width):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))

    def forward(self, x):
        return nn.functional.relu(x + self.body(x))


class ResNet(nn.Module):
    """A strided stem (28x28 -> 14x14), `depth` residual blocks of `width` channels,
    global average pooling, dropout and a linear classifier: any image size works."""

    def __init__(self, width, depth, dropout, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[Block(width) for _ in range(depth)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def resnet(config):
    return ResNet(config["width"], config["depth"], config["dropout"])


study = Study(
    name="own_model",
    description="own model: residual CNN on Fashion-MNIST, width x depth x learning rate x dropout",
    dataset="fashion_mnist",
    fallback="digits",  # where Fashion-MNIST is missing: the model takes 8x8 images too
    model=resnet,
    split=Split(train=2000, val=1000),
    fixed={"optimizer": "adam", "epochs": 2, "batch_size": 64},
    space={"width": [8, 16], "depth": [1, 2], "learning_rate": [0.003, 0.01], "dropout": [0.0, 0.25]},
    seeds=3,
)
