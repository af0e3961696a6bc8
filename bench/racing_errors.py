"""How often a seed race (alone, or with a pruning rung before it) drops what it must not, on
synthetic studies: `python bench/racing_errors.py` (1000 studies per case).

Each study has 4 configurations, up to 12 seeds (rounds 3, 6, 12) and a per-seed offset that
all configurations share (as a seed's initialisation and data order do) plus noise. "tie":
no configuration differs, and the table gives the share of studies in which the race dropped
any. "best ahead": the best is 0.5 noise sd ahead of the next (means 1, 0.5, -1, -3 sd), and
the table gives the share in which it was dropped, and the share of the full design's seeds
(and rung epochs) spent. With a rung (epochs 1 of 3, on the first 3 seeds), a configuration's
values at the rung are other draws with the same means, and alpha is shared between the rung
and the rounds (schedules/racing.py). Decided by the same pure functions as `sweep run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sweeper  # noqa: E402,F401 (registers the comparison test)
from sweeper.schedules import pruning, racing  # noqa: E402
from tests.synthetic_results import null_studies  # noqa: E402

CONFIGS, MAX, FULL = 4, 12, 3
CASES = {"tie": (), "best ahead": (1.0, 0.5, -1.0, -3.0)}


def run(case: str, rung: bool, studies: int, seed: int = 11) -> dict[str, float]:
    shift = CASES[case]
    rng = np.random.default_rng(seed)
    final = null_studies(rng, studies, MAX, CONFIGS, shift)
    early = null_studies(rng, studies, 3, CONFIGS, shift)
    names = [f"c{j}" for j in range(CONFIGS)]
    race = racing.Racing(start=3, max=MAX)
    rule = pruning.Rungs(rungs=(1,), keep=0.25, alpha=race.look_alpha(1), continues=True)
    seeds = list(range(MAX))
    any_dropped = best_dropped = spent = 0
    for r in range(studies):
        values = {t: dict(enumerate(final[r, :, j].tolist())) for j, t in enumerate(names)}
        alive, cost = names, 0
        if rung:
            at = {(t, 1): dict(enumerate(early[r, :, j].tolist())) for j, t in enumerate(names)}
            at |= {(t, FULL): {s: values[t][s] for s in seeds[:3]} for t in names}
            steps = pruning.plan(names, at, seeds[:3], rule, FULL, True, (0.0, 1.0))
            alive = [t for t in names if steps[t].state == "complete"]
            cost = 3 * (len(names) - len(alive))  # a pruned configuration spent 3 seeds x 1 epoch
        plan = racing.plan([alive], values, seeds, race, True, (0.0, 1.0), rungs=1 if rung else 0)
        lost = set(names) - {t for t, e in plan.entries.items() if e.state == "kept"}
        any_dropped += bool(lost)
        best_dropped += "c0" in lost
        spent += cost + sum(FULL * e.seeds for e in plan.entries.values())
    return {"any": any_dropped / studies, "best": best_dropped / studies,
            "spent": spent / (studies * CONFIGS * MAX * FULL)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=1000)
    args = parser.parse_args()
    mc = 1.96 * np.sqrt(0.05 * 0.95 / args.studies)
    print(f"{args.studies} studies per case; at a true 5 %, +- {mc:.3f} (95 %)")
    print("| plan | tie: some configuration dropped | best ahead: the best dropped | best ahead: spent |")
    print("|---|---:|---:|---:|")
    for rung in (False, True):
        tie, ahead = run("tie", rung, args.studies), run("best ahead", rung, args.studies)
        name = "Racing(3, 12) and a rung at epoch 1 of 3" if rung else "Racing(3, 12)"
        print(f"| {name} | {tie['any']:.3f} | {ahead['best']:.3f} | {ahead['spent']:.0%} |")


if __name__ == "__main__":
    main()
