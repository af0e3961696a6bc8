"""MNIST-format files are read without torchvision, to the same tensors; data are moved to a
device once per process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from sweeper.builtin import data as datasets
from sweeper.builtin.data import DataSpec
from sweeper.errors import RunError
from sweeper.study.study import Split


def test_idx_files_read_as_torchvision_reads_them(mnist_dir: str | None, torchvision_root: str) -> None:
    """From the archives alone (a read-only data root) and from torchvision's extracted files."""
    if mnist_dir is None:
        pytest.skip("MNIST not found: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
    for train in (True, False):
        theirs = datasets._torchvision("mnist", torchvision_root, train=train, download=False)
        for root in (mnist_dir, torchvision_root):
            ours = datasets._official("mnist", root, train=train, download=False)
            assert torch.equal(ours[0], theirs.data.unsqueeze(1))
            assert torch.equal(ours[1], theirs.targets)


def test_archives_are_read_without_writing_to_the_data_root(mnist_dir: str | None, tmp_path: Path) -> None:
    if mnist_dir is None:
        pytest.skip("MNIST not found: set SWEEPER_DATA_DIR to a data root with MNIST/raw/")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for archive in (Path(mnist_dir) / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(archive, raw)
    before = sorted(p.name for p in raw.iterdir())
    datasets.prepare("mnist", str(tmp_path))
    assert datasets.is_available("mnist", str(tmp_path))
    assert datasets.train_size("mnist", str(tmp_path)) == 60000
    assert sorted(p.name for p in raw.iterdir()) == before


def test_a_split_is_scaled_to_floats_in_0_1() -> None:
    tensors = datasets.load(DataSpec("digits", "", Split(100, 20)))
    assert tensors.x_train.dtype == torch.float32 and 0 <= float(tensors.x_train.min()) <= float(tensors.x_train.max()) <= 1


def test_tensors_are_moved_once_per_device() -> None:
    spec = DataSpec("digits", "", Split(100, 20))
    assert datasets.load(spec, "cpu") is datasets.load(spec, "cpu")
    moved = datasets.load(spec).to("cpu")
    assert torch.equal(moved.x_val, datasets.load(spec).x_val) and moved.x_test is None


def test_resolve_device() -> None:
    assert datasets.resolve_device("cpu") == "cpu"
    assert datasets.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(RunError, match="choose one of"):
        datasets.resolve_device("tpu")
