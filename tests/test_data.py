import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from sweeper import Split
from sweeper.builtin import data
from sweeper.builtin.data import DataSpec
from sweeper.errors import DataError


def test_digits_split_and_scale():
    t = data.load(DataSpec("digits", "unused", Split(train=300, val=100, test=True)))
    assert t.x_train.shape == (300, 1, 8, 8) and t.x_val.shape == (100, 1, 8, 8)
    assert t.x_test.shape == (1797 - data.DIGITS_TRAIN, 1, 8, 8)
    assert 0.0 <= float(t.x_train.min()) and float(t.x_train.max()) == 1.0
    assert t.n_outputs == 10 and t.y_train.dtype == torch.int64


def test_small_digit_task_is_label_below_three():
    spec = DataSpec("digits", "unused", Split(train=300, val=100))
    labels = data.load(spec).y_train
    binary = data.load(DataSpec("digits", "unused", Split(train=300, val=100), task="small_digit"))
    assert binary.n_outputs == 1
    assert torch.equal(binary.y_train, (labels < 3).float())


def test_split_too_large_is_a_data_error():
    with pytest.raises(DataError, match="needs 2000 training images, but the dataset has 1500"):
        data.load(DataSpec("digits", "unused", Split(train=1500, val=500)))


def _write_idx(path, array, compress=True, cut=0):
    """An IDX file of unsigned bytes (the MNIST format), gzipped as torchvision ships it; `cut`
    drops that many bytes from the end, as a torn copy would."""
    raw = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    raw = raw[:len(raw) - cut]
    path.write_bytes(gzip.compress(raw) if compress else raw)


def _write_mnist(root, n_train=20, n_test=6, compress=True, cut=0):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n_train, dtype=np.uint8)
    suffix = ".gz" if compress else ""
    _write_idx(raw / f"train-images-idx3-ubyte{suffix}", images, compress, cut)
    _write_idx(raw / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    _write_idx(raw / f"t10k-images-idx3-ubyte{suffix}", images[:n_test], compress)
    _write_idx(raw / f"t10k-labels-idx1-ubyte{suffix}", labels[:n_test], compress)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_format_files_are_read_as_written(tmp_path, compress):
    images, labels = _write_mnist(tmp_path, compress=compress)
    data.prepare("mnist", str(tmp_path))
    assert data.train_size("mnist", str(tmp_path)) == 20
    t = data.load(DataSpec("mnist", str(tmp_path), Split(train=12, val=8, test=True)))
    assert torch.equal(t.x_train, torch.tensor(images[:12]).unsqueeze(1).float() / 255)
    assert t.y_val.tolist() == labels[12:].tolist() and t.x_test.shape == (6, 1, 28, 28)
    offset = data.load(DataSpec("mnist", str(tmp_path), Split(train=5, val=3, offset=10)))
    assert torch.equal(offset.x_val, torch.tensor(images[15:18]).unsqueeze(1).float() / 255)
    everything = data.load(DataSpec("mnist", str(tmp_path), Split(train=None, val=4)))
    assert everything.x_train.shape == (16, 1, 28, 28)


def test_a_split_that_does_not_fit_is_refused_from_the_headers(tmp_path):
    _write_mnist(tmp_path)
    with pytest.raises(DataError, match="needs 25 training images, but the dataset has 20"):
        data.check_split(DataSpec("mnist", str(tmp_path), Split(train=20, val=5)))
    data.check_split(DataSpec("mnist", str(tmp_path), Split(train=15, val=5)))


def test_a_torn_archive_is_one_clear_error_naming_the_file(tmp_path):
    _write_mnist(tmp_path, cut=100)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is cut short .* replace it with the original"):
        data.prepare("mnist", str(tmp_path))  # before the run, though the headers are intact
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz holds 15580 bytes .* declares 15680; replace it"):
        data.load(DataSpec("mnist", str(tmp_path), Split(train=15, val=5)))  # a worker reading it anyway
    data.load(DataSpec("mnist", str(tmp_path), Split(train=10, val=5)))  # the intact first images are usable


@pytest.mark.parametrize("compress", [True, False])
def test_an_archive_cut_short_is_refused_before_the_run(tmp_path, compress):
    """A download that stopped half way: the gzip stream (or the extracted file) itself ends early."""
    _write_mnist(tmp_path, compress=compress)
    name = "train-images-idx3-ubyte" + (".gz" if compress else "")
    path = tmp_path / "MNIST" / "raw" / name
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(DataError, match=rf"{name} is cut short or damaged .* replace it with the original file"):
        data.prepare("mnist", str(tmp_path))
    assert not data.is_available("mnist", str(tmp_path))


def test_a_file_that_is_not_gzip_is_one_clear_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz cannot be read .*replace it with the original file"):
        data.prepare("mnist", str(tmp_path))


def test_images_and_labels_of_different_lengths_are_refused(tmp_path):
    _write_mnist(tmp_path)
    _write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match="hold different numbers of items"):
        data.prepare("mnist", str(tmp_path))


