"""The distribution: a name of its own on the public index, a version the command reports, an install the README tells."""

import pytest

import sweeper
from sweeper.cli import main
from tests.conftest import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def test_sweep_version_prints_the_packages_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"sweep (seedsweep) {sweeper.__version__}"


def test_distribution_is_not_the_index_s_unrelated_sweeper_and_reads_its_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "seedsweep" and project["scripts"]["sweep"] == "sweeper.cli:main"
    assert "version" in project["dynamic"]
    assert not any(d.startswith("sweeper[") for d in project["optional-dependencies"]["dev"])


def test_readme_installs_under_the_distribution_name_with_a_cpu_only_option():
    readme = (ROOT / "README.md").read_text()
    assert "sweeper[" not in readme
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in readme


def test_the_live_page_s_files_are_package_data_and_the_extras_are_in_dev():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["sweeper.web"]
    static = ROOT / "sweeper" / "web"
    files = [p.relative_to(static) for p in (static / "static").iterdir()]
    assert {"index.html", "app.js", "uPlot.iife.min.js", "uPlot.LICENSE"} <= {f.name for f in files}
    assert all(any(f.match(p) for p in patterns) for f in files)
    dev = config["project"]["optional-dependencies"]["dev"][0]
    assert all(extra in dev for extra in ("serve", "mlflow", "tensorboard", "test"))
