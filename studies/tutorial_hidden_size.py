"""Tutorial: MLP hidden size 30/50/100/200 with the tutorial's train() defaults
(SGD lr 0.1, momentum 0.9, batch 64, 10 epochs) on 2000/500 MNIST images.

The notes' claim: more hidden units give more capacity and a higher training accuracy, and
tend to widen the gap between training and validation accuracy."""

from sweeper import Split, Study

study = Study(
    name="tutorial_hidden_size",
    description="tutorial: MLP hidden size, SGD lr 0.1 momentum 0.9, 10 epochs",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "batch_size": 64, "epochs": 10},
    space={"hidden_size": [30, 50, 100, 200]},
    seeds=10,
)