def test_fallback_split_scales_to_fit():
    assert data.scaled_for(Split(train=2000, val=500), 1500) == Split(train=1200, val=300)
    assert data.scaled_for(Split(train=100, val=50), 1500) == Split(train=100, val=50)


def test_missing_dataset_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError, match=r"dataset mnist is not under .*MNIST/raw.*--data-dir / SWEEPER_DATA_DIR"):
        data.prepare("mnist", str(tmp_path))
    assert not data.is_available("fashion_mnist", str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("dataset, first_labels", [("mnist", [5, 0, 4, 1, 9]), ("fashion_mnist", [9, 0, 0, 3, 0])])
def test_torchvision_datasets_as_the_notes_slice_them(mnist_root, torchvision_root, dataset, first_labels):
    from torchvision import datasets, transforms

    data.prepare(dataset, mnist_root)
    t = data.load(DataSpec(dataset, mnist_root, Split(train=2000, val=500, test=True)))
    assert t.x_train.shape == (2000, 1, 28, 28) and t.x_val.shape == (500, 1, 28, 28)
    assert t.x_test.shape == (10000, 1, 28, 28)
    assert t.y_train[:5].tolist() == first_labels
    cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    official = cls(torchvision_root, train=True, transform=transforms.ToTensor())
    image, label = official[2000]  # the first validation image, as the tutorial's list slices it
    assert torch.equal(t.x_val[0], image) and int(t.y_val[0]) == label


def _write_cifar10(root, per_batch=20):
    """A small CIFAR-10 in its own on-disk format: pickled dicts of uint8 rows (R, G, B planes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    return pickle.loads((folder / "data_batch_1").read_bytes())


def test_cifar10_loads_from_its_own_format(tmp_path):
    first = _write_cifar10(tmp_path)
    data.prepare("cifar10", str(tmp_path))
    t = data.load(DataSpec("cifar10", str(tmp_path), Split(train=80, val=20, test=True)))
    assert t.x_train.shape == (80, 3, 32, 32) and t.x_test.shape == (20, 3, 32, 32)
    row = torch.tensor(first["data"][0], dtype=torch.float32) / 255
    assert torch.equal(t.x_train[0], row.view(3, 32, 32))  # channel planes, as CIFAR-10 stores them
    assert t.y_train[:20].tolist() == first["labels"]


def test_standardize_subtracts_the_mean_and_divides_by_the_std():
    plain = data.load(DataSpec("digits", "unused", Split(train=300, val=100)))
    scaled = data.load(DataSpec("digits", "unused", Split(train=300, val=100), standardize=(0.25, 0.5)))
    assert torch.allclose(scaled.x_train, (plain.x_train - 0.25) / 0.5)
    assert torch.allclose(scaled.x_val, (plain.x_val - 0.25) / 0.5)
