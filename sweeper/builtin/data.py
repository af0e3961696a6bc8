"""Datasets as in-memory tensors, loaded once per process and kept between trials.

`digits` is scikit-learn's bundled 8x8 digits and works anywhere. `mnist`, `fashion_mnist`
and `cifar10` come through torchvision from a data root laid out as torchvision expects
(`<root>/MNIST/raw/*.gz`, `<root>/cifar-10-batches-py/`), downloading only when missing.
Images are scaled to [0, 1] exactly as `transforms.ToTensor()` does in the notes.
MNIST-format files under the root are read directly, extracted or still gzipped, without
importing torchvision (seconds of start-up in every worker process) and without writing to
the root, which may be read-only (a shared data folder).
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import socket
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sweeper.errors import DataError
from sweeper.execution.devices import DEVICES, resolve_device  # noqa: F401 (re-exported for trainers and tests)
from sweeper.study.study import Split

DOWNLOAD_TIMEOUT_S = 20
DIGITS_TRAIN = 1500  # scikit-learn's digits have no official split: the last 297 are its "test"
_IDX_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
WORKER_DATA_ENV = "SWEEPER_WORKER_DATA_DIR"  # a worker's own data root, over the driver's


@dataclass(frozen=True)
class DataSpec:
    """Everything a worker needs to load a built-in dataset itself (picklable, hashable)."""

    dataset: str
    root: str
    split: Split
    task: str = "classify"
    standardize: tuple[float, float] | None = None  # (mean, std) of the pixels, or None


def worker_data(spec: DataSpec) -> DataSpec:
    """The spec this process loads: the driver's, or under this worker's own data root."""
    root = os.environ.get(WORKER_DATA_ENV)
    return dataclasses.replace(spec, root=root) if root else spec


@dataclass
class Tensors:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    n_outputs: int  # classes, 1 logit for the binary small-digit task, or regression targets
    regress: bool = False  # targets are numbers (MSE loss, RMSE), not class labels

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def head(self, n: int) -> Tensors:
        """The first n images of every split: what a dry run evaluates on (a smoke test, not a measurement)."""
        def cut(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[:n]

        return Tensors(self.x_train[:n], self.y_train[:n], self.x_val[:n], self.y_val[:n],
                       cut(self.x_test), cut(self.y_test), self.n_outputs, self.regress)

    def to(self, device: str | torch.device) -> Tensors:
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[name] = value.to(device)
        return Tensors(**moved)


_CACHE: dict[tuple[DataSpec, str], Tensors] = {}


def load(spec: DataSpec, device: str = "cpu") -> Tensors:
    """The spec's tensors on `device`, from this process's cache after the first call: a
    worker reads and moves its data once, however many trials it runs."""
    key = (spec, device)
    if key not in _CACHE:
        _CACHE[key] = _build(spec) if device == "cpu" else load(spec).to(device)
    return _CACHE[key]


def is_available(dataset: str, root: str) -> bool:
    """Whether the dataset's files are under root, without downloading."""
    try:
        prepare(dataset, root, download=False)
        return True
    except DataError:
        return False


DEFAULT_ROOT = "data"  # the data root when none is given: created on the first download


def prepare(dataset: str, root: str, download: bool = True) -> None:
    """Make the dataset loadable from root, downloading if missing and allowed; DataError if impossible.

    Run once in the driver, so that workers only ever read finished files. MNIST-format
    files that are there already are checked by their headers alone (reading them whole
    would cost the driver a second before any worker starts).
    """
    if dataset == "digits":
        return
    if download and not Path(root).is_dir() and Path(root) != Path(DEFAULT_ROOT):
        # a mistyped --data-dir must not grow a tree of folders wherever it points
        raise DataError(f"data root {root} does not exist; check --data-dir or $SWEEPER_DATA_DIR, "
                        f"or create the folder for {dataset} to be downloaded into it")
    for train in (True, False):
        files = _idx_files(dataset, root, train)
        if files is None:
            _official(dataset, root, train=train, download=download)
            continue
        if _idx_header(files[0])[0] != _idx_header(files[1])[0]:
            raise DataError(f"{files[0]} and {files[1]} hold different numbers of items; "
                            "replace them with the original files")
        for path in files:
            _check_whole(path)


def train_size(dataset: str, root: str) -> int:
    """Images in the dataset's official training split."""
    files = _idx_files(dataset, root, train=True)
    if files is not None:
        return _idx_header(files[1])[0]
    return len(_official(dataset, root, train=True, download=False)[1])


def check_split(spec: DataSpec) -> None:
    """DataError now, in the driver, rather than in every trial, if the spec's split does not fit."""
    fit_split(spec.split, train_size(spec.dataset, spec.root))


def _build(spec: DataSpec) -> Tensors:
    needed = None if spec.split.train is None else spec.split.offset + spec.split.train + spec.split.val
    x_all, y_all = _official(spec.dataset, spec.root, train=True, download=False, first=needed)
    split = fit_split(spec.split, len(y_all))
    start, mid = split.offset, split.offset + (split.train or 0)
    end = mid + split.val
    x_test = y_test = None
    if split.test:
        x_test, y_test = _official(spec.dataset, spec.root, train=False, download=False)
        x_test = _scaled(x_test, spec.standardize)
    y_train, y_val = y_all[start:mid], y_all[mid:end]
    n_outputs = 10
    if spec.task == "small_digit":  # one logit: is the digit 0, 1 or 2?
        y_train, y_val = (y_train < 3).float(), (y_val < 3).float()
        y_test = None if y_test is None else (y_test < 3).float()
        n_outputs = 1
    return Tensors(_scaled(x_all[start:mid], spec.standardize), y_train, _scaled(x_all[mid:end], spec.standardize),
                   y_val, x_test, y_test, n_outputs)


