import math

import pytest

from sweeper import Split
from sweeper.builtin import data
from sweeper.builtin.data import DataSpec
from sweeper.builtin.hparams import OPTIMIZERS, resolve
from sweeper.builtin.loop import train
from sweeper.execution.trial import TrialTask, run_trial
from tests.conftest import trainer_for_spec

DIGITS = DataSpec("digits", "unused", Split(train=500, val=300))


def _train(seed=0, eval_every="epoch", spec=DIGITS, **hp):
    config = resolve({"hidden_size": 16, "epochs": 3, "batch_size": 32, "learning_rate": 0.1, "momentum": 0.9, **hp})  # the course's momentum
    return train(config, seed, data.load(spec), eval_every)


def _curve(out, split, metric):
    return [(e, i, v) for e, i, s, m, v in out.curves if s == split and m == metric]


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = _train(seed=1), _train(seed=1), _train(seed=2)
    assert a.metrics == b.metrics and a.curves == b.curves
    assert a.metrics["val_loss"] != c.metrics["val_loss"]
    assert a.status == "ok" and a.metrics["val_acc"] > 0.8


@pytest.mark.parametrize("eval_every, per_epoch", [("epoch", 1), ("iteration", 15), (5, 3)])
def test_evaluation_frequency(eval_every, per_epoch):
    out = _train(eval_every=eval_every)  # 500 // 32 = 15 iterations per epoch
    points = _curve(out, "val", "acc")
    assert points[0][:2] == (0, 0)  # the untrained model first
    assert len(points) == 1 + 3 * per_epoch
    assert len(_curve(out, "train", "batch_loss")) == 45
    assert points[-1][1] == out.metrics["iterations"] == 45


def test_best_epoch_is_the_earliest_best_validation_accuracy():
    out = _train(epochs=6)
    per_epoch = {}
    for epoch, _, value in _curve(out, "val", "acc"):
        per_epoch[epoch] = value
    best = max(per_epoch.values())
    assert out.metrics["best_val_acc"] == best
    assert out.metrics["best_epoch"] == min(e for e, v in per_epoch.items() if v == best)


def test_learning_rate_decays_every_epoch():
    lrs = [v for _, _, v in _curve(_train(lr_decay=0.5, epochs=4), "train", "lr")]
    assert lrs == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_early_stopping_on_validation_loss():
    tiny = DataSpec("digits", "unused", Split(train=64, val=300))
    out = _train(spec=tiny, epochs=60, patience=2, learning_rate=0.5, hidden_size=64, batch_size=8)
    val_losses = [v for _, _, v in _curve(out, "val", "loss")]
    assert out.metrics["epochs_run"] < 60
    assert min(val_losses[-2:]) >= min(val_losses[:-2])  # stopped after 2 epochs without a new low


def test_divergence_stops_early_and_keeps_curves():
    out = _train(learning_rate=1e30, momentum=0.9)
    assert out.status == "diverged"
    assert out.metrics["iterations"] < 45
    assert not math.isfinite(_curve(out, "train", "batch_loss")[-1][2])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_each_optimizer_learns(optimizer):
    lr = {"sgd": 0.1, "rmsprop": 0.001}.get(optimizer, 0.01)
    assert _train(optimizer=optimizer, learning_rate=lr, epochs=10).metrics["val_acc"] > 0.75  # chance: 0.1


def test_nesterov_and_no_shuffle_change_the_run():
    base = _train()
    assert _train(nesterov=True).metrics != base.metrics
    assert _train(shuffle=False).metrics != base.metrics


def test_zero_initialisation_does_not_learn():
    assert _train(init="zeros", optimizer="adam", learning_rate=0.005).metrics["val_acc"] < 0.3


def test_small_digit_task_with_one_logit():
    spec = DataSpec("digits", "unused", Split(train=500, val=300), task="small_digit")
    out = _train(spec=spec, learning_rate=0.05, epochs=10)
    assert out.metrics["val_acc"] > 0.85  # 30 % of labels are < 3: always "no" would score 0.7


def test_run_trial_turns_exceptions_into_failed_rows():
    config = resolve({"batch_size": 100000})
    [result] = run_trial(TrialTask("t", (0,), config, trainer_for_spec(DIGITS)))
    assert result.status == "failed"
    assert "batch_size 100000 is larger than the training set (500 images)" in result.error


@pytest.mark.parametrize("vectorize", [False, True], ids=["train", "vectorized"])
def test_an_exploded_loss_counts_as_diverged(vectorize):
    """A loss far beyond chance (learning rate 1e4: about 1e4 at chance accuracy) is diverged, not ok."""
    config = resolve({"learning_rate": 1e4, "momentum": 0.0, "hidden_size": 16, "epochs": 2, "batch_size": 32})
    spec = DataSpec("digits", "unused", Split(train=400, val=200))
    results = run_trial(TrialTask("t", (0, 1), config, trainer_for_spec(spec, vectorize=vectorize)))
    assert [r.status for r in results] == ["diverged", "diverged"], [r.error for r in results]
