"""The first module the local executor's forkserver imports: it makes the forkserver die
with the driver that started it, at once, however the driver ends.

The forkserver (`executors.LocalExecutor`) imports torch and sweeper's training code once,
then forks every worker from itself, so that workers start with them imported. It would
end on its own when the driver's end closes its pipe, but only between two forks, and not
while it is still importing torch (seconds); `kill -9` of the driver must not leave it, nor
the workers it forks, behind. So the driver names itself in DRIVER_ENV before it starts the
forkserver, and this module, imported first, asks the kernel to kill the forkserver when
its parent, that driver, dies (`signals.die_with_driver`), and each worker as soon as it is
forked, before it has read what to run, when the forkserver dies. Imported anywhere else it
does nothing.

A worker forked while the driver stops its pool (Ctrl-C as workers start) finds the pool's
semaphores or pipe gone before it could start: it exits without printing a traceback, which
would only say that the pool it was meant for is no longer there.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

from sweeper.execution.signals import die_with_driver, die_with_parent

DRIVER_ENV = "SWEEPER_FORKSERVER_DRIVER"


def _quiet_if_abandoned(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if not isinstance(value, (OSError, EOFError)):
        sys.__excepthook__(kind, value, tb)


def _forked() -> None:
    die_with_parent()
    sys.excepthook = _quiet_if_abandoned  # what reaches it here: a failure to start (the pool's start-up)


if os.environ.get(DRIVER_ENV) == str(os.getppid()):
    die_with_driver(os.getppid())
    os.register_at_fork(after_in_child=_forked)
