"""Where to normalise: none, BatchNorm before or after the ReLU, or LayerNorm (the tutorial).

The tutorial claims BatchNorm after the ReLU "performs better in practice" than before it,
from one run each (MLPBN vs MLPBNBeforeReLu, Adam lr 0.005, 3 epochs).
"""

from sweeper import Split, Study

study = Study(
    name="normalization",
    description="tutorial: normalization placement in MLP(30), Adam lr 0.005, 3 epochs",
    dataset="mnist",
    fallback="digits",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "optimizer": "adam", "learning_rate": 0.005, "batch_size": 64, "epochs": 3},
    space={"normalization": ["none", "bn_before_relu", "bn_after_relu", "layernorm"]},
    seeds=5,
)
