"""The step-down's p-values on random studies are those it gave before it was made faster (to 1e-12), so the verdicts are too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stepdown_cases import DRAWS, SHAPES, study

from sweeper.analysis import stats, stepdown

EXPECTED = json.loads((Path(__file__).parent / "fixtures" / "stepdown_expected.json").read_text())


@pytest.mark.parametrize("index", range(len(SHAPES)))
def test_p_values_and_verdicts_are_the_pinned_ones(index):
    expected = np.array([np.nan if p is None else p for p in EXPECTED[index]])
    p = stepdown.stepdown(study(index), draws=DRAWS)
    np.testing.assert_allclose(p, expected, rtol=0, atol=1e-12, equal_nan=True)
    assert np.array_equal(p < stats.ALPHA, expected < stats.ALPHA)


def test_the_pinned_studies_exercise_rejections_undecided_ones_and_missing_seeds():
    """Else the pin would say little: some studies call many worse, some none, some lack seeds."""
    rejected = [sum(p is not None and p < stats.ALPHA for p in ps) for ps in EXPECTED]
    assert max(rejected) > 100 and min(rejected) == 0
    assert any(np.isnan(study(i)).any() for i in range(len(SHAPES)))


@pytest.mark.parametrize("index", [6, 9])
def test_drawn_in_chunks_by_threads_the_p_values_are_still_the_pinned_ones(monkeypatch, index):
    """Eight chunks of 50 simulated studies, worked through by two threads (one complete study, one with missing seeds)."""
    v = study(index)
    monkeypatch.setattr(stepdown, "CHUNK_VALUES", 50 * v.size)
    monkeypatch.setattr(stepdown, "THREADS", 2)
    expected = np.array([np.nan if p is None else p for p in EXPECTED[index]])
    np.testing.assert_allclose(stepdown.stepdown(v, draws=DRAWS), expected, rtol=0, atol=1e-12, equal_nan=True)
