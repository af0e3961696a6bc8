"""Stacked groups in a whole sweep, the default where the trainer stacks: groups fixed by the
study (never by the workers), so the same rows whatever `--jobs` and after a resume; the
same rows as one at a time up to floating-point noise; one at a time where the trainer
cannot stack, saying why; the mode recorded, so a folder written one at a time goes on so."""

from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path

import pytest

from sweeper import Split, Study, StudyError
from sweeper.execution import executors, runner
from sweeper.execution.runner import run_study
from sweeper.execution.trial import TrialTask
from sweeper.schedules.groups import groups

VOLATILE = ("seconds", "started", "host", "worker", "resumed_epoch")


def tiny(**options: object) -> Study:
    fields: dict = {"name": "tiny", "dataset": "digits", "split": Split(train=600, val=200), "seeds": 3,
                    "fixed": {"hidden_size": 16, "epochs": 2},
                    "space": {"learning_rate": [0.02, 0.05, 0.1, 0.2], "batch_size": [32, 64]}}
    return Study(**{**fields, **options})


def rows(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (folder / "trials.csv").open(newline="") as f:
        return {(r["trial"], r["seed"]): {k: v for k, v in r.items() if k not in VOLATILE} for r in csv.DictReader(f)}


def run(study: Study, results: Path, **options: object):
    return run_study(study, results_root=results, data_root="unused", jobs=2, executor="sequential",
                     show_progress=False, stream=io.StringIO(), device="cpu", **options)


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> list[TrialTask]:
    """The tasks a sweep submits."""
    seen: list[TrialTask] = []
    real = runner.run_trial

    def spy(task: TrialTask):
        seen.append(task)
        return real(task)

    monkeypatch.setattr(runner, "run_trial", spy)
    return seen


def test_a_sweep_stacks_by_default_with_the_rows_of_one_at_a_time(tmp_path: Path, tasks: list[TrialTask]) -> None:
    together = run(tiny(), tmp_path / "together")
    # two batch sizes (two stack keys) of 4 configurations x 3 seeds: 12 models, one group each
    assert together.stacked and sorted((len(t.members), t.seeds) for t in tasks) == [(4, (0, 1, 2))] * 2
    assert all(len({config["batch_size"] for _, config in t.members}) == 1 for t in tasks)
    tasks.clear()
    alone = run(tiny(stack=False), tmp_path / "alone")
    assert not alone.stacked and len(tasks) == 24 and not any(t.stack for t in tasks)
    a, b = rows(alone.folder), rows(together.folder)
    assert a.keys() == b.keys() and alone.trained == together.trained == 24
    for key in a:
        assert b[key]["status"] == a[key]["status"] == "ok"
        assert (b[key]["learning_rate"], b[key]["iterations"]) == (a[key]["learning_rate"], a[key]["iterations"])
        assert float(b[key]["val_loss"]) == pytest.approx(float(a[key]["val_loss"]), abs=1e-4)
    assert [json.loads((f / "study.json").read_text())["stack"] for f in (together.folder, alone.folder)] == [True, False]


def test_the_groups_are_the_studys_not_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any number of workers trains the same groups, so the same numbers, bit for bit."""
    study = tiny(space={"learning_rate": [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]}, seeds=4)  # 28 models: 4 groups
    got = []
    for workers in (1, 2, 5):
        monkeypatch.setattr(executors.SequentialExecutor, "workers", workers)
        got.append(rows(run(study, tmp_path / str(workers)).folder))
    assert got[0] == got[1] == got[2]


def test_groups_are_cut_by_seeds_then_configurations_in_an_even_number() -> None:
    def cut(configs: int, seeds: int, missing=None) -> list[tuple[int, tuple[int, ...]]]:
        items = [(f"t{c}", {}, tuple(range(seeds)), tuple(range(seeds)) if missing is None else missing(c))
                 for c in range(configs)]
        return [(len(members), some) for members, some in groups(items)]

    assert cut(12, 5) == [(6, (s,)) for s in range(5) for _ in range(2)]  # 60 models: 5 would be odd, so 10 groups
    assert cut(4, 10) == [(4, (0, 1, 2)), (4, (3, 4)), (4, (5, 6, 7)), (4, (8, 9))]
    assert cut(1, 5) == [(1, (0, 1, 2, 3, 4))]
    # rows stored in an earlier run take nothing from the cut: the rest are the groups they were
    assert cut(12, 5, lambda c: (3, 4)) == [(6, (s,)) for s in (3, 4) for _ in range(2)]
    # a group some of whose rows were stored (a kill while they were written) is trained whole
    assert cut(12, 5, lambda c: (0,) if c == 7 else ()) == [(6, (0,))]


def test_a_resumed_sweep_trains_a_part_stored_group_whole_and_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = run(tiny(), tmp_path / "whole")
    folder = run(tiny(), tmp_path / "cut").folder
    lines = (folder / "trials.csv").read_text().splitlines(keepends=True)
    (folder / "trials.csv").write_text("".join(lines[:6]))  # 5 rows of the first group kept, as a kill may leave them
    again = run(tiny(), tmp_path / "cut")
    assert (again.reused, again.trained) == (5, 19)
    assert rows(folder) == rows(whole.folder)


def test_what_the_trainer_cannot_stack_goes_one_at_a_time_and_says_why(tmp_path: Path,
                                                                       tasks: list[TrialTask]) -> None:
    study = tiny(fixed={"model": "cnn", "epochs": 1}, space={"learning_rate": [0.05, 0.1]}, seeds=2)
    summary = run(study, tmp_path)
    assert summary.stacked and summary.trained == 4 and len(rows(summary.folder)) == 4
    assert summary.unstacked == ["a convolutional model on the CPU is faster one model at a time"]
    assert [(t.stack, len(t.members) * len(t.seeds)) for t in tasks] == [(True, 4)] + [(False, 1)] * 4


def test_a_folder_written_one_at_a_time_goes_on_one_at_a_time(tmp_path: Path, tasks: list[TrialTask]) -> None:
    run(tiny(seeds=2), tmp_path, stack=False)
    tasks.clear()
    more = run(tiny(seeds=3), tmp_path)  # left to the default: as the folder was written
    assert not more.stacked and (more.reused, more.trained) == (16, 8) and not any(t.stack for t in tasks)
    tasks.clear()
    asked = run(tiny(seeds=4), tmp_path, stack=True)  # asked for: stacked
    assert asked.stacked and all(t.stack for t in tasks)


def test_a_task_travels_with_its_group_and_checkpoints() -> None:
    study = tiny()
    task = TrialTask("a", (0, 1), {"x": 1}, study.trainer, group=(("b", {"x": 2}),), resume=((("a", 0), b"ck"),),
                     stack=True)
    back = pickle.loads(pickle.dumps(task))
    assert (back.trial, back.seeds, back.group, back.resume, back.stack) == \
        (task.trial, task.seeds, task.group, task.resume, task.stack)


def test_stack_needs_the_builtin_trainer() -> None:
    def train(config: dict, seed: int, log: object) -> dict:
        return {"val_acc": 1.0}

    assert not Study(name="own", train=train, space={"x": [1, 2]}).trainer.stacks  # the default: one at a time
    with pytest.raises(StudyError, match="stack"):
        Study(name="own", train=train, space={"x": [1, 2]}, stack=True)
