"""Tutorial: every weight initialised to zero leaves the network "stuck in a saddle point"
(MLP(30), Adam lr 0.005, 3 epochs), against the default initialisation."""

from sweeper import Split, Study

study = Study(
    name="tutorial_zero_init",
    description="tutorial: zero vs default initialisation, MLP(30), Adam lr 0.005, 3 epochs",
    dataset="mnist",
    split=Split(train=2000, val=500),
    fixed={"hidden_size": 30, "optimizer": "adam", "learning_rate": 0.005, "batch_size": 64, "epochs": 3},
    space={"init": ["default", "zeros"]},
    eval_every="iteration",
    seeds=5,
)
