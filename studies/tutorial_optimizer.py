"""Tutorial: SGD (lr 0.05, momentum 0.9) against Adam (lr 0.005) for MLP(30), 3 epochs.
"Adam works well ... typically requires a smaller learning rate". The grid crosses both
optimizers with both learning rates."""

from sweeper import Split, Study

study = Study(
    name="tutorial_optimizer",
    description="tutorial: SGD vs Adam at lr 0.005 and 0.05, MLP(30), 3 epochs",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "momentum": 0.9, "batch_size": 64, "epochs": 3},
    space={"optimizer": ["sgd", "adam"], "learning_rate": [0.005, 0.05]},
    eval_every="iteration",
    seeds=10,
)
