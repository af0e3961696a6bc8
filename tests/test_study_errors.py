"""Malformed study files and bad values: each is one line on stderr that names the file, the
field and the bad value, with exit code 2, no traceback, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sweeper import StudyError
from tests.conftest import ROOT

GOOD = {"name": "'e'", "dataset": "'digits'", "split": "Split(train=100, val=50)", "space": "{'momentum': [0.0, 0.9]}"}


def study_file(**fields: str | None) -> str:
    merged = {**GOOD, **fields}
    body = "".join(f"    {k}={v},\n" for k, v in merged.items() if v is not None)
    return f"from sweeper import *\n\nstudy = Study(\n{body})\n"


RANDOM = {"sampler": "'random'", "n_trials": "4"}
CASES: list[tuple[str, str, list[str]]] = [
    ("syntax", "from sweeper import *\nstudy = Study(name='e'\n", ["bad.py:2", "syntax error"]),
    ("no-study", "from sweeper import Study\nstudi = Study(name='e')\n", ["defines no `study`"]),
    ("not-a-study", "study = {'name': 'e'}\n", ["`study` is a dict"]),
    ("user-exception", "from sweeper import *\nx = 1 / 0\n", ["bad.py:2", "ZeroDivisionError"]),
    ("typo-field", study_file(seed="5"), ["bad.py:3", "unknown field `seed`", "did you mean `seeds`"]),
    ("missing-name", study_file(name=None), ["field `name` is missing"]),
    ("bad-name", study_file(name="'my study'"), ["`name`", "'my study'"]),
    ("dataset", study_file(dataset="'mnsit'"), ["`dataset`", "'mnsit'", "did you mean `mnist`"]),
    ("fallback", study_file(fallback="'imagenet'"), ["`fallback`", "'imagenet'"]),
    ("task", study_file(task="'regression'"), ["`task`", "'regression'", "classify"]),
    ("sampler", study_file(sampler="'grdi'"), ["`sampler`", "'grdi'", "did you mean `grid`"]),
    ("bayes-sampler", study_file(sampler="'bayes'", n_trials="3", bayes_sampler="'cmaes'"), ["`bayes_sampler`", "'cmaes'"]),
    ("metric", study_file(metric="'accuracy'"), ["`metric`", "'accuracy'", "val_acc"]),
    ("direction", study_file(direction="'up'"), ["`direction`", "'up'", "maximize"]),
    ("random-no-trials", study_file(sampler="'random'"), ["`n_trials`", "None", "needs a trial count"]),
    ("bayes-no-trials", study_file(sampler="'bayes'"), ["`n_trials`", "None", "needs a trial count"]),
    ("grid-with-trials", study_file(n_trials="10"), ["`n_trials`", "10", "grid"]),
    ("zero-trials", study_file(**RANDOM | {"n_trials": "0"}), ["`n_trials`", "0", ">= 1"]),
    ("zero-seeds", study_file(seeds="0"), ["`seeds`", "0", ">= 1"]),
    ("empty-seeds", study_file(seeds="[]"), ["`seeds`", "[]"]),
    ("duplicate-seeds", study_file(seeds="[1, 1]"), ["`seeds`", "[1, 1]", "distinct"]),
    ("eval-every", study_file(eval_every="'sometimes'"), ["`eval_every`", "'sometimes'", "iteration"]),
    ("eval-every-zero", study_file(eval_every="0"), ["`eval_every`", "0"]),
    ("fixed-not-dict", study_file(fixed="['epochs', 3]"), ["`fixed`", "['epochs', 3]"]),
    ("space-not-dict", study_file(space="[0.1, 0.2]"), ["`space`", "[0.1, 0.2]"]),
    ("empty-grid", study_file(space="{'momentum': []}"), ["`space`", "`momentum`", "empty list"]),
    ("unknown-hparam", study_file(space="{'learnig_rate': [0.1]}"), ["`learnig_rate`", "did you mean `learning_rate`"]),
    ("unknown-fixed", study_file(fixed="{'hiden_size': 30}"), ["`hiden_size`", "did you mean `hidden_size`"]),
    ("negative-lr", study_file(fixed="{'learning_rate': -0.1}"), ["`learning_rate` = -0.1", "> 0"]),
    ("zero-lr-in-grid", study_file(space="{'learning_rate': [0.1, 0]}"), ["`learning_rate` = 0", "> 0"]),
    ("momentum-one", study_file(space="{'momentum': [0.5, 1.0]}"), ["`momentum` = 1.0", "[0, 1)"]),
    ("momentum-negative", study_file(fixed="{'momentum': -0.1}", space="{}"), ["`momentum` = -0.1", "[0, 1)"]),
    ("momentum-range", study_file(**RANDOM, space="{'momentum': uniform(0.0, 1.5)}"), ["`momentum` = 1.5"]),
    ("batch-zero", study_file(space="{'batch_size': [0, 32]}"), ["`batch_size` = 0", ">= 1"]),
    ("batch-float", study_file(fixed="{'batch_size': 1.5}"), ["`batch_size` = 1.5", "integer"]),
    ("optimizer", study_file(space="{'optimizer': ['sgd', 'adamm']}"), ["`optimizer` = 'adamm'", "'adam'"]),
    ("normalization", study_file(fixed="{'normalization': 'batchnorm'}"), ["`normalization` = 'batchnorm'", "bn_after_relu"]),
    ("model", study_file(fixed="{'model': 'resnet'}"), ["`model` = 'resnet'", "'lenet'"]),
    ("hidden-zero", study_file(fixed="{'hidden_size': 0}"), ["`hidden_size` = 0"]),
    ("epochs-zero", study_file(fixed="{'epochs': 0}"), ["`epochs` = 0"]),
    ("dropout-one", study_file(fixed="{'dropout': 1.0}"), ["`dropout` = 1.0", "[0, 1)"]),
    ("lr-decay-zero", study_file(fixed="{'lr_decay': 0}"), ["`lr_decay` = 0", "(0, 1]"]),
    ("shuffle-string", study_file(fixed="{'shuffle': 'yes'}"), ["`shuffle` = 'yes'", "True or False"]),
    ("patience-negative", study_file(fixed="{'patience': -1}"), ["`patience` = -1"]),
    ("weight-decay-negative", study_file(fixed="{'weight_decay': -1e-4}"), ["`weight_decay` = -0.0001"]),
    ("uniform-reversed", study_file(**RANDOM, space="{'learning_rate': uniform(0.1, 0.01)}"), ["'learning_rate': uniform(0.1, 0.01)", "low=0.1, high=0.01"]),
    ("loguniform-zero", study_file(**RANDOM, space="{'learning_rate': loguniform(0, 0.1)}"), ["'learning_rate': loguniform(0, 0.1)", "low=0"]),
    ("uniform-in-grid", study_file(space="{'learning_rate': uniform(0.01, 0.1)}"), ["`learning_rate`", "uniform(0.01, 0.1)", "sampler='random'"]),
    ("fixed-and-searched", study_file(fixed="{'momentum': 0.5}"), ["`momentum` is also in `space`"]),
    ("split-zero", study_file(split="Split(train=0, val=50)"), ["`split.train` = 0"]),
    ("split-key", study_file(split="{'train': 100, 'valid': 50}"), ["unknown key `valid`", "did you mean `val`"]),
    ("test-metric-without-test", study_file(metric="'test_acc'"), ["`metric` = 'test_acc'", "test=True"]),
    ("concurrent-zero", study_file(concurrent_configs="0"), ["`concurrent_configs` = 0"]),
    ("positional", "from sweeper import *\nstudy = Study('e')\n", ["keyword arguments only"]),
    # whatever a study file does at import is one line: any BaseException, and exiting
    ("base-exception", "class Stop(BaseException):\n    pass\nraise Stop('halt')\n", ["bad.py:3", "Stop: halt"]),
    ("sys-exit-0", "import sys\nsys.exit(0)\n", ["bad.py:2", "sys.exit(0)", "not exit"]),
    ("sys-exit-message", "import sys\nsys.exit('no data here')\n", ["bad.py:2", "sys.exit", "no data here"]),
    ("os-exit", "import os\nos._exit(0)\n", ["bad.py:2", "os._exit(0)"]),
    ("generator-exit", "raise GeneratorExit\n", ["bad.py:1", "GeneratorExit"]),
    # names that would make odd or hidden folders
    ("name-trailing-newline", study_file(name="'e\\n'"), ["`name` = 'e\\n'"]),
    ("name-dry-run", study_file(name="'e.dry-run'"), ["`name` = 'e.dry-run'", ".dry-run"]),
    ("name-old", study_file(name="'e.old-20240101-120000'"), ["`name` = 'e.old-20240101-120000'"]),
    # values each allowed, but impossible or absurd
    ("nesterov-momentum-zero", study_file(fixed="{'nesterov': True}"), ["`nesterov` = True", "`momentum` > 0", "with {'momentum': 0.0}"]),
    ("nesterov-default-momentum-zero", study_file(fixed="{'nesterov': True, 'momentum': 0.0}", space="{'learning_rate': [0.1]}"),
     ["`nesterov` = True", "fixed"]),
    ("standardize-nan", study_file(standardize="(float('nan'), 1)"), ["`standardize` = (nan, 1)", "finite"]),
    ("standardize-inf", study_file(standardize="(0, float('inf'))"), ["`standardize` = (0, inf)"]),
    ("seeds-absurd", study_file(seeds="10**6"), ["`seeds` = 1000000", "at most 1000"]),
    ("seed-list-absurd", study_file(seeds="list(range(5000))"), ["`seeds`", "at most 1000"]),
    ("n-trials-absurd", study_file(**RANDOM | {"n_trials": "10**7"}), ["`n_trials` = 10000000", "at most 10000"]),
]


def test_there_are_at_least_thirty_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("text, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_study_file(tmp_path, text, expected):
    (tmp_path / "bad.py").write_text(text)
    out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "bad.py"], cwd=tmp_path, text=True,
                         capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: error: bad.py"), out.stderr
    for part in expected:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("head, body", [
    (b"", b"# caf\xe9 in Latin-1\n"),  # no coding declaration: Python reads UTF-8
    (b"# -*- coding: utf-8 -*-\n", b"x = 1  # caf\xe9\n"),
    (b"# coding: ascii\n", b"x = '\xc3\xa9'\n"),
    (b"# coding: klingon\n", b"x = 1\n"),
], ids=["undeclared", "declared-utf8", "declared-ascii", "unknown-coding"])
def test_bytes_not_in_the_study_files_encoding_are_one_line(tmp_path, head, body):
    (tmp_path / "bad.py").write_bytes(head + b"from sweeper import *\n" + body + b"study = Study(name='e')\n")
    out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "bad.py"], cwd=tmp_path, text=True,
                         capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: error: bad.py"), out.stderr
    assert not (tmp_path / "results").exists()


def test_a_study_file_in_its_declared_encoding_loads_and_is_kept_as_text(tmp_path):
    from sweeper.study.studyfile import load_study, read_study_source

    path = tmp_path / "latin.py"
    path.write_bytes(b"# coding: latin-1\nfrom sweeper import Study\nstudy = Study(name='e', description='caf\xe9')\n")
    assert load_study(path).description == "caf\u00e9"
    assert "caf\u00e9" in read_study_source(path)


def test_a_study_file_may_define_dataclasses_and_its_exit_is_not_the_programs(tmp_path):
    import os as os_module

    from sweeper.study.studyfile import load_study

    path = tmp_path / "dc.py"
    path.write_text("import dataclasses\nfrom sweeper import Study\n@dataclasses.dataclass\nclass C:\n    x: int = 1\n"
                    "study = Study(name='e', description=str(C().x))\n")
    assert load_study(path).description == "1"
    (tmp_path / "ex.py").write_text("import os\nos._exit(3)\n")
    with pytest.raises(StudyError, match=r"ex\.py:2: the study file called os\._exit\(3\)"):
        load_study(tmp_path / "ex.py")
    assert os_module._exit.__module__ in ("posix", "nt")  # put back


@pytest.mark.parametrize("args, expected", [
    (["--results", ""], "sweep: error: --results: expected a folder, got an empty name"),
    (["--data-dir", " "], "sweep: error: --data-dir: expected a folder"),
])
def test_empty_folder_arguments_are_refused(tmp_path, args, expected):
    (tmp_path / "s.py").write_text(study_file())
    out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "s.py", *args], cwd=tmp_path, text=True,
                         capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and out.stderr.startswith(expected) and out.stderr.count("\n") == 1, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.py"]


def test_a_mistyped_data_dir_creates_nothing_and_says_so(tmp_path):
    (tmp_path / "s.py").write_text(study_file(dataset="'mnist'"))
    out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "s.py", "--data-dir", "dtaa/typo"], cwd=tmp_path,
                         text=True, capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "data root dtaa/typo does not exist" in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.py"]  # no dtaa/typo/MNIST/raw, no results/


def test_a_refused_split_leaves_no_results_folder(tmp_path):
    (tmp_path / "s.py").write_text(study_file(split="Split(train=5000, val=50)"))
    out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "s.py", "--jobs", "1"], cwd=tmp_path,
                         text=True, capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and "training images" in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.py"]
