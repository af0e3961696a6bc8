"""What a model's outputs are judged by: the loss it trains on, the loss and accuracy (or RMSE)
recorded at every evaluation, and the user's own metrics. Written once for every way of
training (one model, a configuration's seeds, stacked configurations): outputs may carry
leading dimensions (one per model), the examples and classes are the last two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

MetricFns = Mapping[str, Callable[[torch.Tensor, torch.Tensor], float]]

# A mini-batch loss above this counts as diverged, as NaN and infinity do: it is over 400 times
# the loss of guessing among 10 classes (ln 10 = 2.3), which no run that is still learning
# reaches; a run that does (learning rate 1e4: loss 1e4 at chance accuracy) has blown up.
# Classification only: a regression's squared error has the targets' units, and may be large.
DIVERGED_LOSS = 1e3


def loss_function(n_outputs: int, regress: bool = False) -> nn.Module:
    """The training loss of one model on a batch: torch's own, as the course's loop uses it."""
    if regress:
        return nn.MSELoss()
    return nn.BCEWithLogitsLoss() if n_outputs == 1 else nn.CrossEntropyLoss()


def batch_loss(loss_fn: nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return loss_fn(out[:, 0], y) if out.shape[1] == 1 else loss_fn(out, y)


def primary_measure(regress: bool) -> tuple[str, bool]:
    """The measure beside the loss at every evaluation, and whether higher is better."""
    return ("rmse", False) if regress else ("acc", True)


def predict_correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether each prediction is right; the outputs are the last dimension of `out`."""
    if out.shape[-1] == 1:  # one logit: positive means "label < 3"
        return (out[..., 0] > 0).float() == y
    return out.argmax(-1) == y


def summed_loss(out: torch.Tensor, y: torch.Tensor, regress: bool = False) -> torch.Tensor:
    """The loss of each example, summed over the examples (the last dimension before the
    outputs): `batch_loss` times the batch size, up to floating-point noise. Cross-entropy as
    logsumexp minus the label's logit, which on the CPU is several times faster than torch's
    log_softmax over 10 classes (this runs at every evaluation). For regression, the squared
    error (averaged over the targets of an example)."""
    if regress:
        one = out.shape[-1] == 1 and y.dim() == out.dim() - 1
        return ((out[..., 0] - y).pow(2) if one else (out - y).pow(2).mean(-1)).sum(-1)
    if out.shape[-1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(out[..., 0], y, reduction="none").sum(-1)
    return (torch.logsumexp(out, -1) - out.gather(-1, y.unsqueeze(-1)).squeeze(-1)).sum(-1)


def user_metrics(metrics: MetricFns | None, outs: list[torch.Tensor], y: torch.Tensor) -> dict[str, float]:
    """Each user metric on a split's outputs (the model's raw outputs, in chunks) and targets."""
    if not metrics:
        return {}
    out = torch.cat(outs)
    values = {}
    for name, fn in metrics.items():
        value = fn(out, y)
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metric `{name}` returned {value!r}, not a number")
        values[name] = float(value)
    return values
