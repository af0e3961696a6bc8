"""`sweep report`, `sweep ls` and `sweep show` as a user calls them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from synthetic_results import write_results

from sweeper.cli import main


@pytest.fixture
def results(tmp_path):
    write_results(tmp_path / "alpha", {"learning_rate": [0.01, 0.1, 0.2]}, seeds=3, fail=[(1, 2, "failed")])
    write_results(tmp_path / "beta", {"momentum": [0.0, 0.9]}, seeds=2)
    write_results(tmp_path / "beta.dry-run", {"momentum": [0.0]}, seeds=1)
    return tmp_path


def test_report_by_name_writes_the_report_folder(results, capsys):
    assert main(["report", "alpha", "--results", str(results)]) == 0
    assert "alpha/report/index.html" in capsys.readouterr().out
    assert {"summary.csv", "comparisons.csv", "index.html", "seeds.png"} <= {p.name for p in (results / "alpha" / "report").iterdir()}


def test_report_without_a_study_reports_every_study_but_dry_runs(results, capsys):
    assert main(["report", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.count("index.html") == 2 and "dry-run" not in out
    assert not (results / "beta.dry-run" / "report").exists()


def test_report_of_a_results_folder_path(results):
    assert main(["report", str(results / "beta.dry-run")]) == 0
    assert (results / "beta.dry-run" / "report" / "index.html").exists()


def test_unknown_study_is_exit_code_2_with_one_line(results, capsys):
    assert main(["report", "gamma", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no results for 'gamma'" in err and "alpha, beta" in err


def test_ls_shows_progress_and_marks_dry_runs(results, capsys):
    assert main(["ls", "--results", str(results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["study", "done/planned", "failed", "diverged"]
    assert lines[1].split()[:4] == ["alpha", "9/9", "1", "0"]
    assert lines[3].split()[0] == "beta.dry-run" and lines[3].endswith("dry run")


def test_ls_of_an_empty_results_root(tmp_path, capsys):
    assert main(["ls", "--results", str(tmp_path / "none")]) == 0
    assert "no studies" in capsys.readouterr().out


def test_show_prints_the_best_configurations_with_interval_and_verdict(results, capsys):
    assert main(["show", "alpha", "--results", str(results), "--top", "2"]) == 0
    answer, importance, *out = capsys.readouterr().out.splitlines()
    assert answer.startswith("Best: learning_rate=0.2, val_acc ") and "over 3 seeds;" in answer
    assert importance.startswith("Of val_acc's variance over configurations and seeds: learning_rate explains ")
    assert importance.endswith(" %") and "seeds " in importance  # the hyperparameter against the seeds' noise
    assert out[0].startswith("alpha: 9/9 trials, 3 configurations")
    assert "verdict" in out[1] and "mean [95% CI]" in out[1]
    assert out[2].split()[0] == "1" and out[2].rstrip().endswith("highest mean")
    assert " best " in out[2] and "why" in out[1]
    assert out[3].split()[0] == "2" and out[4].startswith("verdict: ")
    assert not any(line.startswith("spent ") for line in out)  # no racing, no pruning: nothing to say of the budget


def test_help_stays_free_of_heavy_imports():
    code = ("import sys; from sweeper import cli\n"
            "try:\n    cli.main(['report', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pandas', 'matplotlib', 'torch', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")


def test_show_fits_160_columns_and_wide_prints_everything(tmp_path, capsys):
    space = {"learning_rate": [0.0123, 0.0456, 0.0789], "momentum": [0.11, 0.55, 0.99], "hidden_size": [16, 32, 64],
             "batch_size": [32, 64, 128], "weight_decay": [0.0001, 0.0002, 0.0003], "dropout": [0.1, 0.2, 0.3]}
    folder = write_results(tmp_path / "many", space, seeds=3, sampler="random")
    assert main(["show", str(folder)]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.split(" ")[0].isdigit() or line.startswith("rank")]
    assert len(table) == 4 and max(map(len, table)) <= 160 and "…" in table[1]
    assert main(["show", str(folder), "--wide"]) == 0
    wide = capsys.readouterr().out
    assert "dropout=0.1" in wide and "p (adjusted)" in wide and max(map(len, wide.splitlines())) > 160
