"""Where MLP(30)'s spread between seeds comes from: its initial weights or the order of its data?

The tutorial's MLP(30) with SGD (lr 0.05, momentum 0.9, batch 64, 3 epochs) on the first
2500 MNIST images, and the same with a ten times smaller learning rate, each trained once
per pair of 8 initialisation seeds and 8 data-order seeds (64 trials a configuration).
`sweep show seed_sources` splits each configuration's variance of validation accuracy into
the initialisation's part, the data order's and the rest, with 95 % intervals.
"""

from sweeper import Crossed, Split, Study

study = Study(
    name="seed_sources",
    description="tutorial MLP(30): validation accuracy's spread split into initialisation and data order",
    dataset="mnist",
    fallback="digits",  # where MNIST is missing and cannot be downloaded
    split=Split(train=2000, val=500),
    fixed={"model": "mlp", "hidden_size": 30, "optimizer": "sgd", "batch_size": 64, "epochs": 3, "momentum": 0.9},
    space={"learning_rate": [0.005, 0.05]},
    sampler="grid",
    seeds=Crossed(init=8, order=8),
    metric="val_acc",
)
