"""The reliability battery's four faults: an archive cut short is refused before the run in
one line; a missing dataset leaves the data folder as it was; a hyperparameter column removed
from trials.csv by hand is put back from the study's record; a Ctrl-C while `sweep` is still
starting is the one interrupted line and exit 130, never a traceback."""

from __future__ import annotations

import csv
import gzip
import io
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeper.builtin import data
from sweeper.errors import DataError, ResultsError
from sweeper.execution.runner import run_study
from tests.conftest import ROOT, tiny_study

STUDY = """\
from sweeper import Split, Study
study = Study(name="fashion", dataset="fashion_mnist", split=Split(train=12, val=8),
              fixed={"epochs": 1, "batch_size": 4}, space={"learning_rate": [0.1]}, seeds=2)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _write_fashion(root: Path, n: int = 30) -> Path:
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", rng.integers(0, 10, n, dtype=np.uint8))):
            header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            (raw / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
    return raw


def test_a_fashion_mnist_archive_cut_short_is_refused_before_the_run_in_one_line(tmp_path, monkeypatch, capsys):
    from sweeper.cli import main

    raw = _write_fashion(tmp_path / "data")
    torn = raw / "train-images-idx3-ubyte.gz"
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])  # a download that stopped half way
    (tmp_path / "study.py").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "study.py", "--data-dir", "data", "--executor", "sequential", "--quiet"]) == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == [f"sweep: error: {Path('data', 'FashionMNIST', 'raw', torn.name)} is cut short or damaged "
                                       "(its header declares 23536 bytes of uncompressed data and items); replace it "
                                       "with the original file (a download that stopped half way: download it again)"]
    assert not (tmp_path / "results" / "fashion" / "trials.csv").exists()  # refused before any trial


def test_a_missing_dataset_leaves_no_empty_folders_behind(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens there: fails at once
    (tmp_path / "mine.txt").write_text("the user's own file")
    with pytest.raises(DataError, match="dataset mnist is not under"):
        data.prepare("mnist", str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]  # no MNIST/raw left behind
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)  # folders that were there stay
    with pytest.raises(DataError):
        data.prepare("mnist", str(tmp_path))
    assert (tmp_path / "MNIST" / "raw").is_dir()


def _run(root: Path, **fields):
    log = io.StringIO()
    summary = run_study(tiny_study(**fields), results_root=root, data_root="unused", jobs=1, executor="sequential",
                        show_progress=False, stream=log)
    return summary, log.getvalue()


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _remove_column(path: Path, name: str, drop_last_row: bool = True) -> list[dict[str, str]]:
    rows = _table(path)
    header = [c for c in rows[0] if c != name]
    kept = rows[:-1] if drop_last_row else rows
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, header, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    return rows


@pytest.mark.parametrize("column", ["patience", "momentum", "learning_rate"])
def test_a_hyperparameter_column_removed_by_hand_is_put_back_from_the_studys_record(tmp_path, column):
    """patience: a default the study left alone; momentum: searched on the grid; learning_rate: fixed."""
    _run(tmp_path)
    path = tmp_path / "tiny" / "trials.csv"
    before = _remove_column(path, column)
    summary, log = _run(tmp_path)
    assert summary.trained == 1 and summary.reused == 3  # the row taken out is trained again
    assert f"column `{column}` put back from the study's record (3 rows)" in log
    after = _table(path)
    assert list(after[0]) == list(before[0])  # in its place
    key = ("trial", "seed")
    assert {tuple(r[k] for k in key): r[column] for r in after} == {tuple(r[k] for k in key): r[column] for r in before}


def test_a_searched_column_the_record_cannot_restore_is_refused_in_one_line(tmp_path):
    from sweeper import loguniform

    fields = dict(sampler="random", n_trials=2, space={"momentum": loguniform(0.1, 0.9)})
    _run(tmp_path, **fields)
    path = tmp_path / "tiny" / "trials.csv"
    _remove_column(path, "momentum", drop_last_row=False)
    text = path.read_text()
    with pytest.raises(ResultsError, match=r"has no column `momentum`, which every row of this study has, and the "
                                           r"study's record cannot restore it for every row: put the column back"):
        _run(tmp_path, **fields)
    assert path.read_text() == text  # nothing written


# what `sweep run` imports, in order, from sweeper's first module on: a Ctrl-C lands in each
STAGES = ["sweeper.errors", "sweeper.study.study", "sweeper.execution.executors", "torch"]


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_ctrl_c_while_sweep_starts_is_one_line_and_exit_130(tmp_path, stage):
    """Sent when the import of `stage` is done (as `-X importtime` reports it): deterministic
    where a timer would land in a different import on a loaded machine."""
    p = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "sweeper.cli", "run",
                          str(ROOT / "studies" / "lr_momentum.py"), "--results", str(tmp_path), "--quiet"],
                         cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stderr is not None
    fd, told = p.stderr.fileno(), b""  # read unbuffered: nothing after the signal may sit in a buffer
    while not told.endswith(f"| {stage}\n".encode()) and not told.endswith(f"|   {stage}\n".encode()):
        byte = os.read(fd, 1)
        assert byte, told.decode()[-300:]
        told += byte
    p.send_signal(signal.SIGINT)
    while chunk := os.read(fd, 65536):
        told += chunk
    assert p.wait(timeout=60) == 130, told.decode()[-2000:]
    lines = [x for x in told.decode().splitlines() if x and not x.startswith("import time:")]
    assert lines == ["sweep: interrupted"], "\n".join(lines)


def test_only_the_sweep_command_quiets_ctrl_c_at_start(monkeypatch):
    """A user's script or notebook that imports sweeper keeps Python's own Ctrl-C."""
    from sweeper.execution import signals

    monkeypatch.setattr(signal, "signal", lambda *a: pytest.fail("installed a handler"))
    monkeypatch.setattr(sys, "argv", ["train.py"])
    monkeypatch.setattr(sys, "orig_argv", ["python", "train.py"])
    signals.quiet_start()
    installed = []
    monkeypatch.setattr(signal, "signal", lambda *a: installed.append(a))
    monkeypatch.setattr(signal, "getsignal", lambda s: signal.default_int_handler)
    for argv, orig in ((["/venv/bin/sweep", "run"], ["python", "/venv/bin/sweep", "run"]),
                       (["-m", "run"], ["python", "-m", "sweeper.cli", "run"])):
        monkeypatch.setattr(sys, "argv", argv)
        monkeypatch.setattr(sys, "orig_argv", orig)
        signals.quiet_start()
    assert len(installed) == 2 and all(a[0] == signal.SIGINT for a in installed)