def _scaled(x: torch.Tensor, standardize: tuple[float, float] | None) -> torch.Tensor:
    """Bytes to floats in [0, 1] as `transforms.ToTensor()` does, then (x - mean) / std as
    `transforms.Normalize` does if asked; only for the images a split uses."""
    x = x.float().div(255) if x.dtype == torch.uint8 else x
    if standardize is not None:
        x = (x - standardize[0]) / standardize[1]
    return x


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


def _official(dataset: str, root: str, train: bool, download: bool,
              first: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The official train or test split as (images N x C x H x W, int64 labels): all labels,
    and the first `first` images (all if None; MNIST-format files are read no further). Images
    are bytes (see `_scaled`) except for digits, which are floats in [0, 1] already."""
    if dataset == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.tensor(d.target, dtype=torch.int64)
        return (x[:DIGITS_TRAIN], y[:DIGITS_TRAIN]) if train else (x[DIGITS_TRAIN:], y[DIGITS_TRAIN:])
    files = _idx_files(dataset, root, train)
    if files is not None:
        data, targets = _idx_tensor(files[0], first), _idx_tensor(files[1])
    else:
        ds = _torchvision(dataset, root, train, download)
        data, targets = torch.as_tensor(ds.data)[:first], ds.targets
    if data.ndim == 3:  # MNIST-like: N x 28 x 28
        data = data.unsqueeze(1)
    else:  # CIFAR-10: N x 32 x 32 x 3
        data = data.permute(0, 3, 1, 2)
    return data.contiguous(), torch.as_tensor(targets, dtype=torch.int64)


def _idx_files(dataset: str, root: str, train: bool) -> tuple[Path, Path] | None:
    """The images and labels files of an MNIST-format dataset, if both are there: extracted
    (faster to read) or as torchvision's `.gz` archives."""
    if dataset not in _IDX_FOLDERS:
        return None
    raw = Path(root) / _IDX_FOLDERS[dataset] / "raw"
    prefix = "train" if train else "t10k"
    for suffix in ("", ".gz"):
        images = raw / f"{prefix}-images-idx3-ubyte{suffix}"
        labels = raw / f"{prefix}-labels-idx1-ubyte{suffix}"
        if images.is_file() and labels.is_file():
            return images, labels
    return None


def _read_idx(path: Path, first: int | None) -> tuple[tuple[int, ...], bytes]:
    """An IDX file of unsigned bytes (the MNIST format), plain or gzipped: the dimensions its
    header declares, and the bytes of its first `first` items (all if None), read no further."""
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[:3] != b"\x00\x00\x08":
                raise DataError(f"{path} is not an IDX file of unsigned bytes; replace it with the original file")
            dims = struct.unpack(f">{magic[3]}I", f.read(4 * magic[3]))
            count = dims[0] if first is None else min(first, dims[0])
            return dims, f.read(count * math.prod(dims[1:]))
    except (OSError, EOFError, zlib.error, struct.error) as e:
        raise DataError(f"{path} cannot be read ({e}); replace it with the original file") from None


def _check_whole(path: Path) -> None:
    """DataError if an IDX file is cut short, from its two ends alone (no time to read it whole):
    its size, or an archive's uncompressed size as gzip's last four bytes record it, must be
    what its header declares. A torn download is refused before the run, not in every trial."""
    dims = _idx_header(path)
    declared = 4 + 4 * len(dims) + math.prod(dims)
    if path.suffix == ".gz":
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < 18:  # smaller than gzip's own header and trailer
                found = -1
            else:
                f.seek(-4, os.SEEK_END)
                found = struct.unpack("<I", f.read(4))[0]
        whole = found == declared % 2**32
    else:
        whole = path.stat().st_size == declared
    if not whole:
        raise DataError(f"{path} is cut short or damaged (its header declares {declared} bytes of "
                        f"{'uncompressed ' if path.suffix == '.gz' else ''}data and items); "
                        "replace it with the original file (a download that stopped half way: download it again)")


def _idx_header(path: Path) -> tuple[int, ...]:
    """An IDX file's dimensions, read from its first bytes only."""
    return _read_idx(path, 0)[0]


def _idx_tensor(path: Path, first: int | None = None) -> torch.Tensor:
    """The first `first` items (all if None) of an IDX file of unsigned bytes, as a uint8 tensor."""
    dims, body = _read_idx(path, first)
    shape = (dims[0] if first is None else min(first, dims[0]), *dims[1:])
    if len(body) != math.prod(shape):
        raise DataError(f"{path} holds {len(body)} bytes of data where its header declares {math.prod(shape)}; "
                        "replace it with the original file")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def _torchvision(dataset: str, root: str, train: bool, download: bool) -> Any:
    from torchvision import datasets

    classes = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "cifar10": _CIFAR10}
    cls = classes[dataset]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    made = _new_folders(Path(root) / _DOWNLOAD_FOLDERS[dataset])
    try:
        return cls(root, train=train, download=download)
    except Exception as e:  # torchvision raises RuntimeError, URLError, OSError, ...
        _remove_empty(made)
        raise DataError(missing_message(dataset, root, e)) from None
    finally:
        socket.setdefaulttimeout(old)


_DOWNLOAD_FOLDERS = {"mnist": "MNIST/raw", "fashion_mnist": "FashionMNIST/raw", "cifar10": "."}


def _new_folders(folder: Path) -> list[Path]:
    """`folder` and those above it that do not exist yet, deepest first: what a download makes."""
    new = []
    for f in [folder.resolve(), *folder.resolve().parents]:
        if f.exists():
            break
        new.append(f)
    return new


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed download made (`_new_folders`), deepest first, where empty:
    a missing dataset leaves the user's data folder as it was."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:  # not empty (a partial download is the user's to see), or never made
            return


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
