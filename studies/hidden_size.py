"""Hidden size of the tutorial's MLP: 30, 50, 100 and 200 units.

The tutorial trains each with its `train()` defaults (SGD, lr 0.1, momentum 0.9, batch 64)
and argues that more units raise training accuracy and widen the train/validation gap.
"""

from sweeper import Split, Study

study = Study(
    name="hidden_size",
    description="tutorial: MLP hidden size 30/50/100/200, SGD lr 0.1 momentum 0.9, 5 epochs",
    dataset="mnist",
    fallback="digits",
    split=Split(train=2000, val=500),
    fixed={"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "batch_size": 64, "epochs": 5},
    space={"hidden_size": [30, 50, 100, 200]},
    seeds=5,
)
