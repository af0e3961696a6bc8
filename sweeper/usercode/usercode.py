"""The user's own code that a study reaches: what identifies it, and what must travel to the workers.

A study passes functions (or classes) as `model`, `data`, `metrics` and `train`. What they
compute depends on more than their own lines: the classes they build, the helpers they call,
the constants they read, in the study file and in the user's modules beside it. `reach`
follows those references: the globals a function's code reads (and the attributes it reads
of the user's modules), the modules it imports, its closure and default values, a class's
methods, nested classes and base classes. It stops at code that is not the user's: the
standard library, installed packages, sweeper itself (`is_user_file`).

Each function's and class's source is hashed as a syntax tree without docstrings (so a
comment, a docstring or blank lines change nothing), each plain constant kept as its value.
What it finds serves two ends: the study's identity (`usercode/identity.py` records it in
study.json by name, so that a refused resume names what changed) and the trip to the workers
(`usercode/shipping.py` pickles the user's modules by value).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import dis
import enum
import functools
import hashlib
import inspect
import os
import site
import sys
import sysconfig
import textwrap
import tokenize
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent.parent  # sweeper itself
_PLAIN = (int, float, complex, str, bytes, bool, type(None))
_VALUE_REPR = 200  # a constant whose repr is longer is no setting: it is data, and not recorded


@functools.cache
def _not_users() -> tuple[str, ...]:
    """Folders whose code is not the user's: the interpreter's library and scripts (a
    virtual environment's and its base's), installed packages, sweeper."""
    paths = {*getattr(site, "getsitepackages", list)(), site.getusersitepackages(), str(_PACKAGE)}
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        scheme = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix, "installed_base": prefix})
        paths |= {scheme[k] for k in ("stdlib", "platstdlib", "purelib", "platlib", "scripts") if k in scheme}
    return tuple(os.path.join(os.path.realpath(p), "") for p in paths if p)


def is_user_file(filename: str) -> bool:
    """Whether code in `filename` is the user's own: a file outside the interpreter's
    folders, installed packages and sweeper (a study file, a module beside it, a notebook
    saved as a script)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.realpath(filename)
    return os.path.isfile(path) and not path.startswith(_not_users())


# -- following the references --------------------------------------------------------
def unwrap(obj: Any) -> Any:
    """The function behind a partial, a bound method, or a decorator that kept `__wrapped__`
    (functools.wraps, lru_cache)."""
    for _ in range(20):
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif isinstance(obj, (types.MethodType, staticmethod, classmethod)):
            obj = obj.__func__
        elif not isinstance(obj, type) and hasattr(obj, "__wrapped__"):
            obj = obj.__wrapped__
        else:
            return obj
    return obj


_RAN_FILES: dict[str, str] = {}  # module name -> file, of modules run and let go (a study file's)


def ran_file(module: str, file: str) -> None:
    """Note that code of `module` came from `file`, though the module is not kept in sys.modules."""
    _RAN_FILES[module] = file


