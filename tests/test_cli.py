import os
import subprocess
import sys
import textwrap

import pandas as pd

from tests.conftest import ROOT

STUDY = textwrap.dedent("""\
    from sweeper import Split, Study
    study = Study(name="cli", dataset="digits", split=Split(train=300, val=100),
                  fixed={"hidden_size": 8, "epochs": 1}, space={"momentum": [0.0, 0.9]}, seeds=2)
""")


def sweep(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "sweeper.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_help_explains_and_does_not_import_torch():
    code = ("import sys\nfrom sweeper.cli import main\ntry:\n    main(['run', '--help'])\n"
            "except SystemExit:\n    pass\nprint('torch loaded' if 'torch' in sys.modules else 'torch not loaded')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "torch not loaded" in out.stdout
    for flag in ("--jobs", "--seeds", "--data-dir", "--results", "--dry-run", "examples:"):
        assert flag in out.stdout


def test_run_writes_results_and_a_second_run_trains_nothing(tmp_path):
    (tmp_path / "cli.py").write_text(STUDY)
    first = sweep("run", "cli.py", "--jobs", "1", "--executor", "sequential", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 of 4 trials done (4 trained now" in first.stdout
    assert " in this process on cpu" in first.stdout and "jobs" not in first.stdout  # sequential: no workers
    assert len(pd.read_csv(tmp_path / "results" / "cli" / "trials.csv")) == 4
    second = sweep("run", "cli.py", "--executor", "sequential", "--seeds", "3", cwd=tmp_path)
    assert "(2 trained now, 4 from earlier runs" in second.stdout
    first_line = next(line for line in second.stderr.splitlines() if line.startswith("[cli] "))
    assert first_line.startswith("[cli] 4/6 trials")  # the 4 rows found count from the first line of the resumed run


def test_bad_study_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "bad.py").write_text(STUDY.replace('"momentum"', '"momentun"'))
    out = sweep("run", "bad.py", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "bad.py:3:" in out.stderr and "`momentun`" in out.stderr  # the line that spells the key and "did you mean `momentum`" in out.stderr


def test_bad_flag_value_is_refused_by_the_parser(tmp_path):
    out = sweep("run", "x.py", "--seeds", "a,b")
    assert out.returncode == 2 and "expected a count such as 8" in out.stderr
