"""The progress line of a running sweep: done/total, failures, elapsed, ETA, best so far.

On a terminal it redraws one line; into a file or pipe it writes a line now and then, so
logs of long runs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, name: str, total: int, done_before: int, stream: TextIO | None = None,
                 enabled: bool = True, log_every_s: float = 30.0) -> None:
        self.name, self.total, self.done_before = name, total, done_before
        self.done, self.failed, self.diverged = done_before, 0, 0
        self.best = ""
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self._last_log = 0.0
        self._log_every_s = log_every_s

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        new = self.done - self.done_before
        left = self.total - self.done
        eta = _clock(elapsed / new * left) if new and left > 0 else ("0:00" if left <= 0 else "?")
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
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif now - self._last_log >= self._log_every_s or self.done == self.total:
            self._last_log = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
