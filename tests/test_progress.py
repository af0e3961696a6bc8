"""The progress line (`sweeper.execution.progress`): a resumed run counts what it finds from
its first line, failures the same way before and after, and the ETA waits for evidence."""

from __future__ import annotations

import io

from sweeper.execution.progress import Progress


def test_a_resumed_run_counts_the_rows_it_finds_from_its_first_line():
    out = io.StringIO()
    progress = Progress("s", 36, 0, out)
    progress.count_stored(["ok"] * 15 + ["diverged"] * 3)
    progress.update("diverged")
    first = out.getvalue().splitlines()[0]
    assert first.startswith("[s] 19/36 trials") and "4 diverged" in first


def test_the_eta_waits_for_the_first_round_and_says_so():
    progress = Progress("s", 20, 0, io.StringIO(), enabled=False)
    progress.evidence = 4  # four trials started together
    for _ in range(3):
        progress.update("ok")
        assert progress.eta_seconds() is None and "ETA after the first round" in progress.line()
    progress.update("ok")
    assert progress.eta_seconds() is not None and "ETA after" not in progress.line()
