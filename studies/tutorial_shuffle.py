"""Tutorial: reshuffling every epoch versus the same mini-batches every epoch, MLP(30),
SGD lr 0.1 momentum 0.9, 10 epochs ("what if we turn off data_shuffle?")."""

from sweeper import Split, Study

study = Study(
    name="tutorial_shuffle",
    description="tutorial: data shuffle on/off, MLP(30), SGD lr 0.1 momentum 0.9, 10 epochs",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "batch_size": 64,
           "epochs": 10},
    space={"shuffle": [True, False]},
    seeds=10,
)
