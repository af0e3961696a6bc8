"""`vectorize` and `--device` in a whole sweep: the same per-seed rows as one at a time."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sweeper import Split, Study, StudyError
from sweeper.cli import main
from sweeper.execution.runner import run_study

STUDY_FILE = '''
from sweeper import Split, Study
study = Study(name="tiny", dataset="digits", split=Split(train=600, val=200),
              fixed={"hidden_size": 16, "epochs": 2}, space={"learning_rate": [0.05, 0.1]}, seeds=3)
'''


def tiny(**options: object) -> Study:
    fields: dict = {"name": "tiny", "dataset": "digits", "split": Split(train=600, val=200), "seeds": 3,
                    "fixed": {"hidden_size": 16, "epochs": 2, "normalization": "bn_after_relu"},
                    "space": {"learning_rate": [0.05, 0.1]}}
    return Study(**{**fields, **options})


def rows(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (folder / "trials.csv").open(newline="") as f:
        return {(r["trial"], r["seed"]): r for r in csv.DictReader(f)}


def run(study: Study, results: Path, **options: object):
    return run_study(study, results_root=results, data_root="unused", jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO(), device="cpu", **options)


def test_vectorized_sweep_writes_the_same_rows_as_one_at_a_time(tmp_path: Path) -> None:
    alone = run(tiny(), tmp_path / "alone")
    together = run(tiny(vectorize=True), tmp_path / "together")
    assert alone.trained == together.trained == 6
    a, b = rows(alone.folder), rows(together.folder)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].keys() == b[key].keys()
        assert b[key]["status"] == a[key]["status"] == "ok"
        assert float(b[key]["val_acc"]) == pytest.approx(float(a[key]["val_acc"]), abs=0.01)
        assert b[key]["iterations"] == a[key]["iterations"]
    curves = [len((f / "curves.csv").read_text().splitlines()) for f in (alone.folder, together.folder)]
    assert curves[0] == curves[1]


def test_a_vectorized_rerun_trains_only_the_missing_seeds(tmp_path: Path) -> None:
    run(tiny(vectorize=True, seeds=2), tmp_path)
    second = run(tiny(vectorize=True, seeds=3), tmp_path)
    assert (second.reused, second.trained) == (4, 2)
    assert len(rows(second.folder)) == 6


def test_vectorize_does_not_change_the_fingerprint_and_must_be_a_bool() -> None:
    assert tiny(vectorize=True).fingerprint() == tiny().fingerprint()
    with pytest.raises(StudyError, match="vectorize"):
        tiny(vectorize="yes")


def test_cli_vectorize_and_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "tiny.py"
    study.write_text(STUDY_FILE)
    code = main(["run", str(study), "--vectorize", "--device", "cpu", "--executor", "sequential", "-q",
                 "--results", str(tmp_path / "results")])
    assert code == 0
    out = capsys.readouterr().out
    assert "6 trained now" in out and "on cpu, vectorized" in out


def test_cli_refuses_cuda_where_there_is_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    study = tmp_path / "tiny.py"
    study.write_text(STUDY_FILE)
    assert main(["run", str(study), "--device", "cuda", "-q", "--results", str(tmp_path / "r")]) == 2
    assert "--device cpu or auto" in capsys.readouterr().err
