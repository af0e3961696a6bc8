"""`studies/optuna_simple.py` with seed-aware pruning: the objective's `trial.should_prune()`
answers True where a rung's budget of reported epochs is spent, and a configuration goes on
only if its 3 seeds are not shown worse than the rung's best (`Rungs`: rungs at 1 and 3 of
the objective's 10 epochs). Stopped configurations are told to the Bayesian sampler as
Optuna's pruners tell it: pruned, with their rung's value."""

from optuna_simple import EPOCHS, objective  # the study beside this one

from sweeper import Rungs, Study

study = Study(
    name="optuna_simple_pruned",
    description="Optuna's pytorch_simple objective with seed-aware pruning rungs at epochs 1 and 3",
    objective=objective,
    direction="maximize",
    metric="val_acc",
    sampler="bayes",
    n_trials=20,
    seeds=3,
    concurrent_configs=4,  # each batch of 4 proposals is a pool whose rungs are decided together
    prune=Rungs(resource="epochs", rungs=(1, 3)),
    fixed={"epochs": EPOCHS},  # the full budget: the objective reports once an epoch
)
