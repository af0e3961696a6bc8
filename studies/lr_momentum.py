"""Learning rate x momentum for the tutorial's MLP(30), as the tutorial tunes it by hand.

The tutorial trains MLP(30) with SGD on the first 2500 MNIST images (2000 train / 500
validation), batch 64, for 3 epochs, and finds lr 0.05 with momentum 0.9 works well.
Here every cell of the grid is trained with 5 seeds.
"""

from sweeper import Split, Study

study = Study(
    name="lr_momentum",
    description="tutorial: SGD learning rate x momentum for MLP(30), 3 epochs",
    dataset="mnist",
    fallback="digits",  # where MNIST is missing and cannot be downloaded
    split=Split(train=2000, val=500),
    fixed={"model": "mlp", "hidden_size": 30, "optimizer": "sgd", "batch_size": 64, "epochs": 3},
    space={"learning_rate": [0.01, 0.05, 0.1, 0.2], "momentum": [0.0, 0.5, 0.9]},
    sampler="grid",
    seeds=5,
    metric="val_acc",
    eval_every="iteration",  # as the tutorial: curves after every mini-batch
)
