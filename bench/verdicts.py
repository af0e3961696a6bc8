"""How often the verdict is wrong, and how often it finds what is there: the tables of the README.

    python bench/verdicts.py --jobs 2                 # every table, 2000 studies per cell (about 30 minutes on 2 cores)
    python bench/verdicts.py --quick                  # a few cells, 100 studies each: a smoke test (CI)
    python bench/verdicts.py --study results/digits_random_300   # a real study's verdicts, before and after

Synthetic studies, as in tests/test_stepdown.py: values[seed, config] = a per-seed offset shared
by all configurations (sd 3, as a seed's data order is) + each configuration's noise (sd 1, or
3 for "one 3x noisier", 1/3 for "one 3x calmer") - how far it is behind. "d SD behind" means d
standard deviations of a paired difference (sqrt(2) for two configurations of sd 1).

1. False "worse": every configuration tied; the share of studies in which any is called worse
   (nominal 5 %), at 2, 5, 12 and 30 configurations x 3, 5 and 10 seeds, with equal noise,
   one configuration 3x noisier (its sd), and one 3x calmer; and with one configuration 5 SD
   behind and the others tied (the share calling a tied one worse).
2. Power: one configuration 1 or 2 SD behind among 5 or 12 at 3 and 5 seeds; the share of
   studies calling it worse, before (bench/stepdown_v1.py) and after, beside a single paired
   t-test's power at alpha 0.05 (`stats.power_paired`, no correction for many comparisons).
3. Random searches of 300 and 1000 configurations x 5 seeds, each 0 to 5 SD behind the best
   (uniform): the share of those truly more than 3 SD behind called worse, before and after,
   and the verdicts' wall time (the full step-down, as `sweep show` runs it).

The step-down's simulated null is a Monte Carlo test, whose level is exact for any number of
draws, so the rates use 500 draws per study (the package's default is 2000); the random
searches use the default.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stepdown_v1  # noqa: E402
from sweeper.analysis import stats, stepdown  # noqa: E402

DRAWS = 500
NOISE = {"equal": 1.0, "one 3x noisier": 3.0, "one 3x calmer": 1 / 3}
FULL = {"studies": 2000, "configs": (2, 5, 12, 30), "seeds": (3, 5, 10), "power_studies": 1000,
        "power": [(c, s, d) for d in (1.0, 2.0) for c in (5, 12) for s in (3, 5)], "searches": (300, 1000), "repeats": 3}
QUICK = {"studies": 60, "configs": (2, 12), "seeds": (3,), "power_studies": 60, "power": [(12, 3, 2.0)],
         "searches": (300,), "repeats": 1}
Test = Callable[..., np.ndarray]


def study(rng: np.random.Generator, seeds: int, configs: int, noise: float = 1.0,
          behind: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic study, best observed mean first (as `compare_to_best` passes them), and
    each column's true distance behind in SD of a paired difference."""
    sd = np.ones(configs)
    sd[0] = noise
    behind = np.zeros(configs) if behind is None else behind
    v = rng.normal(0, 3.0, size=(seeds, 1)) + rng.standard_normal((seeds, configs)) * sd - behind * np.sqrt(2)
    order = np.argsort(-v.mean(axis=0), kind="stable")
    return v[:, order], behind[order]


def false_worse(configs: int, seeds: int, noise: float, studies: int, far: bool = False) -> float:
    """Share of studies calling a tied configuration worse (with `far`: one more, 5 SD behind, that is not tied)."""
    rng = np.random.default_rng([configs, seeds, int(100 * noise), far])
    hits = 0
    for _ in range(studies):
        behind = np.zeros(configs + far)
        behind[-1:] = 5.0 if far else 0.0
        v, truth = study(rng, seeds, configs + far, noise, behind)
        p = stepdown.stepdown(v, draws=DRAWS, exact=False)
        hits += bool(np.any((p < stats.ALPHA) & (truth == 0)))
    return hits / studies


def power(test: Test, configs: int, seeds: int, sds: float, studies: int) -> float:
    """Share of studies calling the one configuration `sds` SD behind worse."""
    rng = np.random.default_rng([configs, seeds, int(10 * sds)])
    found = 0
    for _ in range(studies):
        behind = np.zeros(configs)
        behind[-1] = sds
        v, truth = study(rng, seeds, configs, behind=behind)
        found += bool(test(v, draws=DRAWS, exact=False)[truth > 0][0] < stats.ALPHA)
    return found / studies


