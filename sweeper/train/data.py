"""Datasets as in-memory tensors, loaded once per process and kept between trials.

`digits` is scikit-learn's bundled 8x8 digits and works anywhere. `mnist`, `fashion_mnist`
and `cifar10` come through torchvision from a data root laid out as torchvision expects
(`<root>/MNIST/raw/*.gz`, `<root>/cifar-10-batches-py/`), downloading only when missing.
Images are scaled to [0, 1] exactly as `transforms.ToTensor()` does in the notes.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sweeper.errors import DataError
from sweeper.study import Split
from sweeper.trial import DataSpec

DOWNLOAD_TIMEOUT_S = 20
DIGITS_TRAIN = 1500  # scikit-learn's digits have no official split: the last 297 are its "test"


@dataclass
class Tensors:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    n_outputs: int  # 10 classes, or 1 logit for the binary small-digit task

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


_CACHE: dict[DataSpec, Tensors] = {}


def load(spec: DataSpec) -> Tensors:
    """The spec's tensors, from this process's cache after the first call."""
    if spec not in _CACHE:
        _CACHE[spec] = _build(spec)
    return _CACHE[spec]


def is_available(dataset: str, root: str) -> bool:
    """Whether the dataset's files are under root (extracting a present archive counts)."""
    try:
        _official(dataset, root, train=True, download=False)
        return True
    except DataError:
        return False


def prepare(dataset: str, root: str) -> None:
    """Make the dataset loadable from root, downloading if allowed; DataError if impossible.

    Run once in the driver, so that workers only ever read finished files.
    """
    if dataset == "digits":
        return
    for train in (True, False):
        _official(dataset, root, train=train, download=True)


def train_size(dataset: str, root: str) -> int:
    """Images in the dataset's official training split."""
    return len(_official(dataset, root, train=True, download=False)[1])


def _build(spec: DataSpec) -> Tensors:
    x_all, y_all = _official(spec.dataset, spec.root, train=True, download=False)
    split = fit_split(spec.split, len(x_all))
    start, mid = split.offset, split.offset + (split.train or 0)
    end = mid + split.val
    x_test = y_test = None
    if split.test:
        x_test, y_test = _official(spec.dataset, spec.root, train=False, download=False)
    if spec.standardize is not None:
        mean, std = spec.standardize
        x_all = (x_all - mean) / std
        x_test = None if x_test is None else (x_test - mean) / std
    y_train, y_val = y_all[start:mid], y_all[mid:end]
    n_outputs = 10
    if spec.task == "small_digit":  # one logit: is the digit 0, 1 or 2?
        y_train, y_val = (y_train < 3).float(), (y_val < 3).float()
        y_test = None if y_test is None else (y_test < 3).float()
        n_outputs = 1
    return Tensors(x_all[start:mid], y_train, x_all[mid:end], y_val, x_test, y_test, n_outputs)


def fit_split(split: Split, available: int) -> Split:
    """The split itself if it fits in `available` images, else DataError."""
    train = split.train if split.train is not None else available - split.offset - split.val
    if train < 1 or split.offset + train + split.val > available:
        raise DataError(
            f"split train={split.train} val={split.val} offset={split.offset} needs "
            f"{split.offset + max(train, 1) + split.val} training images, but the dataset has {available}"
        )
    return Split(train=train, val=split.val, test=split.test, offset=split.offset)


def scaled_for(split: Split, available: int) -> Split:
    """The split shrunk in proportion to fit a smaller dataset (used for a fallback dataset)."""
    train = split.train if split.train is not None else available
    need = split.offset + train + split.val
    if need <= available:
        return split
    scale = available / need
    return Split(train=max(1, int(train * scale)), val=int(split.val * scale), test=split.test, offset=0)


def _official(dataset: str, root: str, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The official train or test split as (float images N x C x H x W in [0, 1], int64 labels)."""
    if dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.tensor(d.target, dtype=torch.int64)
        return (x[:DIGITS_TRAIN], y[:DIGITS_TRAIN]) if train else (x[DIGITS_TRAIN:], y[DIGITS_TRAIN:])
    ds = _torchvision(dataset, root, train, download)
    data = torch.as_tensor(ds.data)
    if data.ndim == 3:  # MNIST-like: N x 28 x 28
        data = data.unsqueeze(1)
    else:  # CIFAR-10: N x 32 x 32 x 3
        data = data.permute(0, 3, 1, 2)
    x = data.contiguous().float().div(255)
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return x, y


def _torchvision(dataset: str, root: str, train: bool, download: bool) -> Any:
    from torchvision import datasets

    classes = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "cifar10": _CIFAR10}
    cls = classes[dataset]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return cls(root, train=train, download=download)
    except Exception as e:  # torchvision raises RuntimeError, URLError, OSError, ...
        raise DataError(missing_message(dataset, root, e)) from None
    finally:
        socket.setdefaulttimeout(old)


def missing_message(dataset: str, root: str, cause: BaseException | None = None) -> str:
    where = {"mnist": "MNIST/raw/", "fashion_mnist": "FashionMNIST/raw/", "cifar10": "cifar-10-batches-py/"}
    path = Path(root).resolve() / where.get(dataset, "")
    why = f" ({type(cause).__name__})" if cause is not None else ""
    return (
        f"dataset {dataset} is not under {path} and could not be downloaded{why}; "
        f"put the files there, or point --data-dir / SWEEPER_DATA_DIR (on a Dask worker: "
        f"SWEEPER_WORKER_DATA_DIR) at a folder that has them"
    )


def _cifar10_class() -> Any:
    from torchvision.datasets import CIFAR10

    class CIFAR10Files(CIFAR10):
        """CIFAR-10 that trusts present batch files instead of checking their md5 sums,
        so that a subset written in CIFAR-10's own format loads too."""

        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            names = [name for name, _ in self.train_list + self.test_list] + [self.meta["filename"]]
            return all((folder / name).is_file() for name in names)

        def _load_meta(self) -> None:
            import pickle

            with (Path(self.root) / self.base_folder / self.meta["filename"]).open("rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return CIFAR10Files


def _CIFAR10(root: str, train: bool, download: bool) -> Any:
    return _cifar10_class()(root, train=train, download=download)
