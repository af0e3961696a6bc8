"""CIFAR-10 assignment: a 3-layer MLP (two hidden layers of 120) with exponential
learning-rate decay 0.85 per epoch, batch 200, SGD (lr 0.05) against Adam (lr 0.0003).
CIFAR-10 cannot be downloaded on every machine, so this runs on Fashion-MNIST (10000
training / 2000 validation images); set dataset="cifar10" where CIFAR-10 is available."""

from sweeper import Split, Study

study = Study(
    name="lr_decay_optimizer",
    description="assignment: SGD vs Adam with lr decay 0.85, MLP 2x120, batch 200, 20 epochs, Fashion-MNIST",
    dataset="fashion_mnist",
    split=Split(train=10000, val=2000),
    fixed={"num_layers": 2, "hidden_size": 120, "batch_size": 200, "epochs": 20, "lr_decay": 0.85,
           "momentum": 0.9},
    space={"optimizer": ["sgd", "adam"], "learning_rate": [0.0003, 0.05]},
    seeds=5,
)
