"""SGD with momentum against Adam, each over a few learning rates (the tutorial, the CIFAR-10 assignment).

The tutorial uses SGD lr 0.05 momentum 0.9 and Adam lr 0.005 ("Adam typically requires a
smaller learning rate"); the grid checks both optimizers at each rate.
"""

from sweeper import Split, Study

study = Study(
    name="optimizer",
    description="tutorial: SGD (momentum 0.9) vs Adam at lr 0.001/0.005/0.05, MLP(30), 3 epochs",
    dataset="mnist",
    fallback="digits",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "momentum": 0.9, "batch_size": 64, "epochs": 3},
    space={"optimizer": ["sgd", "adam"], "learning_rate": [0.001, 0.005, 0.05]},
    seeds=5,
)
