"""lr_momentum's grid, raced up to 20 seeds: seeds go to the configurations that may still be best.

Every configuration starts with seeds 0, 1, 2; after each round (3, 6, 12, 20 seeds) the
paired step-down test against the best drops the configurations it calls worse, each round
at 0.05 / 4 so that the whole race keeps its 5 %. `sweep show lr_momentum_racing` says how
many seeds each got, why it was dropped, and the budget spent against the full design.
"""

from sweeper import Racing, Split, Study

study = Study(
    name="lr_momentum_racing",
    description="tutorial: SGD learning rate x momentum for MLP(30), 3 epochs, seeds raced up to 20",
    dataset="mnist",
    fallback="digits",  # where MNIST is missing and cannot be downloaded
    split=Split(train=2000, val=500),
    fixed={"model": "mlp", "hidden_size": 30, "optimizer": "sgd", "batch_size": 64, "epochs": 3},
    space={"learning_rate": [0.01, 0.05, 0.1, 0.2], "momentum": [0.0, 0.5, 0.9]},
    sampler="grid",
    seeds=Racing(start=3, max=20),
    metric="val_acc",
    eval_every="iteration",  # as lr_momentum, so the two studies' rows can be compared
)
