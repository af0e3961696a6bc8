"""The tutorial's MLP(30) as a LightningModule: `lr_momentum`'s grid, trained by lightning.Trainer.

The same network (784 -> 30 -> ReLU -> 10), the same data (the first 2500 MNIST training
images: 2000 train / 500 validation, pixels / 255), batch 64 with the last incomplete batch
dropped, 3 epochs of SGD, learning rate x momentum on 5 seeds: its verdicts should agree
with `lr_momentum`'s, which trains it with the built-in loop. `lr` and `momentum` go to the
module's constructor, `batch_size` to the datamodule's, `max_epochs` to the Trainer.

The datamodule reads the archives torchvision downloads (MNIST/raw/*-idx*-ubyte.gz under
the sweep's data folder, which it receives as `data_dir`) without extracting them, so a
read-only data folder will do.
"""

import gzip
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sweeper import DataError, Study

N_TRAIN, N_VAL = 2000, 500


class MLP(L.LightningModule):
    def __init__(self, lr: float = 0.05, momentum: float = 0.0, hidden_size: int = 30) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self(x)
        self.log("val_loss", nn.functional.cross_entropy(out, y))
        self.log("val_acc", (out.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=self.hparams.momentum)


class MNIST2500(L.LightningDataModule):
    def __init__(self, data_dir: str = "data", batch_size: int = 64) -> None:
        super().__init__()
        self.data_dir, self.batch_size = data_dir, batch_size

    def setup(self, stage: str) -> None:
        x = _idx(self.data_dir, "train-images-idx3-ubyte.gz", 16, N_TRAIN + N_VAL, 784)
        y = _idx(self.data_dir, "train-labels-idx1-ubyte.gz", 8, N_TRAIN + N_VAL, 1)
        x = torch.from_numpy(x).float().div(255).view(-1, 1, 28, 28)
        y = torch.from_numpy(y).long().view(-1)
        self.train_set = TensorDataset(x[:N_TRAIN], y[:N_TRAIN])
        self.val_set = TensorDataset(x[N_TRAIN:], y[N_TRAIN:])

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=N_VAL)


def _idx(root: str, name: str, header: int, n: int, size: int) -> np.ndarray:
    """The first n records of an MNIST idx archive, read from its .gz without extracting it."""
    path = Path(root) / "MNIST" / "raw" / name
    if not path.is_file():
        raise DataError(f"MNIST is not in {root}: {path} is missing; set SWEEPER_DATA_DIR (or --data-dir) to a folder "
                        "with MNIST/raw/*.gz, as torchvision.datasets.MNIST(root, download=True) leaves it")
    with gzip.open(path, "rb") as f:
        f.read(header)
        return np.frombuffer(f.read(n * size), dtype=np.uint8).reshape(n, size).copy()


study = Study(
    name="lightning_mnist",
    description="lr_momentum's MLP(30) grid as a LightningModule trained by lightning.Trainer",
    lightning=MLP,
    datamodule=MNIST2500,
    fixed={"hidden_size": 30, "batch_size": 64, "max_epochs": 3},
    space={"lr": [0.01, 0.05, 0.1, 0.2], "momentum": [0.0, 0.5, 0.9]},
    seeds=5,
    metric="val_acc",
)
