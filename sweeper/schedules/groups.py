"""How the rows a schedule wants become tasks: one per seed, one per configuration
(`vectorize`), or stacked groups (`stack`, the default where the trainer stacks).

A stacked group is trained as one model, and its numbers differ, at the level of
floating-point noise, with what else the group holds. So the groups are fixed by the study,
never by the workers: a sweep gives the same numbers with any `--jobs`, on any executor,
and when it resumes. Configurations with one `Trainer.stack_key`, proposed together (a
grid's or a random search's whole list, a Bayesian batch, a racing round's survivors, a
pruning rung), and the seeds the schedule wants of them, stored or not, are cut into
groups of about GROUP_MODELS models, in an even number where there are several (two
workers, or four, then finish together): first by runs of seeds, in the study's order (a
group keeps every configuration of its seeds, which then read one batch), then, where
there are fewer seeds than groups, configurations by their rank in the list.

A group is trained whole while any of its rows is missing, even rows stored already (a
sweep killed while it stored a group's rows), so that it is the group an uninterrupted run
trained; rows already stored are not stored again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from sweeper.execution.trial import TrialTask
from sweeper.usercode.plugin import FitOptions, Trainer

# Models per stacked group. Measured on 2 CPU cores (MLP(30), batch 64): a stacked step costs
# 126 us a model in groups of 12 and more, 147 us in groups of 6, 470 us alone; larger groups
# gain nothing and leave workers idle.
GROUP_MODELS = 12

# What a stacked model costs a GPU per parameter: float32 weights, gradients and up to two
# optimiser moments (Adam's), 16 bytes; the rest of its memory is kept back for activations,
# the data a worker holds on the GPU and CUDA's own allocations.
BYTES_PER_PARAM = 16
GPU_MEMORY_KEPT = 0.5


def models_that_fit(free_bytes: int, params_per_model: int, seeds: int = 1, most: int = GROUP_MODELS) -> int:
    """Models of `params_per_model` parameters a stacked group of `seeds` seeds a model can hold
    in `free_bytes` of a GPU's memory: at most `most` (the group's usual size), at least 1."""
    if params_per_model <= 0 or seeds <= 0:
        return most
    fit = int(free_bytes * (1 - GPU_MEMORY_KEPT)) // (params_per_model * BYTES_PER_PARAM * seeds)
    return max(1, min(most, fit))


Work = tuple[str, dict[str, Any], tuple[int, ...], tuple[int, ...]]  # trial, configuration, wanted seeds, missing seeds


def pack(work: Sequence[Work], trainer: Trainer, options: FitOptions, *, vectorize: bool, stack: bool,
         unstackable: frozenset[Hashable] = frozenset()) -> list[TrialTask]:
    """Tasks for (trial, configuration, wanted seeds, missing seeds) items, given in the order
    proposed, those with nothing missing included (they fix the groups): one task per missing
    seed; with `vectorize` one per configuration, its missing seeds together; with `stack`
    fixed groups of the configurations with one stack key (not in `unstackable`) and the same
    wanted seeds. (Configurations that want other seeds were never proposed together: a
    resumed race is handed its dropped configurations, whose rows are all stored, beside the
    survivors of its last round, and those alone make the round's groups.)"""
    tasks: list[TrialTask] = []
    kinds: dict[Hashable, list[Work]] = {}
    for trial, config, wanted, missing in work:
        key = trainer.stack_key(config) if stack else None
        if key is not None and key not in unstackable:
            kinds.setdefault((key, wanted), []).append((trial, config, wanted, missing))
            continue
        parts = [missing] if vectorize else [(seed,) for seed in missing]
        tasks += [TrialTask(trial, part, config, trainer, options) for part in parts if part]
    for items in kinds.values():
        tasks += [TrialTask(members[0][0], seeds, members[0][1], trainer, options, group=tuple(members[1:]), stack=True)
                  for members, seeds in groups(items)]
    return tasks


def groups(items: Sequence[Work]) -> list[tuple[list[tuple[str, dict[str, Any]]], tuple[int, ...]]]:
    """The fixed groups of configurations with one stack key (see the module's docstring) that
    miss a row: each group's (trial, configuration) members, and its seeds that some member misses."""
    order = list(dict.fromkeys(seed for _, _, wanted, _ in items for seed in wanted))
    n, s = len(items), len(order)
    count = -(-n * s // GROUP_MODELS)
    if count > 1 and count % 2:  # an even number of groups
        count += 1
    runs = min(s, count)
    parts = min(n, -(-count // runs))
    run = {seed: p * runs // s for p, seed in enumerate(order)}
    missing: dict[tuple[int, int], set[int]] = {}
    for rank, (_, _, _, seeds) in enumerate(items):
        for seed in seeds:
            missing.setdefault((run[seed], rank * parts // n), set()).add(seed)
    out = []
    for (_, part), some in sorted(missing.items()):
        members = [(trial, config) for rank, (trial, config, _, _) in enumerate(items) if rank * parts // n == part]
        out.append((members, tuple(seed for seed in order if seed in some)))
    return out


def without(task: TrialTask, done: Callable[[tuple[str, int]], bool]) -> list[TrialTask]:
    """A stacked task's rows not `done` (stored or held), as one-at-a-time tasks (its trainer
    could not stack them)."""
    return [dataclasses.replace(task, trial=trial, config=config, seeds=(seed,), group=(), stack=False, resume=())
            for trial, config in task.members for seed in task.seeds if not done((trial, seed))]
