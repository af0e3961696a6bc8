"""Bayesian search (TPE) over all six hyperparameters the tool is built around: batch
size, learning rate, momentum, hidden size, optimizer and normalization placement. Same
budget as search_random.py, so the two searches can be compared."""

from sweeper import Split, Study, choice, intrange, loguniform, uniform

study = Study(
    name="search_bayes",
    description="Bayesian search (TPE) over six hyperparameters, 24 configurations x 5 seeds",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"epochs": 3},
    space={
        "batch_size": choice(16, 32, 64, 128),
        "learning_rate": loguniform(1e-4, 0.5),
        "momentum": uniform(0.0, 0.95),
        "hidden_size": intrange(16, 256, step=16),
        "optimizer": choice("sgd", "adam"),
        "normalization": choice("none", "bn_before_relu", "bn_after_relu", "layernorm"),
    },
    sampler="bayes",
    bayes_startup=4,  # the start-up these results were proposed with (the default is now Optuna's 10)
    n_trials=24,
    concurrent_configs=2,
    seeds=5,
)
