"""The manual cannot go stale: every ```python and ```bash block of README.md and docs/**/*.md runs.

A page's blocks run in order, in a fresh folder of their own that sees the repository's
`studies/`, `examples/` and `bench/`: its Python blocks in one interpreter (a later block may
use an earlier one's names), each bash block with `bash -e`. A block fenced otherwise
(```text) or preceded by a line `<!-- not run: REASON -->` is not run. The reference pages are
generated from the code (docs/hooks/reference.py); the fast tests below check they name every
`Study` field and every option of `sweep`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

RUNNABLE = ("python", "bash")
NOT_RUN = re.compile(r"<!--\s*not run:\s*\S.*-->")
FENCE = re.compile(r"^```(\S*)\s*$")
LINKED = ("studies", "examples", "bench")  # what the examples may name relative to the repository root
BLOCK_TIMEOUT = 120  # seconds; an example should take a few


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str

    def where(self) -> str:
        return f"{self.page}, the {self.language} block at line {self.line}"


def pages() -> list[Path]:
    docs = sorted(p for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts)
    return [ROOT / "README.md", *docs]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a page (at the line's start), runnable or not."""
    found, lines, i = [], path.read_text().splitlines(), 0
    page = str(path.relative_to(ROOT))
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match.group(1):
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```")
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        language = "skipped" if NOT_RUN.search(previous) else match.group(1)
        found.append(Block(page, i + 1, language, "\n".join(lines[i + 1:end]) + "\n"))
        i = end + 1
    return found


def runnable(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.language in RUNNABLE]


# One interpreter per page: reads one JSON-encoded block a line, runs it in one namespace and answers
# on its own stdout; the blocks' own output goes to stderr, which the test keeps for the message.
INTERPRETER = r"""
import json, sys, traceback
answer, sys.stdout = sys.stdout, sys.stderr
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    block = json.loads(line)
    try:
        exec(compile(block["code"], block["where"], "exec"), namespace)
        result = {"ok": True}
    except BaseException:
        result = {"ok": False, "error": traceback.format_exc()}
    sys.stderr.flush()
    answer.write(json.dumps(result) + "\n")
    answer.flush()
"""


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    return env


def _workdir(tmp_path: Path) -> Path:
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def run_page(path: Path, workdir: Path) -> int:
    """Runs the page's examples in order; fails naming the page and block. Returns how many ran."""
    env, log = _environment(), workdir / "python-output.txt"
    python = None
    try:
        for block in runnable(path):
            if block.language == "bash":
                out = subprocess.run(["bash", "-e", "-c", block.code], cwd=workdir, env=env, text=True,
                                     capture_output=True, timeout=BLOCK_TIMEOUT)
                assert out.returncode == 0, f"{block.where()} exited {out.returncode}:\n{out.stdout}{out.stderr}"
                continue
            if python is None:
                python = subprocess.Popen([sys.executable, "-c", INTERPRETER], cwd=workdir, env=env, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"))
            assert python.stdin and python.stdout
            python.stdin.write(json.dumps({"code": block.code, "where": block.where()}) + "\n")
            python.stdin.flush()
            result = json.loads(python.stdout.readline() or '{"ok": false, "error": "the interpreter died"}')
            assert result["ok"], f"{block.where()} raised:\n{result['error']}\n{log.read_text()[-3000:]}"
    finally:
        if python is not None:
            python.kill()
            python.wait()
    return len(runnable(path))


def _needs_data() -> None:
    root = os.environ.get("SWEEPER_DATA_DIR", "")
    if not (Path(root) / "MNIST" / "raw").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs MNIST under SWEEPER_DATA_DIR, got {root!r}")
        pytest.skip("the manual's examples train on MNIST: set SWEEPER_DATA_DIR")


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in pages() if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_of_the_page_runs(page, tmp_path, capsys):
    _needs_data()
    count = run_page(page, _workdir(tmp_path))
    with capsys.disabled():
        print(f"\n{page.relative_to(ROOT)}: {count} examples ran")


def test_the_manual_has_examples_and_fences_them_as_run_or_text():
    found = [b for p in pages() for b in blocks(p)]
    kinds = {b.language for b in found}
    assert kinds <= {*RUNNABLE, "text", "skipped", "yaml", "toml"}, kinds - {*RUNNABLE, "text", "skipped"}
    count = sum(b.language in RUNNABLE for b in found)
    print(f"{count} examples in {len(pages())} pages are run by test_every_example_of_the_page_runs")
    assert count >= 20


def test_a_block_marked_not_run_is_skipped_and_a_failing_one_names_its_page_and_line(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("text\n\n<!-- not run: needs a GPU -->\n```python\nraise SystemExit(1)\n```\n\n"
                    "```python\nx = 2\n```\n\n```bash\ntrue\n```\n\n```python\nassert x == 3, 'x is 2'\n```\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = blocks(page)
    assert [b.language for b in found] == ["skipped", "python", "bash", "python"]
    assert found[3].where() == "page.md, the python block at line 16"
    with pytest.raises(AssertionError, match=r"page.md, the python block at line 16 raised:(.|\n)*x is 2"):
        run_page(page, tmp_path)


def _reference():
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_hook", ROOT / "docs" / "hooks" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_study_reference_names_every_field_with_its_comment():
    import dataclasses

    from sweeper import Crossed, Racing, Rungs, Split, Study

    page = _reference().study_reference()
    for cls in (Study, Split, Crossed, Racing, Rungs):
        for field in dataclasses.fields(cls):
            if not field.name.startswith("_"):
                row = next((r for r in page.splitlines() if r.startswith(f"| `{field.name}` |")), None)
                assert row is not None, f"{cls.__name__}.{field.name} is missing from the reference"
                assert not row.rstrip().endswith("|  |"), f"{cls.__name__}.{field.name} has no comment in study.py"
    assert "| `n_trials` | `int \\| None` | `None` | configurations to try (random and bayes) |" in page


def test_the_cli_reference_names_every_command_and_option():
    import argparse

    from sweeper.cli import build_parser

    page = _reference().cli_reference()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert f"## `sweep {name}`" in page
        for action in command._actions:
            for option in action.option_strings if not isinstance(action, argparse._HelpAction) else ():
                assert f"`{option}`" in page, f"sweep {name} {option} is missing from the reference"
    assert "--no-stack" in page and "`sweep serve`" in page


def test_the_hook_replaces_markers_and_leaves_other_pages_alone():
    hook = _reference()
    assert hook.on_page_markdown("# plain\n", None, None, None) == "# plain\n"
    page = hook.on_page_markdown("# Hyperparameters\n\n<!-- reference: hyperparameters -->\n", None, None, None)
    assert "| `learning_rate` | `0.1` | a number > 0 |" in page and "<!--" not in page
