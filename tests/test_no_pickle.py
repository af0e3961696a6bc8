"""A results folder is data, never code: crafted pickles planted as its weights, checkpoints
and tables are never unpickled by any reading path (sweeper.load, Results.model, sweep show,
sweep report, sweep weights, a resumed sweep run). A pickle here would run code on load: each
planted one creates a marker file if it is ever unpickled."""

from __future__ import annotations

import builtins
import io
import pickle
import shutil
from pathlib import Path

import pytest

import sweeper
from sweeper import Split, Study
from sweeper.cli import main
from sweeper.execution.runner import run_study


class Planted:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling calls open(marker, "w"): the marker then exists
        return (builtins.open, (str(self.marker), "w"))


def study(seeds: int = 2) -> Study:
    return Study(name="p", dataset="digits", split=Split(train=300, val=100), seeds=seeds, weights="all",
                 keep_last=True, checkpoint_every=1, fixed={"hidden_size": 8, "epochs": 2, "batch_size": 32},
                 space={"learning_rate": [0.05, 0.2]})


def _run(s: Study, root: Path):
    return run_study(s, results_root=root, data_root="unused", jobs=1, executor="sequential", show_progress=False,
                     stream=io.StringIO())


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    _run(study(), tmp_path)
    folder, marker = tmp_path / "p", tmp_path / "UNPICKLED"
    payload = pickle.dumps(Planted(marker))
    for path in (folder / "weights").iterdir():  # every kept weights file
        path.write_bytes(payload)
    trial = next(p.name.split(".")[0] for p in (folder / "weights").iterdir())
    (folder / "checkpoints").mkdir(exist_ok=True)
    (folder / "checkpoints" / f"{trial}.2.safetensors").write_bytes(payload)  # a seed to resume, as a pickle
    for name in ("test.csv", "variance.csv", "racing.csv", "pruning.csv", "trials.csv.damaged"):
        (folder / name).write_bytes(payload)
    return folder, marker


def test_no_reading_path_unpickles_what_a_results_folder_holds(planted, tmp_path, capsys, monkeypatch):
    folder, marker = planted
    r = sweeper.load(folder)
    with pytest.raises(sweeper.ResultsError, match="is not a safetensors file that sweeper wrote"):
        r.model(1, 0)
    assert main(["show", str(folder)]) in (0, 2)
    assert main(["report", str(folder)]) in (0, 1, 2)
    assert main(["weights", str(folder), "--out", str(tmp_path / "w.safetensors")]) == 2  # one line, no traceback
    assert "is not a safetensors file that sweeper wrote" in capsys.readouterr().err
    summary = _run(study(seeds=3), tmp_path)  # resumes: the planted checkpoint of seed 2 is read as data
    assert summary.trained == 2 * 1  # the two configurations' seed 2, trained afresh
    capsys.readouterr()
    assert not marker.exists(), "a pickle in the results folder was unpickled"


def test_tables_that_are_pickles_are_refused_as_tables(tmp_path, capsys):
    _run(study(), tmp_path)
    folder, marker = tmp_path / "p", tmp_path / "UNPICKLED"
    payload = pickle.dumps(Planted(marker))
    for name in ("trials.csv", "curves.csv", "study.json"):
        copy = tmp_path / name.replace(".", "_")
        shutil.copytree(folder, copy / "p")
        (copy / "p" / name).write_bytes(payload)
        assert main(["show", str(copy / "p")]) in (0, 2)
        assert main(["report", str(copy / "p")]) in (0, 2)
        try:
            assert sweeper.load(copy / "p").curves is not None
        except sweeper.SweeperError:
            pass
    assert "Traceback" not in capsys.readouterr().err
    assert not marker.exists(), "a pickle in the results folder was unpickled"