def class_file(cls: type) -> str:
    """A class's file: its module's, or its methods' (a study file's module is gone once it ran)."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None) or (_RAN_FILES.get(cls.__module__) if module is None else None)
    if file:
        return str(file)
    for value in vars(cls).values():
        code = getattr(unwrap(value), "__code__", None)
        if code is not None and not code.co_filename.startswith("<"):
            return str(code.co_filename)
    return ""


def _names(code: types.CodeType) -> tuple[set[str], set[str], set[str]]:
    """The global names a code object reads, every name it reads an attribute by, and the
    modules it imports: its own and those of the code nested in it (inner functions, lambdas)."""
    read, attributes, imported = set(), set(code.co_names), set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            read.add(str(ins.argval))
        elif ins.opname == "IMPORT_NAME":
            imported.add(str(ins.argval))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            r, a, i = _names(const)
            read, attributes, imported = read | r, attributes | a, imported | i
    return read, attributes, imported


def _setting(value: Any) -> bool:
    """A setting rather than data: a number, a string, a small container of them, an enum's
    member, or a dataclass of settings (all with a repr that shows their value)."""
    if isinstance(value, (*_PLAIN, enum.Enum)):
        return True
    if isinstance(value, (tuple, list, frozenset)):
        return len(value) <= 50 and all(_setting(v) for v in value)
    if isinstance(value, dict):
        return len(value) <= 50 and all(_setting(k) and _setting(v) for k, v in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return all(_setting(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


class Reach:
    """The user's functions, classes and constants reachable from some roots."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}  # key ("class WaveNet (study.py)") -> hash, or a constant's repr
        self.modules: dict[str, types.ModuleType] = {}  # the user's modules met on the way
        self.others: list[tuple[str, Any]] = []  # (who refers to it, value) for everything else met
        self._seen: set[int] = set()
        self._files: dict[str, _Index | None] = {}

    def follow(self, obj: Any, via: str = "") -> None:
        """Record `obj` if it is the user's, and everything it reaches."""
        todo = [(obj, via)]
        while todo:
            obj, via = todo.pop()
            obj = unwrap(obj)
            if id(obj) in self._seen:
                continue
            self._seen.add(id(obj))
            if isinstance(obj, types.FunctionType) and is_user_file(obj.__code__.co_filename):
                self.objects[self.key(obj, via)] = self.hash(obj)
                self._home(obj)
                todo += self._function_refs(obj)
            elif isinstance(obj, type) and is_user_file(class_file(obj)):
                self.objects[self.key(obj)] = self.hash(obj)
                self._home(obj)
                todo += self._class_refs(obj)
            elif not isinstance(obj, (type, types.FunctionType, types.ModuleType, types.BuiltinFunctionType)) \
                    and is_user_file(class_file(type(obj))):
                todo.append((type(obj), ""))  # an instance of the user's class (a callable object)

    def _home(self, obj: Any) -> None:
        """Note the module that defines a user's function or class, where it is an imported one."""
        module = sys.modules.get(obj.__module__)
        if module is not None and is_user_file(str(getattr(module, "__file__", "") or "")):
            self.modules[module.__name__] = module

    def _function_refs(self, fn: types.FunctionType) -> list[tuple[Any, str]]:
        """What a function's code refers to: the code to follow next. Constants are recorded
        on the way, by their name and where they live: a module's by the expression its file
        assigns them (what the file says, not what a run set them to), others by their value;
        anything else is kept in `others`."""
        code, namespace = fn.__code__, fn.__globals__
        read, attributes, imported = _names(code)
        home = code.co_filename
        refs = [(name, namespace[name], f"value {name} ({Path(home).name})", home)
                for name in sorted(read) if name in namespace]
        cells = zip(code.co_freevars, fn.__closure__ or (), strict=False)
        refs += [(name, _cell(cell), f"value {name} (in {fn.__qualname__})", "") for name, cell in cells]
        defaults = fn.__defaults__ or ()
        params = code.co_varnames[code.co_argcount - len(defaults):code.co_argcount]
        refs += [(name, value, f"value {name} (default of {fn.__qualname__})", "")
                 for name, value in [*zip(params, defaults), *(fn.__kwdefaults__ or {}).items()]]
        package = str(namespace.get("__package__") or "")
        refs += [(name, sys.modules.get(name) or sys.modules.get(f"{package}.{name}"), "", "") for name in sorted(imported)]
        out: list[tuple[Any, str]] = []
        while refs:
            name, value, key, file = refs.pop(0)
            if isinstance(value, types.ModuleType):
                file = str(getattr(value, "__file__", "") or "")
                if is_user_file(file):  # its attributes this code reads (this code's own: read them again)
                    self.modules[value.__name__] = value
                    refs += [(a, vars(value)[a], f"value {a} ({Path(file).name})", file) for a in sorted(attributes)
                             if a in vars(value)]
            elif isinstance(value, (types.FunctionType, type)) or callable(value) and not _setting(value):
                out.append((value, name))
            elif _setting(value) and key:
                index = self._index(file) if file else None
                text = index.assigned.get(name) if index is not None else None
                text = text or repr(value)
                self.objects[key] = text if len(text) <= _VALUE_REPR else _digest(text)
                out.append((type(value), ""))  # a user's dataclass: its class too
            elif value is not _EMPTY and value is not None:
                self.others.append((f"`{name}` in {fn.__qualname__}" if name else fn.__qualname__, value))
        return out

    def _class_refs(self, cls: type) -> list[tuple[Any, str]]:
        out: list[tuple[Any, str]] = [(base, "") for base in cls.__mro__[1:]]
        for value in vars(cls).values():
            if isinstance(value, property):
                value = [f for f in (value.fget, value.fset, value.fdel) if f is not None]
            for member in value if isinstance(value, list) else [value]:
                member = unwrap(member)
                if isinstance(member, types.FunctionType) and is_user_file(member.__code__.co_filename):
                    out += self._function_refs(member)  # a method: its source is the class's
                elif isinstance(member, type):
                    out.append((member, ""))
        return out

    # -- naming and hashing ---------------------------------------------------------
    @staticmethod
    def key(obj: Any, via: str = "") -> str:
        """'class WaveNet (study.py)', 'function load_waves (waves.py)'; a lambda by the
        name that reached it, or by its line."""
        if isinstance(obj, type):
            return f"class {obj.__qualname__} ({Path(class_file(obj)).name})"
        code = getattr(obj, "__code__", None)
        name = getattr(obj, "__qualname__", type(obj).__name__)
        if code is None:
            return f"object {name}"
        file = Path(code.co_filename).name
        if obj.__name__ == "<lambda>":
            return f"function {via} ({file})" if via else f"function <lambda> ({file}:{code.co_firstlineno})"
        return f"function {name} ({file})"

    def hash(self, obj: Any) -> str:
        """The hash of an object's source as a syntax tree, docstrings and its own name left
        out; its bytecode where no source can be found."""
        node = self._node(obj)
        if node is None:
            code = getattr(obj, "__code__", None)
            if code is not None:
                return _digest(_bytecode(code))
            return _digest(repr(sorted((k, repr(v)) for k, v in vars(obj).items() if _setting(v))))
        return _digest(ast.dump(_normalised(node), annotate_fields=False, include_attributes=False))

    def _node(self, obj: Any) -> ast.AST | None:
        file = class_file(obj) if isinstance(obj, type) else getattr(getattr(obj, "__code__", None), "co_filename", "")
        index = self._index(file) if file else None
        if index is None:
            try:
                index = _Index(ast.parse(textwrap.dedent(inspect.getsource(obj))), snippet=True)
            except (OSError, TypeError, SyntaxError):
                return None
        if isinstance(obj, type):
            classes = index.classes.get(obj.__name__, [])
            lines = [c.co_firstlineno for v in vars(obj).values() if (c := getattr(unwrap(v), "__code__", None))]
            inside = [n for n in classes if any(n.lineno <= line <= (n.end_lineno or n.lineno) for line in lines)]
            return next(iter(inside or classes), None)
        line = 1 if index.snippet else obj.__code__.co_firstlineno
        if obj.__name__ == "<lambda>":
            lambdas = index.lambdas.get(line, [])
            return lambdas[0] if len(lambdas) == 1 else None
        return index.functions.get((obj.__name__, line))

    def _index(self, file: str) -> _Index | None:
        if file not in self._files:
            try:
                with tokenize.open(file) as f:
                    self._files[file] = _Index(ast.parse(f.read()))
            except (OSError, SyntaxError, ValueError):
                self._files[file] = None
        return self._files[file]


