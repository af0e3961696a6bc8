"""Textbook chapter: hidden size 15/30/60 on the small-digit task, batch 32, lr 0.005,
momentum 0.9, 15 epochs, 1024/1024 images. The chapter reports final validation accuracy
0.901 (15), 0.912 (30) and 0.906 (60) from one run each, and picks the epoch with the best
validation accuracy (checkpointing): `best_epoch` and `best_val_acc` record it."""

from sweeper import Split, Study

study = Study(
    name="small_digit_hidden",
    description="textbook: small-digit task, hidden size 15/30/60, 15 epochs, best epoch",
    dataset="mnist",
    task="small_digit",
    split=Split(train=1024, val=1024),
    fixed={"optimizer": "sgd", "learning_rate": 0.005, "momentum": 0.9, "batch_size": 32, "epochs": 15,
           "shuffle": False},
    space={"hidden_size": [15, 30, 60]},
    seeds=10,
)
