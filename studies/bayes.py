"""Bayesian search (Optuna's TPE) over learning rate, momentum, batch size and hidden size
(the LeNet notebook's "Bayesian optimisation search" to-do), with the same budget as random_search.py.

Each proposal is trained with every seed and Optuna is told the mean validation accuracy.
"""

from sweeper import Split, Study, intrange, loguniform, uniform

study = Study(
    name="bayes",
    description="Bayesian search (TPE): lr, momentum, batch size, hidden size; MLP, SGD, 3 epochs",
    dataset="mnist",
    fallback="digits",
    split=Split(train=2000, val=500),
    fixed={"optimizer": "sgd", "epochs": 3},
    space={
        "learning_rate": loguniform(0.001, 0.5),
        "momentum": uniform(0.0, 0.95),
        "batch_size": [16, 32, 64, 128],
        "hidden_size": intrange(16, 256, step=16),
    },
    sampler="bayes",
    bayes_startup=3,  # the start-up these results were proposed with (the default is now Optuna's 10)
    bayes_sampler="tpe",
    n_trials=16,
    concurrent_configs=2,
    seeds=3,
)
