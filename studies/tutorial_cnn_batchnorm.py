"""Tutorial: the small CNN with and without BatchNorm (CNN vs CNNBN), Adam lr 0.005,
3 epochs: "batch normalization can be used in CNNs too" and "our CNN generalizes very well"."""

from sweeper import Split, Study

study = Study(
    name="tutorial_cnn_batchnorm",
    description="tutorial: CNN vs CNNBN, Adam lr 0.005, 3 epochs",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"model": "cnn", "optimizer": "adam", "learning_rate": 0.005, "batch_size": 64, "epochs": 3},
    space={"normalization": ["none", "bn_after_relu"]},
    eval_every=5,  # curves every 5 mini-batches: evaluating a CNN after every one would dominate the run
    seeds=10,
)