class _Index:
    """A file's definitions by what finds them: a function by name and first line (its
    first decorator's), a class by name, a lambda by line; and the expressions the file's
    top level assigns to each name."""

    def __init__(self, tree: ast.Module, snippet: bool = False) -> None:
        self.snippet = snippet  # source from inspect.getsource: lines count from 1
        self.functions: dict[tuple[str, int], ast.AST] = {}
        self.classes: dict[str, list[ast.ClassDef]] = {}
        self.lambdas: dict[int, list[ast.Lambda]] = {}
        self.assigned: dict[str, str] = {}
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = 1 if snippet else min([n.lineno, *(d.lineno for d in n.decorator_list)])
                self.functions.setdefault((n.name, first), n)
            elif isinstance(n, ast.ClassDef):
                self.classes.setdefault(n.name, []).append(n)
            elif isinstance(n, ast.Lambda):
                self.lambdas.setdefault(1 if snippet else n.lineno, []).append(n)
        for n in _top_level(tree.body):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            names = [t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)]
            for name in names:
                plain = not isinstance(n, ast.AugAssign) and n.value is not None and len(names) == 1
                text = ast.unparse(n.value) if plain and n.value is not None else ast.unparse(n)
                self.assigned[name] = f"{self.assigned[name]}; {text}" if name in self.assigned else text


def _top_level(body: list[ast.stmt]) -> list[ast.Assign | ast.AnnAssign | ast.AugAssign]:
    """A module's assignments, those under its top-level `if`, `try` and `with` included."""
    out: list[ast.Assign | ast.AnnAssign | ast.AugAssign] = []
    for n in body:
        if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            out.append(n)
        for block in ("body", "orelse", "finalbody"):
            if isinstance(n, (ast.If, ast.Try, ast.With)) and getattr(n, block, None):
                out += _top_level(getattr(n, block))
    return out


_EMPTY = object()


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a closure variable not yet assigned
        return _EMPTY


def _normalised(node: ast.AST) -> ast.AST:
    """A copy without docstrings and without the definition's own name (the key names it)."""
    node = copy.deepcopy(node)
    for n in ast.walk(node):
        body = getattr(n, "body", None)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            n.body = body[1:] or [ast.Pass()]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        node.name = ""
    return node


def _bytecode(code: types.CodeType) -> str:
    parts = [code.co_code.hex(), repr(code.co_names)]
    parts += [_bytecode(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return "|".join(parts)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def reach(roots: Mapping[str, Any]) -> tuple[dict[str, str], Reach]:
    """Follow the roots' references: returns each role's key (`{"model": "function build
    (study.py)"}`) and what was reached. A root is hashed even where it is not the user's."""
    found = Reach()
    roles = {}
    for role, obj in roots.items():
        target = unwrap(obj)
        if not isinstance(target, (type, types.FunctionType)) and callable(target):
            target = type(target)  # a callable object: its class
        roles[role] = found.key(target, role)
        found.objects[roles[role]] = found.hash(target)
        found.follow(obj, role)
    return roles, found
