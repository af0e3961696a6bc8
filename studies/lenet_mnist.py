"""LeNet notebook: the LeNet-style CNN on all 60000 MNIST training images, SGD lr 0.01,
momentum 0.5, batch 64, 10 epochs, scored on the official 10000-image test split (the
notebook reports about 97 % test accuracy after every epoch, 0.9697 after the last)."""

from sweeper import Split, Study

study = Study(
    name="lenet_mnist",
    description="LeNet notebook: full MNIST, SGD lr 0.01 momentum 0.5, batch 64, 10 epochs, test split",
    dataset="mnist",
    split=Split(train=60000, val=0, test=True),
    standardize=(0.1307, 0.3081),  # the notebook normalizes with MNIST's pixel mean and std
    fixed={"model": "lenet", "optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.5, "batch_size": 64,
           "epochs": 10},
    space={},
    metric="test_acc",
    seeds=5,
)
