"""Batch size for the tutorial's MLP(30) with SGD (lr 0.05, momentum 0.9), 3 epochs.

Seed 004 discusses how a larger batch gives a less noisy loss but fewer steps per epoch;
this study measures the net effect on validation accuracy over seeds.
"""

from sweeper import Split, Study

study = Study(
    name="batch_size",
    description="tutorial: batch size for MLP(30), SGD lr 0.05 momentum 0.9, 3 epochs",
    dataset="mnist",
    fallback="digits",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "epochs": 3},
    space={"batch_size": [16, 32, 64, 128, 256]},
    seeds=5,
)
