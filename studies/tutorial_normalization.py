"""Tutorial: BatchNorm after the ReLU against before it (and none, and LayerNorm), MLP(30),
Adam lr 0.005, 3 epochs. The notes' claim: "applying normalization after the ReLU performs
better in practice", from one run of each."""

from sweeper import Split, Study

study = Study(
    name="tutorial_normalization",
    description="tutorial: normalization placement, MLP(30), Adam lr 0.005, 3 epochs",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "optimizer": "adam", "learning_rate": 0.005, "batch_size": 64, "epochs": 3},
    space={"normalization": ["none", "bn_before_relu", "bn_after_relu", "layernorm"]},
    eval_every="iteration",
    seeds=20,
)
