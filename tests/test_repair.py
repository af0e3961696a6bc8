"""A damaged results folder is repaired or explained, never a traceback: unreadable records are
moved aside (never deleted) with one line saying how many and where, duplicates are dropped
keeping the first, a broken study.json is rebuilt from study.py or reported with the fix, an
empty study reads as empty; a full or read-only disk is one line with exit code 74."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import sweeper
from sweeper.cli import main
from sweeper.errors import ResultsError, StorageError
from sweeper.execution.runner import run_study
from sweeper.storage import store as store_module
from tests.conftest import ROOT, tiny_study

SOURCE = """\
from sweeper import Split, Study
study = Study(name="tiny", dataset="digits", split=Split(train=400, val=200),
              fixed={"hidden_size": 16, "epochs": 2, "batch_size": 32, "learning_rate": 0.1},
              space={"momentum": [0.0, 0.9]}, seeds=2)
"""


def run(root: Path, source: str | None = SOURCE, **kw) -> tuple[object, str]:
    log = io.StringIO()
    summary = run_study(tiny_study(), results_root=root, data_root="unused", jobs=1, executor="sequential",
                        show_progress=False, stream=log, source=source, **kw)
    return summary, log.getvalue()


@pytest.fixture
def done(tmp_path: Path) -> Path:
    """A finished tiny study: 4 rows."""
    run(tmp_path)
    return tmp_path / "tiny"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _insert(path: Path, at: int, text: str) -> None:
    lines = _lines(path)
    path.write_text("".join(lines[:at] + [text] + lines[at:]))


DAMAGE: list[tuple[str, str, Callable[[Path], None], int]] = [  # id, file, damage, records moved aside
    ("garbage-row", "trials.csv", lambda p: _insert(p, 2, "garbage\n"), 1),
    ("binary-row", "trials.csv", lambda p: _insert(p, 2, "\x00\x01\x02,\xff\n"), 1),
    ("row-cut-short", "trials.csv", lambda p: p.write_text("".join(
        (ls := _lines(p))[:2] + [ls[2][: len(ls[2]) // 2] + "\n"] + ls[3:])), 1),
    ("stray-quote", "trials.csv", lambda p: _insert(p, 2, 'x,0,"ok\n'), 1),
    ("bad-status", "trials.csv", lambda p: _insert(p, 2, _lines(p)[1].replace(",ok,", ",OK?,", 1)), 1),
    ("duplicate-row", "trials.csv", lambda p: _insert(p, 3, _lines(p)[1]), 1),
    ("blank-line-in-curves", "curves.csv", lambda p: _insert(p, 5, "\n"), 1),
    ("garbage-in-curves", "curves.csv", lambda p: _insert(p, 5, "a,b,c\n"), 1),
]


@pytest.mark.parametrize("name, file, damage, moved", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_tables_are_repaired_on_resume_and_nothing_is_deleted(done, name, file, damage, moved):
    path = done / file
    damage(path)
    damaged = path.read_text()
    summary, log = run(done.parent)
    aside = path.with_name(file + ".damaged")
    assert f"repaired {path}: moved {moved} " in log and str(aside) in log
    assert len(aside.read_text().splitlines()) == moved
    assert all(line in damaged for line in aside.read_text().splitlines(keepends=True))
    trials = pd.read_csv(done / "trials.csv")
    assert len(trials) == 4 and not trials.duplicated(["trial", "seed"]).any()
    assert summary.trained == (1 if name == "row-cut-short" else 0)  # the row cut short is trained again
    pd.read_csv(done / "curves.csv")
    run(done.parent)  # and a second resume finds nothing more to repair
    assert len(aside.read_text().splitlines()) == moved


@pytest.mark.parametrize("damage", [DAMAGE[0], DAMAGE[2], DAMAGE[5], DAMAGE[6]], ids=lambda d: d[0])
def test_readers_skip_damage_without_writing_and_say_so(done, damage, capsys):
    _, file, hurt, _ = damage
    hurt(done / file)
    before = {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()}
    r = sweeper.load(done)
    assert len(r.curves) and len(r.trials) in (3, 4)  # curves.csv is read when first asked for, and said so then
    assert r.notes and "skipped" in r.notes[0] and file in r.notes[0]
    assert r.summary is not None
    assert main(["show", str(done)]) == 0
    shown = capsys.readouterr().err
    assert ("sweep: warning:" in shown) == (file == "trials.csv")  # `sweep show` never reads curves.csv
    assert main(["ls", "--results", str(done.parent)]) == 0
    assert {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()} == before  # nothing written


@pytest.mark.parametrize("text", ['{"name": "tiny", "fingerp', "[1, 2, 3]", "", "\x00garbage"],
                         ids=["truncated", "not-an-object", "empty", "garbage"])
def test_a_broken_study_json_is_rebuilt_from_study_py(done, text):
    (done / "study.json").write_text(text)
    summary, _ = run(done.parent)
    assert summary.trained == 0 and summary.reused == 4
    assert sweeper.load(done).study["name"] == "tiny"


def test_a_broken_study_json_without_study_py_says_what_to_do(done):
    (done / "study.json").write_text("[")
    (done / "study.py").unlink()
    with pytest.raises(ResultsError, match=r"study\.json is damaged .* pass --restart"):
        run(done.parent, source=None)
    r = sweeper.load(done)  # the rows are still readable
    assert len(r.trials) == 4 and "damaged" in r.notes[0]


@pytest.mark.parametrize("content", ["", "only-header"], ids=["empty-file", "header-only"])
def test_an_empty_study_works_everywhere(tmp_path, content, capsys):
    folder = tmp_path / "tiny"
    run(tmp_path)
    (folder / "trials.csv").write_text(_lines(folder / "trials.csv")[0] if content else "")
    (folder / "curves.csv").write_text(_lines(folder / "curves.csv")[0] if content else "")
    r = sweeper.load(folder)
    assert r.trials.empty and r.summary.empty and r.comparisons.empty
    assert main(["show", str(folder)]) == 0
    assert main(["ls", "--results", str(tmp_path)]) == 0
    assert main(["report", "tiny", "--results", str(tmp_path)]) == 2  # explained: nothing to report yet
    err = capsys.readouterr().err
    assert "no finished trials yet" in err and "Traceback" not in err
    summary, _ = run(tmp_path)  # and the run resumes from nothing
    assert summary.trained == 4


def test_a_lock_that_is_a_folder_is_one_clear_line(done):
    (done / ".lock").unlink()
    (done / ".lock").mkdir()
    with pytest.raises(ResultsError, match=r"\.lock is a folder, not sweeper's lock file; remove it"):
        run(done.parent)


def test_a_full_disk_mid_run_is_one_line_and_the_rows_before_stay_whole(tmp_path, monkeypatch):
    real_write, calls = os.write, []

    def write(fd: int, data: bytes) -> int:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name not in ("trials.csv", "curves.csv"):  # live files: not the point
            return real_write(fd, data)
        calls.append(fd)
        if len(calls) == 5:  # the third trial's rows: curves, then its trials.csv row
            return real_write(fd, data[: len(data) // 2])  # half written, then the disk is full
        if len(calls) > 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(store_module.os, "write", write)
    monkeypatch.setattr(store_module.ResultsStore, "_lock", lambda self: None)  # writes pid; not the point here
    # one model at a time: a task's rows are stored in one append, and here each trial is its own task
    with pytest.raises(StorageError, match=r"No space left on device\); 2 trials of this run were saved in .*trials\.csv"
                                           r" before it; free some space and run the same command again to resume"):
        run(tmp_path, stack=False)
    monkeypatch.undo()
    trials = pd.read_csv(tmp_path / "tiny" / "trials.csv")
    assert len(trials) == 2  # no half row
    summary, log = run(tmp_path, stack=False)
    assert summary.trained == 2 and "repaired" not in log  # the torn curves are orphans, dropped as usual


def _tmpfs(path: Path, size: str) -> contextlib.AbstractContextManager[Path]:
    @contextlib.contextmanager
    def mounted() -> object:
        path.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        try:
            yield path
        finally:
            subprocess.run(["umount", "-l", str(path)], check=False)

    return mounted()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs is Linux's")
def test_a_full_tmpfs_is_exit_74_with_one_line_from_the_start_and_mid_run(tmp_path):
    (tmp_path / "tiny.py").write_text(SOURCE.replace("seeds=2", "seeds=40"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with _tmpfs(tmp_path / "disk", "48k") as disk:
        # one model at a time, so that rows are stored trial by trial and some fit before the disk is full
        out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "tiny.py", "--results", str(disk),
                              "--executor", "sequential", "--quiet", "--no-stack"], cwd=tmp_path, env=env, text=True,
                             capture_output=True, timeout=120)
        assert out.returncode == 74, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0] and "run the same command again" in lines[0]
        kept = pd.read_csv(disk / "tiny" / "trials.csv")
        assert 0 < len(kept) < 80 and not kept.duplicated(["trial", "seed"]).any()
        pd.read_csv(disk / "tiny" / "curves.csv")
        (disk / "filler").write_bytes(b"")  # full from the start: a new study cannot even write study.json
        with contextlib.suppress(OSError):
            (disk / "filler").write_bytes(b"x" * 200_000)
        out = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", "tiny.py", "--results", str(disk / "other"),
                              "--executor", "sequential", "--quiet"], cwd=tmp_path, env=env, text=True,
                             capture_output=True, timeout=120)
        assert out.returncode == 74 and len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_report_on_a_read_only_folder_is_one_line(done, capsys):
    done.chmod(0o555)
    try:
        assert main(["report", str(done)]) == 74
    finally:
        done.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the report" in err[0]


def test_report_on_a_read_only_folder_is_one_line_even_as_root(done, capsys, monkeypatch):
    from sweeper.analysis import report

    def refuse(*_a: object, **_k: object) -> None:
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(done / "report"))

    monkeypatch.setattr(report.Path, "mkdir", refuse)
    assert main(["report", str(done)]) == 74
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the report of tiny" in err[0] and "Read-only" in err[0]


@pytest.mark.parametrize("sampler", ["bayes", "grid"])
def test_report_of_a_study_where_every_trial_diverged(tmp_path, capsys, sampler):
    """Bayesian: the log axis of learning_rate; a grid of two hyperparameters: its heatmap."""
    from sweeper import loguniform

    fixed = {"hidden_size": 16, "epochs": 1, "momentum": 0.0}
    study = (tiny_study(name="boom", sampler="bayes", n_trials=3, seeds=2, fixed=fixed,
                        space={"learning_rate": loguniform(1e4, 1e6)}) if sampler == "bayes" else
             tiny_study(name="boom", fixed=fixed, space={"learning_rate": [1e4, 1e5], "batch_size": [32, 64]}))
    summary = run_study(study, results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
                        show_progress=False, stream=io.StringIO())
    assert summary.diverged == summary.trained > 0
    code = main(["report", "boom", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err and "log-scaled" not in err, err


def test_report_over_all_studies_goes_on_past_one_it_cannot_draw(tmp_path, capsys, monkeypatch):
    from sweeper.analysis import report

    run(tmp_path)
    run_study(tiny_study(name="other"), results_root=tmp_path, data_root="unused", jobs=1, executor="sequential",
              show_progress=False, stream=io.StringIO())
    real = report.write_report

    def draw(results: object) -> object:
        if results.name == "other":  # type: ignore[attr-defined]
            raise ValueError("cannot draw this one")
        return real(results)  # type: ignore[arg-type]

    monkeypatch.setattr(report, "write_report", draw)
    assert main(["report", "--results", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "could not write the report of other (ValueError: cannot draw this one)" in err
    assert out.startswith("tiny: ")


@pytest.mark.parametrize(("old", "new"), [("val_acc", "val_accuracy"), ("momentum", "mom")])
def test_a_column_renamed_by_hand_is_explained_in_one_line_and_nothing_is_written(done: Path, old, new) -> None:
    path = done / "trials.csv"
    lines = _lines(path)
    path.write_text(lines[0].replace(f",{old},", f",{new},") + "".join(lines[1:]))
    before = {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()}
    with pytest.raises(ResultsError) as e:
        run(done.parent)
    message = str(e.value)
    assert f"has no column `{old}`" in message and f"but has `{new}`" in message and "renamed by hand" in message
    assert "--restart" in message and "\n" not in message
    assert {p.name: p.read_bytes() for p in done.iterdir() if p.is_file()} == before
    if old == "val_acc":  # and a reader says so, instead of showing a study with no values
        assert any("renamed by hand" in note for note in sweeper.load(done).notes)
