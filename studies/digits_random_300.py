"""A random search as a new user runs one: 300 configurations x 3 seeds of learning rate,
momentum and hidden size on scikit-learn's digits, 2 epochs each (well under a minute on 2
cores). Its verdicts are the test of the statistics at this size: the configurations far
behind the best must be called worse with 3 seeds (README, "What the verdict means")."""

from sweeper import Split, Study, intrange, loguniform, uniform

study = Study(
    name="digits_random_300",
    description="random search: lr, momentum, hidden size; MLP, SGD, 2 epochs; 300 configurations x 3 seeds",
    dataset="digits",
    split=Split(train=1000, val=500),  # digits has 1500 training images
    fixed={"optimizer": "sgd", "epochs": 2},
    space={
        "learning_rate": loguniform(1e-4, 1.0),
        "momentum": uniform(0.0, 0.95),
        "hidden_size": intrange(16, 256, step=16),
    },
    sampler="random",
    n_trials=300,
    seeds=3,
)
