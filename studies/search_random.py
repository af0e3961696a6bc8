"""Random search over all six hyperparameters the tool is built around: batch
size, learning rate, momentum, hidden size, optimizer and normalization placement. Same
budget as search_bayes.py, so the two searches can be compared."""

from sweeper import Split, Study, choice, intrange, loguniform, uniform

study = Study(
    name="search_random",
    description="Random search over six hyperparameters, 24 configurations x 5 seeds",
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
    sampler="random",
    n_trials=24,
    seeds=5,
)
