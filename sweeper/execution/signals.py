"""How a sweep's processes end, whatever ends them.

The driver treats SIGTERM (`kill`, `docker stop`, systemd, a batch system's time limit) and
SIGHUP (a closed terminal) as it treats Ctrl-C: the first one stops the sweep where it is,
finished rows stay saved, the workers are stopped and the exit code is 128 + the signal's
number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP). A second signal while that
cleanup runs exits at once with the same code: the rows are already on disk (each one is
written and fsynced as it arrives), and the workers end with the driver anyway, because:

- a local worker asks the kernel to SIGKILL it when its parent dies (`prctl(PR_SET_PDEATHSIG)`
  on Linux, see `die_with_driver`); its parent is the forkserver that forked it, which asks
  the same of the driver (`forkserver_guard.py`), so even `kill -9` of the driver or the OOM
  killer leaves no worker behind, and no worker keeps a `| tee log` pipe open;
- a Dask worker of the local cluster exits when the pipe its parent holds open closes
  (distributed's `AsyncProcess` does this for every process a Nanny starts).

Workers are started with SIGINT and SIGHUP blocked (`workers_ignore_ctrl_c`), so a Ctrl-C or
a closed terminal, which reach the whole process group, reach the driver alone even while a
worker is still importing torch and has not yet installed its own handler; so do loky's and
multiprocessing's resource trackers, which would otherwise die of a group's SIGHUP, be
started again, and print a traceback for every semaphore their predecessor held.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

STOP_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
                     if s is not None)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class _Stop:
    received: int | None = None  # the first stop signal, if any


def received() -> int | None:
    """The first stop signal this process received under `stop_on_signals`, if any."""
    return _Stop.received


def quiet_start() -> None:
    """In the `sweep` command (the script, or `python -m sweeper.cli`), make a Ctrl-C that
    comes while Python is still importing sweeper and torch print the command's one line and
    exit 130, not a traceback of whatever import it landed in; nothing is running yet to save
    or stop. Called first thing on `import sweeper`; `stop_on_signals` takes over in `main`.
    Anywhere else (a notebook, a user's script) the process's handlers are left alone."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    command = os.path.basename(sys.argv[0]) in ("sweep", "sweep.exe", "sweep-script.py") or any(
        a == "-m" and b == "sweeper.cli" for a, b in zip(argv, argv[1:])) or "-msweeper.cli" in argv
    if command and threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_at_start)


def _interrupted_at_start(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(OSError):
        os.write(2, b"sweep: interrupted\n")
    os._exit(128 + signum)


def exit_code(default: int = 128 + signal.SIGINT) -> int:
    """The conventional exit code for the stop signal received: 128 + its number."""
    return 128 + _Stop.received if _Stop.received else default


def _handler(signum: int, frame: FrameType | None) -> None:
    if _Stop.received is None:
        _Stop.received = signum
        raise KeyboardInterrupt
    # a second signal during the cleanup: the user wants out now; rows are already on disk
    # and the workers follow the driver (see the module's docstring)
    with contextlib.suppress(OSError):
        os.write(2, f"\nsweep: {signal.Signals(signum).name} again: stopping now; finished trials are saved\n".encode())
    os._exit(exit_code())


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread, as Ctrl-C does; a
    second stop signal exits at once (see the module's docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    _Stop.received = None
    for s in STOP_SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            # once stopping, a further signal is ignored from here on: Python would otherwise put
            # back the default handler while it shuts down, and a second Ctrl-C could end the
            # process by SIGINT (exit -2) instead of 130
            signal.signal(s, handler if _Stop.received is None else signal.SIG_IGN)


@contextlib.contextmanager
def workers_ignore_ctrl_c() -> Iterator[None]:
    """Block SIGINT and SIGHUP in this thread while it starts worker processes: a child
    inherits the blocked mask across fork and exec, so a Ctrl-C or a closed terminal never
    interrupts a worker that is still importing (each would print a traceback). The driver
    loses nothing: the kernel hands the signal to another of its threads, or to this one
    once the mask is restored.

    The resource trackers (multiprocessing's, and loky's for its workers) are started here,
    inside the mask: they ignore SIGINT and SIGTERM on their own, not SIGHUP."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    from multiprocessing import resource_tracker

    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HANGUP)
    try:
        resource_tracker.ensure_running()  # it unblocks SIGINT and SIGTERM in the thread that starts it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        from joblib.externals.loky.backend import resource_tracker as loky_tracker

        loky_tracker.ensure_running()
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_HANGUP = {signal.SIGHUP} if hasattr(signal, "SIGHUP") else set()


def die_with_driver(driver: int) -> None:
    """Make this worker process end when the driver `driver` does, however it ends.

    Its parent is the driver, or the driver's forkserver (`executors.LocalExecutor`), which
    itself ends with the driver (`forkserver_guard.py`). On Linux the kernel does it:
    PR_SET_PDEATHSIG sends SIGKILL when the parent dies. Elsewhere a daemon thread checks once
    a second whether the parent is still there."""
    parent = die_with_parent()
    if parent != driver and _parent_of(parent) not in (driver, None):
        os._exit(1)  # the forkserver that forked it no longer belongs to the driver


def die_with_parent() -> int:
    """Make this process end when its parent does (see `die_with_driver`); the parent's pid."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            _watch_parent(parent)
    else:
        _watch_parent(parent)
    if os.getppid() != parent:  # the parent died before the kernel was told
        os._exit(1)
    return parent


def _parent_of(pid: int) -> int | None:
    """The parent of process `pid`, where /proc tells it (Linux); else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])  # the fields after the command's name: state, ppid, ...
    except (OSError, ValueError, IndexError):
        return None


def _watch_parent(parent: int) -> None:
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="sweeper-watch-driver", daemon=True).start()
