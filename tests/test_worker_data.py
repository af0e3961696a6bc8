"""Where a worker reads its dataset: the driver's data root, unless the worker's own
environment names one in SWEEPER_WORKER_DATA_DIR."""

from __future__ import annotations

from sweeper.builtin.data import WORKER_DATA_ENV, DataSpec, worker_data
from sweeper.execution.trial import TrialTask, run_trial
from sweeper.study.study import Split
from tests.conftest import trainer_for_spec

SPEC = DataSpec("mnist", "/driver/data", Split(train=100, val=10))


def test_the_driver_root_is_used_when_the_worker_names_none(monkeypatch) -> None:
    monkeypatch.delenv(WORKER_DATA_ENV, raising=False)
    assert worker_data(SPEC) == SPEC


def test_a_worker_root_replaces_the_driver_root(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(WORKER_DATA_ENV, str(tmp_path))
    assert worker_data(SPEC) == DataSpec("mnist", str(tmp_path), SPEC.split)


def test_a_trial_looks_for_its_data_under_the_worker_root(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(WORKER_DATA_ENV, str(tmp_path / "empty"))
    [result] = run_trial(TrialTask("t", (0,), {"batch_size": 64}, trainer_for_spec(SPEC)))
    assert result.status == "failed"
    assert str(tmp_path / "empty") in result.error and "/driver/data" not in result.error
