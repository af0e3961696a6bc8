"""What the user's code is, as sweeper finds it from the functions a study passes: what is
recorded (and what is not), what counts as a change, and how it travels to workers."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sweeper.errors import StudyError
from sweeper.study.studyfile import load_study
from sweeper.usercode import shipping
from sweeper.usercode.identity import changes, record

ROOT = Path(__file__).resolve().parents[1]

HELPERS = '''
"""Helpers beside the study file."""
import math

SCALE = 3


def noise(n):
    """Some numbers."""
    return [math.sin(SCALE * i) for i in range(n)]


def unused():
    return 0
'''

STUDY = '''
import functools
import torch
from torch import nn

import helpers
from sweeper import Study

WIDTH = 8


class Block(nn.Module):
    pass


class Net(Block):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(4, width)


def build(config, act=torch.relu):
    return Net(config["width"])


def data():
    x = torch.tensor(helpers.noise(40)).reshape(10, 4)
    return (x, torch.arange(10) % 2), (x, torch.arange(10) % 2)


study = Study(name="s", model=build, data=data, metrics={"m": lambda o, t: 0.0},
              fixed={"width": WIDTH})
'''


def _study(folder: Path, study: str = STUDY, helpers: str = HELPERS):
    folder.mkdir(exist_ok=True)
    (folder / "helpers.py").write_text(textwrap.dedent(helpers))
    (folder / "study.py").write_text(textwrap.dedent(study))
    return load_study(folder / "study.py")


def _record(folder: Path, **edits: str):
    return record(_study(folder, **edits).trainer.user_code())


def test_what_the_passed_functions_reach_is_recorded_and_nothing_else(tmp_path):
    code = _record(tmp_path)
    assert code["roles"] == {"metric m": "function metric m (study.py)", "model": "function build (study.py)",
                             "data": "function data (study.py)"}
    assert sorted(code["objects"]) == ["class Block (study.py)", "class Net (study.py)", "function build (study.py)",
                                       "function data (study.py)", "function metric m (study.py)",
                                       "function noise (helpers.py)", "value SCALE (helpers.py)"]
    assert code["objects"]["value SCALE (helpers.py)"] == "3"  # `unused`, torch, math: not the user's, or not reached


@pytest.mark.parametrize("edit", [
    ("def noise(n):\n", "def noise(n):  # a comment\n\n"),
    ('    """Some numbers."""\n', '    """Other words."""\n'),
    ('"""Helpers beside the study file."""', '"""Helpers."""\n\n\n'),
])
def test_comments_docstrings_and_blank_lines_are_no_change(tmp_path, edit):
    assert _record(tmp_path / "a") == _record(tmp_path / "b", helpers=HELPERS.replace(*edit))


@pytest.mark.parametrize("study_edit, helpers_edit, said", [
    ((), ("SCALE = 3", "SCALE = 4"), ["value SCALE (helpers.py): 3 -> 4"]),
    ((), ("math.sin", "math.cos"), ["function noise (helpers.py) changed"]),
    (("class Block(nn.Module):\n    pass", "class Block(nn.Module):\n    act = 1"), (), ["class Block (study.py) changed"]),
    (("model=build", "model=Net"), (), ["model build (study.py) -> Net (study.py)"]),
])
def test_a_change_anywhere_the_functions_reach_is_named(tmp_path, study_edit, helpers_edit, said):
    old = _record(tmp_path / "a")
    new = _record(tmp_path / "b", study=STUDY.replace(*study_edit) if study_edit else STUDY,
                  helpers=HELPERS.replace(*helpers_edit) if helpers_edit else HELPERS)
    assert changes(old, new) == said


def test_only_what_both_records_hold_is_compared():
    old = {"roles": {"model": "function build (s.py)"}, "objects": {"function build (s.py)": "a"}}
    new = {"roles": {"model": "function build (s.py)"}, "objects": {"function build (s.py)": "a", "class N (s.py)": "b"},
           "structure": {"config": {"width": 8}, "modules": {"N.fc": {"out_features": "8"}}}}
    assert changes({}, new) == [] and changes(old, new) == []
    wider = {**new, "structure": {"config": {"width": 8}, "modules": {"N.fc": {"out_features": "16"}}}}
    assert changes(new, wider) == ["N.fc: out_features 8 -> 16"]
    other = {**wider, "structure": {**wider["structure"], "config": {"width": 16}}}  # built from another configuration
    assert changes(new, other) == []


def test_a_data_function_under_lru_cache_is_refused_naming_the_field_and_why(tmp_path):
    study = _study(tmp_path, STUDY.replace("def data():", "@functools.lru_cache\ndef data():"))
    with pytest.raises(StudyError, match=r"^field `data`: data \(.*study.py:\d+\) cannot be sent to worker processes "
                                         r"\(PicklingError: .*\); functools.lru_cache/cache .* drop the decorator"):
        shipping.ship(study)


def test_a_lock_a_function_refers_to_is_named(tmp_path):
    study = _study(tmp_path, STUDY.replace("WIDTH = 8", "import threading\nLOCK = threading.Lock()\nWIDTH = 8")
                   .replace('    return Net(config["width"])', '    with LOCK:\n        return Net(config["width"])'))
    with pytest.raises(StudyError, match=r"^field `model`: build .* cannot be sent to worker processes \(it refers to "
                                         r"`LOCK` in build, a lock: TypeError: cannot pickle '_thread.lock' object\)"):
        shipping.ship(study)


def test_a_file_open_for_writing_among_the_fixed_values_is_named(tmp_path):
    log = tmp_path / "log.txt"
    study = _study(tmp_path, STUDY.replace('fixed={"width": WIDTH}', f'fixed={{"width": WIDTH, "log": open({str(log)!r}, "a")}}'))
    with pytest.raises(StudyError, match=r"^field `fixed\['log'\]`: <_io.TextIOWrapper .* cannot be sent to worker "
                                         r"processes \(PicklingError: Cannot pickle files that are not opened for reading"):
        shipping.ship(study)


@pytest.mark.slow
def test_the_modules_beside_a_study_travel_by_value_even_through_plain_pickle(tmp_path):
    """Dask pickles with plain pickle first: a task still carries the helper module's code,
    for a worker that has no copy of the study's folder."""
    from sweeper.execution.trial import TrialTask

    study = _study(tmp_path / "study", STUDY.replace("model=build, data=data", "model=build, data=helpers.noise"))
    shipping.ship(study)
    task = TrialTask("t", (0,), {"width": 8}, study.trainer)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([sys.executable, "-c", "import pickle, sys; t = pickle.load(sys.stdin.buffer); "
                          "print(t.trainer.own_data(3), type(t.trainer.model_fn({'width': 8})).__name__)"],
                         input=pickle.dumps(task), capture_output=True, cwd=elsewhere, env={"PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split() == ["[0.0,", "0.1411200080598672,", "-0.27941549819892586]", "Net"]


def test_the_modules_of_what_is_reached_are_found_however_it_was_imported(tmp_path):
    from sweeper.usercode.usercode import reach

    study = _study(tmp_path, STUDY.replace("import helpers\n", "import helpers\nfrom helpers import noise\n")
                   .replace("helpers.noise(40)", "noise(40)"))
    _, found = reach(study.trainer.user_code())
    assert list(found.modules) == ["helpers"]


def test_constants_read_through_a_module_defaults_and_dataclasses_are_recorded_by_value(tmp_path):
    helpers = HELPERS + "\n\nimport dataclasses\n\n\n@dataclasses.dataclass\nclass Shape:\n    depth: int = 2\n\n\nSHAPE = Shape()\n"
    study = STUDY.replace('def build(config, act=torch.relu):\n    return Net(config["width"])',
                          'def build(config, act=torch.relu, n=WIDTH):\n    return Net(config["width"] * helpers.SHAPE.depth '
                          '+ helpers.SCALE)')
    objects = _record(tmp_path, study=study, helpers=helpers)["objects"]
    assert objects["value SCALE (helpers.py)"] == "3" and objects["value n (default of build)"] == "8"
    assert objects["value SHAPE (helpers.py)"] == "Shape()" and "class Shape (helpers.py)" in objects


def test_a_module_constant_is_what_its_file_says_not_what_a_run_set_it_to(tmp_path):
    study = _study(tmp_path)
    before = record(study.trainer.user_code())
    sys.modules["helpers"].SCALE = 4  # a flag a test or a notebook cell sets: no edit of the code
    assert record(study.trainer.user_code()) == before
