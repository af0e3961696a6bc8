"""Tutorial: how far MLP(30) gets in 3 epochs without momentum (lr 0.1) and with a tuned
learning rate and momentum (lr 0.05, momentum 0.9): "with a well-tuned learning-rate and
momentum parameter, our training can go faster". The grid also holds the two mixed cells."""

from sweeper import Split, Study

study = Study(
    name="tutorial_momentum",
    description="tutorial: momentum 0 vs 0.9 at lr 0.05 and 0.1, MLP(30), SGD, 3 epochs",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "optimizer": "sgd", "batch_size": 64, "epochs": 3},
    space={"learning_rate": [0.05, 0.1], "momentum": [0.0, 0.9]},
    eval_every="iteration",
    seeds=10,
)