def search(test: Test, configs: int, seeds: int, repeat: int) -> tuple[int, float, float]:
    """A random search whose configurations are 0 to 5 SD behind: (how many are truly more
    than 3 SD behind the best, the share of them called worse, seconds the verdicts took)."""
    rng = np.random.default_rng([configs, seeds, repeat])
    v, truth = study(rng, seeds, configs, behind=rng.uniform(0, 5, configs))
    far = truth - truth.min() > 3
    start = time.perf_counter()
    p = test(v)
    return int(far.sum()), float(np.mean(p[far] < stats.ALPHA)), time.perf_counter() - start


def mc(rate: float, n: int) -> str:
    return f"{100 * rate:.1f} ± {100 * np.sqrt(max(rate * (1 - rate), 1e-12) / n):.1f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def run_tables(plan: dict, jobs: int) -> None:
    from joblib import Parallel, delayed

    n = plan["studies"]
    cells = [(c, s, noise) for c in plan["configs"] for s in plan["seeds"] for noise in NOISE.values()]
    cells += [(c, s, -1.0) for c in plan["configs"] if c > 2 for s in plan["seeds"]]
    rates = Parallel(n_jobs=jobs)(delayed(false_worse)(c, s, abs(noise), n, noise < 0) for c, s, noise in cells)
    got = dict(zip(cells, rates, strict=True))
    head = ["configurations", "seeds", *NOISE, "one 5 SD behind, the rest tied"]
    rows = [[str(c), str(s), *(mc(got[c, s, x], n) for x in NOISE.values()),
             mc(got[c, s, -1.0], n) if (c, s, -1.0) in got else ""] for c in plan["configs"] for s in plan["seeds"]]
    print(f"\n1. False 'worse' (%, ± Monte Carlo sd): every configuration tied, {n} studies per cell, alpha 0.05\n")
    print(table(head, rows))

    n = plan["power_studies"]
    cells2 = plan["power"]
    before = Parallel(n_jobs=jobs)(delayed(power)(stepdown_v1.stepdown, *cell, n) for cell in cells2)
    after = Parallel(n_jobs=jobs)(delayed(power)(stepdown.stepdown, *cell, n) for cell in cells2)
    rows = [[f"{d:g} SD", str(c), str(s), mc(b, n), mc(a, n), f"{100 * float(stats.power_paired(d, s)):.1f}"]
            for (c, s, d), b, a in zip(cells2, before, after, strict=True)]
    print(f"\n2. Power (%): one configuration behind, the others tied, {n} studies per cell\n")
    print(table(["behind", "configurations", "seeds", "before (v1)", "after", "one paired t-test"], rows))

    rows = []
    for configs in plan["searches"]:
        for repeat in range(plan["repeats"]):
            far, b_share, b_time = search(stepdown_v1.stepdown, configs, 5, repeat)
            _, a_share, a_time = search(stepdown.stepdown, configs, 5, repeat)
            rows.append([f"{configs} x 5 seeds (#{repeat + 1})", str(far), f"{100 * b_share:.1f}", f"{100 * a_share:.1f}",
                         f"{b_time:.1f}", f"{a_time:.1f}"])
    print("\n3. Random searches, configurations 0 to 5 SD behind: those more than 3 SD behind called worse (%)\n")
    print(table(["search", "> 3 SD behind", "before (v1)", "after", "before: s", "after: s"], rows))


def real_study(folder: str) -> None:
    """A results folder's configurations below half the best's mean, and the share called worse, before and after."""
    import sweeper

    r = sweeper.load(folder)
    summary, metric = r.summary, r.metric
    start = time.perf_counter()
    after = r.comparisons.set_index("trial")["verdict"]
    seconds = time.perf_counter() - start
    best = stats.best_trial(summary)
    means = summary.set_index("trial")[f"{metric}_mean"]
    low = means[means < means[best] / 2].index
    wide = r.complete[r.complete["status"] == "ok"].pivot(index="seed", columns="trial", values=metric)
    others = sorted(t for t in wide.columns if t != best)
    values = wide[[best, *others]].to_numpy(float)
    old = dict(zip(others, stepdown_v1.stepdown(values if r.direction == "maximize" else -values)[1:]))
    b = np.mean([old[t] < stats.ALPHA for t in low])
    a = np.mean(after[low] == stats.WORSE)
    print(f"\n{r.name}: {len(summary)} configurations x {len(r.study.get('seeds', []))} seeds, best {metric} "
          f"{means[best]:.3f}; {len(low)} below half of it; called worse: before (v1) {100 * b:.1f} %, "
          f"after {100 * a:.1f} % (comparisons in {seconds:.1f} s)\n{r.answer()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few cells, 100 studies each (a smoke test)")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the synthetic tables")
    parser.add_argument("--study", help="a results folder: its configurations below half the best's mean, called worse?")
    args = parser.parse_args(argv)
    if args.study:
        real_study(args.study)
        return 0
    run_tables(QUICK if args.quick else FULL, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
