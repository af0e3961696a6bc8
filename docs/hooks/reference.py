"""MkDocs hook: the reference pages, generated from the code so that they cannot go stale.

A page holds a marker line and the hook puts the generated Markdown in its place:

- `<!-- reference: cli -->`: every `sweep` command and option, from `sweeper.cli`'s argparse parser;
- `<!-- reference: study -->`: every field of `Study` (and of `Split`, `Crossed`, `Racing`, `Rungs`),
  its type, default and the comment that documents it in the code;
- `<!-- reference: hyperparameters -->`: the built-in trainer's hyperparameters (`builtin/hparams.py`).

`tests/test_docs.py` checks that every field and option appears on the built pages.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {  # class -> the module that defines it, whose field comments are its documentation
    "Study": "study/study.py", "Split": "study/study.py", "Crossed": "study/seeds.py",
    "Racing": "schedules/racing.py", "Rungs": "schedules/pruning.py",
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs calls this for every page: markers are replaced, everything else is left as it is."""
    if "<!-- reference: " not in markdown:
        return markdown
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for name, make in GENERATORS.items():
        marker = f"<!-- reference: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


def _cell(text: Any) -> str:
    """A table cell's text: pipes escaped, on one line."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _prose(text: Any) -> str:
    """A cell outside backticks: also `<` escaped, so `results/<study>/` is not read as an HTML tag."""
    return _cell(text).replace("&", "&amp;").replace("<", "&lt;")


def cli_reference() -> str:
    """One section per command: its description, usage and a table of its arguments."""
    from sweeper.cli import build_parser

    parser = build_parser()
    sections = [f"```text\n{parser.format_usage().strip()}\n```\n", _arguments_table(parser)]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        sections.append(f"## `sweep {name}`\n\n{_prose(command.description or '')}\n")
        sections.append(f"```text\n{command.format_usage().strip()}\n```\n")
        sections.append(_arguments_table(command))
        if command.epilog:
            sections.append(f"```text\n{command.epilog.strip()}\n```\n")
    return "\n".join(sections)


def _arguments_table(parser: argparse.ArgumentParser) -> str:
    rows = ["| argument | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            name += " " + " / ".join(f"`{c}`" for c in action.choices)
        elif action.metavar and action.option_strings:
            name += f" `{action.metavar}`"
        default = "" if action.default in (None, False, argparse.SUPPRESS) else f"`{action.default}`"
        rows.append(f"| {name} | {_cell(default)} | {_prose(action.help or '')} |")
    return "\n".join(rows) + "\n"


def _comments(source: str) -> dict[int, str]:
    """Line number -> the comment on that line, without its '#'."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT}


def _field_doc(node: ast.AnnAssign, comments: dict[int, str], lines: list[str]) -> str:
    """The comment after a field, or else the comment lines right above it."""
    if node.lineno in comments and not lines[node.lineno - 1].lstrip().startswith("#"):
        return comments[node.lineno]
    above, line = [], node.lineno - 1
    while line in comments and lines[line - 1].lstrip().startswith("#"):
        above.insert(0, comments[line])
        line -= 1
    return " ".join(above)


def _default(node: ast.AnnAssign) -> str:
    value = node.value
    if value is None:
        return "required"
    if isinstance(value, ast.Call) and ast.unparse(value.func) == "field":
        factory = next((k.value for k in value.keywords if k.arg == "default_factory"), None)
        if factory is not None:
            return {"dict": "{}", "list": "[]"}.get(ast.unparse(factory), f"{ast.unparse(factory)}()")
        default = next((k.value for k in value.keywords if k.arg == "default"), None)
        return ast.unparse(default) if default is not None else "required"
    return ast.unparse(value)


def dataclass_fields(class_name: str) -> list[tuple[str, str, str, str]]:
    """(name, type, default, doc) of each public field of one of SOURCES' dataclasses, in order."""
    source = (ROOT / "sweeper" / SOURCES[class_name]).read_text()
    tree, comments, lines = ast.parse(source), _comments(source), source.splitlines()
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    return [(node.target.id, ast.unparse(node.annotation), _default(node), _field_doc(node, comments, lines))
            for node in cls.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
            and not node.target.id.startswith("_")]


def _fields_table(class_name: str) -> str:
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    rows += [f"| `{name}` | `{_cell(kind)}` | `{_cell(default)}` | {_prose(doc)} |"
             for name, kind, default, doc in dataclass_fields(class_name)]
    return "\n".join(rows) + "\n"


def study_reference() -> str:
    """`Study`'s fields, then those of the values some of them take: Split, Crossed, Racing, Rungs."""
    import sweeper

    sections = [f"## `Study`\n\n{_fields_table('Study')}"]
    for name in ("Split", "Crossed", "Racing", "Rungs"):
        doc = " ".join((getattr(sweeper, name).__doc__ or "").split())
        sections.append(f"## `{name}`\n\n{_prose(doc)}\n\n{_fields_table(name)}")
    return "\n".join(sections)


def hyperparameters_reference() -> str:
    from sweeper.builtin.hparams import HPARAMS

    rows = ["| hyperparameter | default | allowed | meaning |", "|---|---|---|---|"]
    rows += [f"| `{h.name}` | `{h.default!r}` | {_prose(h.rule)} | {_prose(h.doc)} |" for h in HPARAMS.values()]
    return "\n".join(rows) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "cli": cli_reference,
    "study": study_reference,
    "hyperparameters": hyperparameters_reference,
}
