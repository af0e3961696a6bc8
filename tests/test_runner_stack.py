"""`stack` in a whole sweep: configurations grouped by stack key, one task per worker, and
the same per-seed rows as one at a time."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sweeper import Split, Study, StudyError
from sweeper.engine import executors, runner
from sweeper.engine.runner import run_study
from sweeper.engine.trial import TrialTask


def tiny(**options: object) -> Study:
    fields: dict = {"name": "tiny", "dataset": "digits", "split": Split(train=600, val=200), "seeds": 3,
                    "fixed": {"hidden_size": 16, "epochs": 2},
                    "space": {"learning_rate": [0.02, 0.05, 0.1, 0.2], "batch_size": [32, 64]}}
    return Study(**{**fields, **options})


def rows(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (folder / "trials.csv").open(newline="") as f:
        return {(r["trial"], r["seed"]): r for r in csv.DictReader(f)}


def run(study: Study, results: Path):
    return run_study(study, results_root=results, data_root="unused", jobs=2, executor="sequential",
                     show_progress=False, stream=io.StringIO(), device="cpu")


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[TrialTask]:
    """The tasks a sweep submits, with the sequential executor posing as two workers."""
    seen: list[TrialTask] = []
    monkeypatch.setattr(executors.SequentialExecutor, "workers", 2)
    real = runner.run_trial

    def spy(task: TrialTask):
        seen.append(task)
        return real(task)

    monkeypatch.setattr(runner, "run_trial", spy)
    return seen


def test_a_stacked_sweep_writes_the_same_rows_as_one_at_a_time(tmp_path: Path, tasks: list[TrialTask]) -> None:
    alone = run(tiny(), tmp_path / "alone")
    tasks.clear()
    together = run(tiny(stack=True), tmp_path / "together")
    # two batch sizes (two stack keys) x two workers: four tasks of two configurations x 3 seeds
    assert sorted((len(t.members), len(t.seeds)) for t in tasks) == [(2, 3)] * 4
    assert all(len({config["batch_size"] for _, config in t.members}) == 1 for t in tasks)
    assert alone.trained == together.trained == 24
    a, b = rows(alone.folder), rows(together.folder)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].keys() == b[key].keys()
        assert b[key]["status"] == a[key]["status"] == "ok"
        assert b[key]["learning_rate"] == a[key]["learning_rate"]
        assert float(b[key]["val_loss"]) == pytest.approx(float(a[key]["val_loss"]), abs=1e-4)
        assert b[key]["iterations"] == a[key]["iterations"]
    curves = [len((f / "curves.csv").read_text().splitlines()) for f in (alone.folder, together.folder)]
    assert curves[0] == curves[1]


def test_fewer_configurations_than_workers_split_the_seeds(tmp_path: Path, tasks: list[TrialTask]) -> None:
    run(tiny(stack=True, space={"learning_rate": [0.05]}, seeds=4), tmp_path)
    assert sorted(t.seeds for t in tasks) == [(0, 1), (2, 3)]


def test_a_stacked_rerun_trains_only_the_missing_seeds(tmp_path: Path) -> None:
    run(tiny(stack=True, seeds=2), tmp_path)
    second = run(tiny(stack=True, seeds=3), tmp_path)
    assert (second.reused, second.trained) == (16, 8)
    assert len(rows(second.folder)) == 24


def test_stack_needs_the_builtin_trainer() -> None:
    def train(config: dict, seed: int, log: object) -> dict:
        return {"val_acc": 1.0}

    with pytest.raises(StudyError, match="stack"):
        Study(name="own", train=train, space={"x": [1, 2]}, stack=True)
