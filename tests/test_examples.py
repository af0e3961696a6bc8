"""The examples of the user's own code: each gives the same rows in this process, in 2
local worker processes and on a real Dask cluster (a scheduler and 2 workers started with
Dask's own CLI), and its report names the user's metric with its direction. The notebook
example's model class lives in `__main__` and still reaches local and Dask workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_dask_cluster import _env, dask_cluster, trials

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {  # study file, seeds (fewer than shipped where a run of every executor would be long), metric
    "own_data": ("studies/own_data.py", "2", "val_rmse"),
    "own_loop": ("studies/own_loop.py", "2", "val_f1"),
    "own_model": ("studies/own_model.py", "1", "val_acc"),
}


def sweep(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "sweeper.cli", *args], cwd=cwd, env=env or _env(), text=True,
                         capture_output=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("cluster"), worker_data=None) as (address, _):
        yield address


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_example_gives_the_same_rows_on_every_executor(name, cluster, tmp_path):
    study, seeds, metric = EXAMPLES[name]
    runs = {}
    for executor, extra in (("sequential", []), ("local", ["--jobs", "2"]), ("dask", ["--scheduler", cluster])):
        results = tmp_path / executor
        sweep("run", str(ROOT / study), "--executor", executor, *extra, "--seeds", seeds, "--results", str(results),
              "--quiet", cwd=tmp_path)
        runs[executor] = trials(results / name)
    assert runs["sequential"] == runs["local"] == runs["dask"]
    assert all(row["status"] == "ok" for row in runs["sequential"].values())
    out = sweep("report", name, "--results", str(tmp_path / "local"), cwd=tmp_path)
    html = (tmp_path / "local" / name / "report" / "index.html").read_text()
    direction = "lower is better" if metric == "val_rmse" else "higher is better"
    assert metric in html and direction in html, out
    assert (tmp_path / "local" / name / "report" / f"curves_{metric}.png").exists()


def test_a_model_class_defined_in_main_reaches_local_and_dask_workers(tmp_path):
    rows = {}
    for executor in ("local", "dask"):
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "notebook.py"), "--executor", executor,
                              "--results", str(tmp_path / executor)], cwd=tmp_path, env=_env(), text=True,
                             capture_output=True, timeout=600)
        assert out.returncode == 0, out.stderr
        assert "hidden=64" in out.stdout  # the summary table it prints
        rows[executor] = trials(tmp_path / executor / "notebook")
    assert rows["local"] == rows["dask"] and len(rows["local"]) == 12
