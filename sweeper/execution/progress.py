"""The progress line of a running sweep: done/total, failures, elapsed, ETA, best so far.

On a terminal it redraws one line; in a Jupyter notebook too (a carriage return, which
the notebook honours, without the terminal's escape codes); into a file or pipe it writes
a line now and then, so logs of long runs stay readable.
"""

from __future__ import annotations

import heapq
import math
import statistics
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
        self._last_log = 0.0
        self._log_every_s = log_every_s
        self._drawn = ""

    def eta_seconds(self) -> float | None:
        """Seconds left at this run's pace so far (None before its first trial)."""
        new, left = self.done - self.done_before, self.total - self.done
        if left <= 0:
            return 0.0
        return (time.monotonic() - self.start) / new * left if new else None

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        seconds = self.eta_seconds()
        eta = "?" if seconds is None else _clock(seconds)
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


class BestSoFar:
    """The best configuration so far, by its mean over the seeds stored: kept as rows arrive
    in a heap whose outdated entries are skipped when read, so a row costs a push, not a pass
    over every configuration (20,000 rows of 4,000 configurations made that the driver's
    largest cost). Ties go to the configuration that got its first value first."""

    def __init__(self, maximize: bool) -> None:
        self.sign = -1.0 if maximize else 1.0
        self.scores: dict[str, dict[int, float]] = {}  # trial -> seed -> metric, ok rows only
        self.version: dict[str, int] = {}  # trial -> how many values it was given: older heap entries are outdated
        self.order: dict[str, int] = {}  # trial -> when it got its first value
        self.heap: list[tuple[float, int, int, str]] = []  # (sign x mean, order, version, trial)

    def add(self, trial: str, seed: int, value: float) -> None:
        seeds = self.scores.setdefault(trial, {})
        seeds[seed] = value
        self.order.setdefault(trial, len(self.order))
        self.version[trial] = self.version.get(trial, 0) + 1
        mean = statistics.fmean(seeds.values())
        if not math.isnan(mean):
            heapq.heappush(self.heap, (self.sign * mean, self.order[trial], self.version[trial], trial))

    def best(self) -> tuple[str, float, int] | None:
        """(trial, its mean, its seeds) of the best configuration, or None before any value."""
        while self.heap:
            key, _, version, trial = self.heap[0]
            if version == self.version[trial]:
                return trial, self.sign * key, len(self.scores[trial])
            heapq.heappop(self.heap)
        return None
