"""Random studies for pinning the step-down's p-values: tests/fixtures/stepdown_expected.json holds
what the step-down gave for each (as it was before it was made faster); a faster step-down must
give the same, to 1e-12."""

from __future__ import annotations

import numpy as np

# (seeds, configurations, share of the configurations with a real effect, share of seeds missing)
SHAPES = [(3, 2, 0.0, 0.0), (5, 2, 1.0, 0.0), (3, 6, 0.5, 0.0), (5, 12, 0.3, 0.1), (8, 30, 0.5, 0.0),
          (4, 30, 0.4, 0.04), (6, 80, 0.7, 0.0), (4, 120, 0.9, 0.01), (6, 60, 0.0, 0.0), (5, 250, 0.95, 0.02)]
DRAWS = 400  # enough for every branch of a step; the default 2000 would only make this slower


def study(index: int) -> np.ndarray:
    """(seeds, configs), the best column first, with a per-seed offset, unequal noise and missing seeds."""
    seeds, configs, real, missing = SHAPES[index]
    rng = np.random.default_rng(1000 + index)
    effect = np.where(rng.random(configs) < real, rng.exponential(3.0, configs), 0.0)
    sd = rng.choice([0.5, 1.0, 1.0, 3.0], configs)
    v = rng.normal(0, 2.0, (seeds, 1)) - effect + rng.standard_normal((seeds, configs)) * sd
    v[rng.random((seeds, configs)) < missing] = np.nan
    means = np.nanmean(v, axis=0)
    return v[:, np.argsort(-means)]
