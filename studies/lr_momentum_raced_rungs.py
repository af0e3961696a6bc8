"""lr_momentum's grid, seeds raced up to 20, with a pruning rung after the first epoch.

Every configuration is trained on seeds 0, 1, 2 for one epoch; at that rung, the
configurations outside the top third that the paired, corrected test calls worse than the
rung's best stop. The others go on to the full 3 epochs (from their rung's checkpoint) and
race for more seeds: 6, 12, 20, dropped when shown worse. The race's alpha of 0.05 is shared
equally between its rung and its four rounds, so the whole plan keeps its error bound.
`sweep show lr_momentum_raced_rungs` prints the budget spent against the full design
(12 configurations x 20 seeds x 3 epochs).
"""

from sweeper import Racing, Rungs, Split, Study

study = Study(
    name="lr_momentum_raced_rungs",
    description="tutorial: SGD learning rate x momentum for MLP(30), 3 epochs, seeds raced up to 20, a rung at epoch 1",
    dataset="mnist",
    fallback="digits",  # where MNIST is missing and cannot be downloaded
    split=Split(train=2000, val=500),
    fixed={"model": "mlp", "hidden_size": 30, "optimizer": "sgd", "batch_size": 64, "epochs": 3},
    space={"learning_rate": [0.01, 0.05, 0.1, 0.2], "momentum": [0.0, 0.5, 0.9]},
    sampler="grid",
    seeds=Racing(start=3, max=20),
    prune=Rungs(resource="epochs", rungs=(1,), keep=1 / 3),
    metric="val_acc",
    eval_every="iteration",  # as lr_momentum, so the studies' rows can be compared
)
