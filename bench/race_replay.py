"""What a seed race with pruning rungs would spend on a study already run in full, replayed
from its rows: `python bench/race_replay.py results/lr_momentum --max 20 --rungs 1 2`.

The full run (every configuration on every seed, curves per epoch) holds every value the race
would see: a rung's value of a (configuration, seed) is its full run's value at that epoch
(a rung trained for r epochs is the full run's first r epochs, bit for bit). The race is
`Prune` with `Racing`, decided by the same pure functions as `sweep run` (schedules/pruning.py,
schedules/racing.py), so the drops, the kept configurations and the units spent are those of a
real run. Printed: units against the full design and the floor (every configuration the full
run cannot tell from its best needs every seed), and for each configuration of the full run's
set indistinguishable from the best, whether the race kept it and, if not, why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sweeper  # noqa: E402,F401 (registers the comparison test)
from sweeper.analysis.results import read_folder  # noqa: E402
from sweeper.analysis.stats import SAME  # noqa: E402
from sweeper.metrics import range_of  # noqa: E402
from sweeper.schedules import pruning, racing  # noqa: E402


def epoch_values(r, metric: str) -> dict[tuple[str, int], dict[int, dict[int, float]]]:
    """(configuration, epoch) -> seed -> the metric at that epoch's end."""
    split, name = metric.split("_", 1)
    c = r.curves
    c = c[(c["split"] == split) & (c["metric"] == name)]
    last = c.sort_values("iteration").groupby(["trial", "seed", "epoch"]).tail(1)
    out: dict = {}
    for row in last.itertuples():
        out.setdefault((row.trial, int(row.epoch)), {})[int(row.seed)] = float(row.value)
    return out


def replay(folder: Path, max_seeds: int, start: int, rungs: tuple[int, ...], keep: float, alpha: float) -> None:
    r = read_folder(folder)
    metric, maximize = r.metric, r.direction == "maximize"
    full = int(r.study["fixed"]["epochs"])
    configs = list(dict.fromkeys(r.trials["trial"]))
    at = epoch_values(r, metric)
    seeds = list(range(max_seeds))
    race = racing.Racing(start=start, max=max_seeds, alpha=alpha)
    # as `Prune` decides with a race: every rung a look, at the race's alpha shared by rungs and rounds
    rule = pruning.Rungs(resource="epochs", rungs=rungs, keep=keep, alpha=race.look_alpha(len(rungs)), continues=True)
    labels = dict(zip(r.summary["trial"], r.summary["label"], strict=True))
    values = {(t, level): {s: at.get((t, level), {}).get(s) for s in seeds[:start]}
              for t in configs for level in rule.levels(full)}
    steps = pruning.plan(configs, values, seeds[:start], rule, full, maximize, range_of(metric), labels)
    survivors = [t for t, e in steps.items() if e.state == "complete"]
    plan = racing.plan([survivors], {t: {s: at[(t, full)][s] for s in seeds} for t in survivors}, seeds, race,
                       maximize, range_of(metric), labels, rungs=len(rungs))
    spent = 0
    for t, step in steps.items():
        if step.state == "pruned":
            spent += start * rule.levels(full)[step.rung]
        else:
            spent += full * plan.entries[t].seeds
    design = len(configs) * max_seeds * full
    same = set(r.comparisons.loc[r.comparisons["verdict"].isin([SAME, "best"]), "trial"])
    floor = len(same) * max_seeds * full + (len(configs) - len(same)) * start * min(rungs)
    print(f"{r.name}: spent {spent} of {design} units ({spent / design:.0%}); floor {floor} ({floor / design:.0%})")
    best = r.comparisons.loc[r.comparisons["verdict"] == "best", "trial"].iloc[0]
    print(f"best of the full run: {labels[best]}; the race's: "
          f"{', '.join(labels[t] for t, e in plan.entries.items() if e.state == 'kept')}")
    for t in sorted(same, key=lambda t: labels[t]):
        step = steps[t]
        if step.state == "pruned":
            print(f"  {labels[t]}: pruned {step.reason}")
        else:
            e = plan.entries[t]
            print(f"  {labels[t]}: {e.state} with {e.seeds} seeds" + (f": {e.reason}" if e.state == "dropped" else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--max", type=int, default=20)
    parser.add_argument("--start", type=int, default=3)
    parser.add_argument("--rungs", type=int, nargs="+", default=[1])
    parser.add_argument("--keep", type=float, default=1 / 3)
    parser.add_argument("--alpha", type=float, default=0.05)
    a = parser.parse_args()
    replay(a.folder, a.max, a.start, tuple(a.rungs), a.keep, a.alpha)


if __name__ == "__main__":
    main()
