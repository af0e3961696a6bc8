"""A study of a user's own code: its identity covers the classes and helpers its functions
reach, study files import the modules beside them, rows and runs say where and with what
they were made, and the user's mistakes are one clear line before anything runs."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import sweeper
from sweeper.errors import ResultsError, StudyError
from sweeper.execution.runner import run_study
from sweeper.storage.store import PROVENANCE_COLUMNS
from sweeper.study.studyfile import load_study

FIXTURE = Path(__file__).parent / "fixtures" / "before_code_record"


def _run(study_file: Path, results: Path, **options):
    study = load_study(study_file)
    return run_study(study, results_root=results, data_root="unused", jobs=1, executor="sequential",
                     show_progress=False, stream=io.StringIO(), **options)


@pytest.fixture
def waves(tmp_path) -> Path:
    """A copy of the waves study (own model class, data function, helper module beside it)."""
    shutil.copytree(FIXTURE / "study", tmp_path / "study")
    return tmp_path / "study" / "waves_study.py"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_an_edit_of_the_model_class_is_refused_naming_the_change(waves, tmp_path):
    assert _run(waves, tmp_path / "results").trained == 4
    _edit(waves, "kernel_size=5", "kernel_size=9")
    with pytest.raises(ResultsError) as refused:
        _run(waves, tmp_path / "results", seeds=3)
    message = str(refused.value)
    assert "(WaveNet.conv1: kernel_size 5 -> 9; class WaveNet (waves_study.py) changed)" in message
    assert "give the study a new name, or pass --restart" in message


def test_an_edit_of_a_helper_the_data_function_calls_is_refused_naming_it(waves, tmp_path):
    _run(waves, tmp_path / "results")
    _edit(waves.parent / "waves_helpers.py", "0.3 * torch.randn", "0.5 * torch.randn")
    with pytest.raises(ResultsError, match=r"\(function load_waves \(waves_helpers.py\) changed\)"):
        _run(waves, tmp_path / "results", seeds=3)


def test_comments_docstrings_a_renamed_model_function_grid_values_and_seeds_change_nothing(waves, tmp_path):
    _run(waves, tmp_path / "results")
    _edit(waves, "def build(config):\n", 'def make_model(config):\n    """The model."""\n    # a comment\n\n')
    _edit(waves, "model=build", "model=make_model")
    _edit(waves, "class WaveNet(nn.Module):\n", 'class WaveNet(nn.Module):\n    """A 1-D CNN."""\n')
    _edit(waves.parent / "waves_helpers.py", "    g = torch", "    # the same signals\n    g = torch")
    _edit(waves, '"learning_rate": [0.05, 0.1]', '"learning_rate": [0.02, 0.05, 0.1]')
    summary = _run(waves, tmp_path / "results", seeds=3)
    assert (summary.trained, summary.reused) == (3 + 2, 4)  # the new value's 3 seeds, the old ones' third


def test_a_folder_written_before_the_code_record_resumes_with_new_columns_for_new_rows(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "fx")
    folder = tmp_path / "fx" / "results" / "waves"
    before = json.loads((folder / "study.json").read_text())
    summary = _run(tmp_path / "fx" / "study" / "waves_study.py", tmp_path / "fx" / "results", seeds=3)
    assert (summary.trained, summary.reused) == (2, 4)
    after = json.loads((folder / "study.json").read_text())
    assert after["fingerprint"] == before["fingerprint"] and after["identity"] == before["identity"]
    rows = pd.read_csv(folder / "trials.csv", keep_default_na=False)
    assert list(rows.columns[-6:]) == ["seconds", "error", *PROVENANCE_COLUMNS]
    old = rows["seed"] < 2
    assert (rows.loc[old, PROVENANCE_COLUMNS] == "").all().all()
    assert (rows.loc[~old, PROVENANCE_COLUMNS] != "").all().all()
    assert "class WaveNet (waves_study.py)" in after["code"]["objects"]  # recorded from now on


def test_rows_and_runs_record_when_where_and_with_what(waves, tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=waves.parent, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "x", "--allow-empty"],
                   cwd=waves.parent, check=True)
    subprocess.run(["git", "add", "."], cwd=waves.parent, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "study"],
                   cwd=waves.parent, check=True)
    _run(waves, tmp_path / "results")
    _edit(waves.parent / "waves_helpers.py", '"""Synthetic', '"""Made-up')  # a docstring: no change, but dirty
    _run(waves, tmp_path / "results", seeds=3)
    r = sweeper.load(tmp_path / "results" / "waves")
    assert isinstance(r.trials["started"].dtype, pd.DatetimeTZDtype) and str(r.trials["started"].dt.tz) == "UTC"
    assert r.trials["started"].notna().all() and (r.trials["device"] == "cpu").all()
    assert r.trials["host"].str.len().gt(0).all() and r.trials["worker"].str.isdigit().all()
    runs = [json.loads(line) for line in (tmp_path / "results" / "waves" / "runs.jsonl").read_text().splitlines()]
    assert [(run["status"], run["rows"], run["git"]["dirty"]) for run in runs] == [("finished", 4, False),
                                                                                  ("finished", 2, True)]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=waves.parent, capture_output=True, text=True).stdout
    assert runs[0]["git"]["commit"] == commit.strip()
    assert {"sweeper", "torch", "python", "numpy", "command", "host", "started", "finished"} <= set(runs[0])
    assert runs[0]["torch"] and runs[0]["numpy"] and runs[0]["finished"] >= runs[0]["started"]


def test_study_json_describes_the_users_data_not_a_builtin_dataset(waves, tmp_path):
    _run(waves, tmp_path / "results")
    snapshot = json.loads((tmp_path / "results" / "waves" / "study.json").read_text())
    assert "dataset" not in snapshot and "split" not in snapshot
    assert snapshot["data"] == {"from": f"waves ({waves}:24)", "task": "classify", "classes": 3,
                                "train": "x (96, 1, 32) float32, y (96,) int64",
                                "val": "x (48, 1, 32) float32, y (48,) int64"}


def test_a_model_with_too_few_outputs_is_refused_before_the_run(waves, tmp_path):
    _edit(waves, "nn.Linear(width, 3)", "nn.Linear(width, 2)")
    with pytest.raises(StudyError, match=r"field `model`: build \(.*waves_study.py:20\) gives 2 outputs per example, "
                                         r"but the data has 3 classes; its last layer must give \(examples, 3\)"):
        _run(waves, tmp_path / "results")
    assert not (tmp_path / "results").exists()


def test_a_typo_in_an_own_hyperparameter_names_its_line(waves, tmp_path):
    _edit(waves, '"width": 4}', '"width": 4,\n           "lerning_rate": 0.1}')
    with pytest.raises(StudyError, match=r"waves_study.py:39: hyperparameter `lerning_rate` is never read by the "
                                         r"model function, nor by the built-in trainer; did you mean `learning_rate`, "
                                         r"which the built-in trainer reads\? rename it to `learning_rate`\Z"):
        _run(waves, tmp_path / "results")


def test_a_name_an_own_loop_reads_and_the_study_lacks_fails_its_rows_with_a_suggestion(tmp_path):
    def train(config, seed, log):
        return {"val_acc": config["learning_rte"]}

    study = sweeper.Study(name="loop", train=train, fixed={"learning_rate": 0.1}, seeds=1)
    summary = run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                        show_progress=False, stream=io.StringIO())
    assert summary.failed == 1
    assert summary.first_error.startswith("MissingHyperparameter: 'learning_rte' is not in the configuration "
                                          "(did you mean `learning_rate`?); it has learning_rate (")
    assert "test_user_code.py:" in summary.first_error


def test_a_typo_in_a_builtin_hyperparameter_names_the_line_of_its_key(tmp_path):
    path = tmp_path / "typo.py"
    path.write_text('from sweeper import Study\n\nstudy = Study(\n    name="typo",\n    dataset="digits",\n'
                    '    fixed={"epochs": 1,\n           "learning_rte": 0.1},\n)\n')
    with pytest.raises(StudyError, match=rf"^{path}:7: field `fixed`: unknown hyperparameter `learning_rte` "
                                         r"\(did you mean `learning_rate`\?\)"):
        load_study(path)


@pytest.mark.slow
def test_local_workers_find_the_helper_module_and_an_unpicklable_part_is_one_line(waves, tmp_path, capsys):
    from sweeper.cli import main

    summary = run_study(load_study(waves), results_root=tmp_path / "results", data_root="unused", jobs=2,
                        executor="local", show_progress=False, stream=io.StringIO())
    assert (summary.trained, summary.failed) == (4, 0)
    _edit(waves, "def waves():", "@__import__('functools').lru_cache\ndef waves():")
    code = main(["run", str(waves), "--results", str(tmp_path / "other"), "--executor", "local", "--jobs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"sweep: error: field `data`: waves ({waves}:24) cannot be sent to worker processes"), err
    assert not (tmp_path / "other").exists()


def test_a_comment_in_a_folder_written_before_the_code_record_is_still_a_change_and_said_so(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "fx")
    study_file = tmp_path / "fx" / "study" / "waves_study.py"
    _edit(study_file, "def build(config):\n", "def build(config):\n    # a comment\n")
    with pytest.raises(ResultsError, match=r"\(the source text of data, metric err, model: this folder was written "
                                           r"before sweeper told comments and docstrings apart, and counts them\)"):
        _run(study_file, tmp_path / "fx" / "results")


def test_a_run_stopped_by_ctrl_c_says_so_in_its_line(tmp_path):
    from sweeper.execution.runner import Interrupted

    def train(config, seed, log):
        if seed == 1:
            raise KeyboardInterrupt
        return {"val_acc": 0.5}

    study = sweeper.Study(name="stopped", train=train, fixed={"learning_rate": 0.1}, seeds=2)
    with pytest.raises(Interrupted):
        run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                  show_progress=False, stream=io.StringIO())
    (run,) = [json.loads(line) for line in (tmp_path / "stopped" / "runs.jsonl").read_text().splitlines()]
    rows = len((tmp_path / "stopped" / "trials.csv").read_text().splitlines()) - 1
    assert (run["status"], run["rows"]) == ("interrupted", rows) and run["finished"] is not None
