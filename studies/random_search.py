"""Random search over learning rate, momentum, batch size and hidden size (the lecture slides'
"random search beats grid search" slide), with the same budget as studies/bayes.py."""

from sweeper import Split, Study, intrange, loguniform, uniform

study = Study(
    name="random_search",
    description="random search: lr, momentum, batch size, hidden size; MLP, SGD, 3 epochs",
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
    sampler="random",
    n_trials=16,
    seeds=3,
)
