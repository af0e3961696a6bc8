"""Every study shipped in studies/ loads and survives a dry run (one batch per trial)."""

import io
import os

import pandas as pd
import pytest

from sweeper import load_study
from sweeper.builtin.data import is_available
from sweeper.execution.runner import run_study
from tests.conftest import ROOT

STUDIES = sorted((ROOT / "studies").glob("*.py"))


def test_the_advertised_studies_exist():
    names = {p.stem for p in STUDIES}
    assert {"lr_momentum", "batch_size", "hidden_size", "optimizer", "normalization", "random_search", "bayes"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_dry_run(path, tmp_path):
    study = load_study(path)
    assert study.name == path.stem
    root = os.environ.get("SWEEPER_DATA_DIR", "unused")
    own_data = study.data is not None or study.train is not None
    if not own_data and study.fallback is None and not is_available(study.dataset, root) and not os.environ.get("CI"):
        pytest.skip(f"{study.dataset} not available under SWEEPER_DATA_DIR and the study has no fallback")
    summary = run_study(study, results_root=tmp_path, data_root=root,
                        jobs=1, executor="sequential", dry_run=True, show_progress=False, stream=io.StringIO())
    df = pd.read_csv(summary.folder / "trials.csv")
    assert summary.planned == study.planned_configs() * len(study.seed_list)
    if study.prune is not None:  # every configuration's first rung, then the survivors' next ones
        rungs = pd.read_csv(summary.folder / "pruning.csv")
        assert len(rungs) == study.planned_configs() and set(rungs["state"]) <= {"pruned", "complete"}
        assert set(df["status"]) <= {"ok", "pruned", "promoted"}
        df = df[df["status"] == "ok"]
    elif study.racing is None:
        assert len(df) == summary.planned
    else:  # a race trains at least every configuration's first seeds, and records its decisions
        race = pd.read_csv(summary.folder / "racing.csv")
        assert len(race) == study.planned_configs() and len(df) == race["seeds"].sum() <= summary.planned
        assert set(race["state"]) <= {"kept", "dropped"}
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
