"""The progress line of a running sweep: done/total, failures, elapsed, ETA, best so far.

On a terminal it redraws one line; in a Jupyter notebook too (a carriage return, which
the notebook honours, without the terminal's escape codes); into a file or pipe it writes
a line now and then, so logs of long runs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (its output goes to a notebook's cell)."""
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return type(ip).__name__ == "ZMQInteractiveShell"


class Progress:
    def __init__(self, name: str, total: int, done_before: int, stream: TextIO | None = None,
                 enabled: bool = True, log_every_s: float = 30.0) -> None:
        self.name, self.total, self.done_before = name, total, done_before
        self.done, self.failed, self.diverged = done_before, 0, 0
        self.best = ""
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.notebook = _in_notebook()
        self.tty = self.stream.isatty() or self.notebook
        self.start = time.monotonic()
        self.evidence = 1  # trials of this run to see finish before an ETA (`runner` sets the first round's size)
        self._last_log = 0.0
        self._log_every_s = log_every_s
        self._drawn = ""

    def count_stored(self, statuses: list[str]) -> None:
        """Count the rows a resumed run finds already done, before its first line."""
        self.done_before = self.done = len(statuses)
        self.failed, self.diverged = statuses.count("failed"), statuses.count("diverged")

    def eta_seconds(self) -> float | None:
        """Seconds left at this run's pace so far: None until the first round of trials that
        started together has finished (`evidence`), as one trial done while others are nearly
        done says little of the pace."""
        new, left = self.done - self.done_before, self.total - self.done
        if left <= 0:
            return 0.0
        return (time.monotonic() - self.start) / new * left if new and new >= self.evidence else None

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        seconds = self.eta_seconds()
        eta = "after the first round" if seconds is None else _clock(seconds)
        parts = [f"[{self.name}] {self.done}/{self.total} trials", f"{self.failed} failed"]
        if self.diverged:
            parts.append(f"{self.diverged} diverged")
        parts.append(f"{_clock(elapsed)} elapsed, ETA {eta}")
        if self.best:
            parts.append(f"best {self.best}")
        return " | ".join(parts)

    def update(self, status: str | None = None, best: str | None = None) -> None:
        if status is not None:
            self.done += 1
            self.failed += status == "failed"
            self.diverged += status == "diverged"
        if best is not None:
            self.best = best
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            line = self.line()
            self.stream.write("\r" + line.ljust(len(self._drawn)) if self.notebook else "\r\033[K" + line)
            self._drawn = line
            self.stream.flush()
        elif now - self._last_log >= self._log_every_s or self.done == self.total:
            self._last_log = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
