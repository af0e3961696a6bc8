"""Loading a study file: run it as Python and take its `study`.

It runs as `python file.py` would run it: its folder first on sys.path, so that it imports the
modules beside it (loaded afresh, as they are now, when the same process loads it again).
Those modules travel to the workers by value (`usercode/shipping.py`).

A study file is user code, so anything can happen while it runs; whatever happens becomes
one StudyError line that names the file (and the line, where there is one): a syntax error,
bytes that are not in the file's encoding, an exception of any kind, even one that is not an
`Exception` (a `BaseException` subclass, `sys.exit(...)`), and `os._exit(...)`, which
would otherwise end the whole program silently, with the code the file chose.
Only Ctrl-C is let through, as Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import tokenize
import traceback
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from sweeper.errors import StudyError, SweeperError
from sweeper.study.study import Study
from sweeper.usercode import usercode

MODULE_NAME = "__sweeper_study__"


def read_study_source(path: str | Path) -> str:
    """A study file's text, decoded as Python decodes it (UTF-8 unless it declares a coding)."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"{path}: no such study file; pass the path to a .py file that defines `study = Study(...)`")
    data = path.read_bytes()
    try:
        encoding, _ = tokenize.detect_encoding(iter(data.splitlines(keepends=True)).__next__)
    except SyntaxError as e:  # an unknown coding name
        raise StudyError(f"{path}: {e.msg}; declare a known encoding, or none and save the file as UTF-8") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise StudyError(f"{path}:{line}: byte {data[e.start:e.start + 1]!r} is not valid {encoding} "
                         f"(at offset {e.start}); save the study file as {encoding}, or as UTF-8 "
                         "without a coding declaration") from None
    return text[1:] if text.startswith("\ufeff") else text


def load_study(path: str | Path) -> Study:
    """Run a study file and return its `study`; every problem becomes one StudyError line."""
    path = Path(path)
    source = read_study_source(path)
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as e:
        raise StudyError(f"{path}:{e.lineno}: syntax error: {e.msg}; fix the Python syntax of the study file") from None
    except ValueError as e:  # e.g. a NUL byte in the source
        raise StudyError(f"{path}: {e}; remove it from the study file") from None
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = str(path)
    usercode.ran_file(MODULE_NAME, str(path))
    namespace = module.__dict__
    _beside(path)
    try:
        with _exit_is_an_exception(), _registered(module):
            exec(code, namespace)
    except KeyboardInterrupt:
        raise
    except SweeperError as e:
        message = str(e)
        if message.startswith(f"{path}:"):  # the study names the line itself (that of a misspelt key)
            raise StudyError(message) from None
        if "field `" not in message:  # raised by a primitive such as uniform(): quote the line that called it
            message += f" (in `{_source_in(path, e)}`)"
        raise StudyError(f"{path}{_line_in(path, e)}: {message}") from None
    except SystemExit as e:
        _exited(path, e, "sys.exit", e.code)
    except _HardExit as e:
        _exited(path, e, "os._exit", e.code)
    except BaseException as e:  # the study file is user code: report where it failed, not how
        raise StudyError(f"{path}{_line_in(path, e)}: {type(e).__name__}: {e}") from None
    study = namespace.get("study")
    if study is None:
        raise StudyError(f"{path}: defines no `study`; end the file with `study = Study(name=..., ...)`")
    if not isinstance(study, Study):
        raise StudyError(f"{path}: `study` is a {type(study).__name__}, not a Study; write `study = Study(...)`")
    return study


_FOLDERS: set[str] = set()  # study folders this process has put on sys.path


def _beside(path: Path) -> None:
    """The study's folder first on sys.path, as `python file.py` puts it, and the modules
    beside this or an earlier study file imported afresh when imported again (a changed
    helper is read again; another folder's helpers.py is not mistaken for this one's)."""
    folder = str(path.resolve().parent)
    _FOLDERS.add(folder)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if "." not in name and name != "__main__" and file and str(Path(file).resolve().parent) in _FOLDERS:
            del sys.modules[name]
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)


class _HardExit(BaseException):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@contextmanager
def _exit_is_an_exception() -> Iterator[None]:
    """While a study file runs, `os._exit` raises instead of ending the process on the spot."""
    def hard_exit(code: int) -> NoReturn:
        raise _HardExit(code)

    original = os._exit
    os._exit = hard_exit  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = original


@contextmanager
def _registered(module: types.ModuleType) -> Iterator[None]:
    """The module is in sys.modules while it runs, as an imported one would be (dataclasses need it)."""
    previous = sys.modules.get(module.__name__)
    sys.modules[module.__name__] = module
    try:
        yield
    finally:
        if previous is None:
            sys.modules.pop(module.__name__, None)
        else:
            sys.modules[module.__name__] = previous


def _exited(path: Path, e: BaseException, how: str, code: object) -> NoReturn:
    said = f" ({code})" if isinstance(code, str) else ""
    arg = "" if code is None else repr(code) if not isinstance(code, str) else "..."
    raise StudyError(f"{path}{_line_in(path, e)}: the study file called {how}({arg}){said}; a study file "
                     "must define `study = Study(...)` and not exit: remove the call") from None


def _frame_in(path: Path, exc: BaseException) -> traceback.FrameSummary | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
    return frames[-1] if frames else None


def _line_in(path: Path, exc: BaseException) -> str:
    frame = _frame_in(path, exc)
    return f":{frame.lineno}" if frame else ""


def _source_in(path: Path, exc: BaseException) -> str:
    frame = _frame_in(path, exc)
    return (frame.line or "").strip().rstrip(",") if frame else ""

