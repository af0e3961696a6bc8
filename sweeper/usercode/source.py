"""Where a user's code is: the file and line of a function or class, of the `Study(...)` call
that made a study, and of a key spelt in that call; and the hash of a function's source text
that the fingerprints of folders written before `identity.record` hold."""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import tokenize
from typing import Any

from sweeper.usercode.usercode import class_file, is_user_file, unwrap


def source_file(obj: Any) -> str:
    """The file that defines a user's function or class ('' where there is none)."""
    code = getattr(unwrap(obj), "__code__", None)
    if code is not None:
        return str(code.co_filename) if not code.co_filename.startswith("<") else ""
    if isinstance(obj, type):
        return class_file(obj)
    try:
        return inspect.getsourcefile(obj) or ""
    except TypeError:
        return ""


def describe_callable(fn: Any) -> str:
    """'train (studies/own_loop.py:12)': a user function as study.json and errors name it."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    try:
        where = f" ({inspect.getsourcefile(fn)}:{inspect.getsourcelines(fn)[1]})"
    except (OSError, TypeError):
        where = ""
    return f"{name}{where}"


def code_hash(obj: Any) -> str:
    """A hash of a function's or class's source text (its bytecode where the source is not at
    hand), comments included: the fingerprints of folders written before `record` existed hold it."""
    try:
        text = inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        text = repr((code.co_code, code.co_consts)) if code else getattr(obj, "__qualname__", repr(type(obj)))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def defined_at() -> tuple[str, int] | None:
    """(file, line) of the innermost call in the user's own files on the stack: where the
    object being made is defined. None where there is none (a notebook, sweeper's own code)."""
    frame = sys._getframe(1)
    while frame is not None:
        if is_user_file(frame.f_code.co_filename):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None


def line_of(file: str, line: int, name: str) -> int:
    """The line of the string `name` in the statement of `file` that starts at or spans
    `line` (a key of a `Study(...)` call's `fixed` or `space`); `line` where it is not there."""
    try:
        with tokenize.open(file) as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return line
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt) and n.lineno <= line <= (n.end_lineno or n.lineno)]
    if not statements:
        return line
    innermost = min(statements, key=lambda n: (n.end_lineno or n.lineno) - n.lineno)
    found = [n.lineno for n in ast.walk(innermost) if isinstance(n, ast.Constant) and n.value == name]
    return min(found, default=line)
