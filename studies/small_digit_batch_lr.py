"""Textbook chapter: the "small digit" task (is the label < 3? one logit, BCE with logits)
on the first 1024 MNIST images, one epoch, SGD momentum 0.9, batch size 1 or 32 against
learning rates 0.001/0.005/0.01. The chapter's loader does not shuffle, so only the
initialisation differs between seeds; validation is the next 1024 images."""

from sweeper import Split, Study

study = Study(
    name="small_digit_batch_lr",
    description="textbook: small-digit task, batch size x learning rate, 1 epoch",
    dataset="mnist",
    task="small_digit",
    split=Split(train=1024, val=1024),
    fixed={"hidden_size": 30, "optimizer": "sgd", "momentum": 0.9, "epochs": 1, "shuffle": False},
    space={"batch_size": [1, 32], "learning_rate": [0.001, 0.005, 0.01]},
    eval_every=8,
    seeds=10,
)
