"""lr_momentum's grid trained for 12 epochs, with pruning at epochs 1 and 3.

Every configuration is trained on all 5 seeds for 1 epoch; at that rung the top third by
mean go on, and so does every configuration the paired, corrected test (at 0.1) cannot call worse
than the rung's best, seed by seed. The same at 3 epochs; the survivors are then trained for
the full 12. Stopped configurations are `pruned` rows, their curves kept, and are not
compared with complete ones. `sweep show pruning` prints the budget spent against the
full design (every configuration, every seed, 12 epochs).
"""

from sweeper import Rungs, Split, Study

study = Study(
    name="pruning",
    description="tutorial: SGD learning rate x momentum for MLP(30), 12 epochs, pruned at epochs 1 and 3",
    dataset="mnist",
    fallback="digits",  # where MNIST is missing and cannot be downloaded
    split=Split(train=2000, val=500),
    fixed={"model": "mlp", "hidden_size": 30, "optimizer": "sgd", "batch_size": 64, "epochs": 12},
    space={"learning_rate": [0.01, 0.05, 0.1, 0.2], "momentum": [0.0, 0.5, 0.9]},
    sampler="grid",
    seeds=5,
    metric="val_acc",
    # a rung stops spending on what is behind: its test runs at 0.1, the final verdicts at 0.05
    prune=Rungs(resource="epochs", rungs=(1, 3), keep=1 / 3, alpha=0.1),
)
