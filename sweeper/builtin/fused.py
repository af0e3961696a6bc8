"""The stacked step of a plain MLP, by hand: forward, cross-entropy and backward as a few
batched matrix products, without autograd.

A stacked model that is nothing but Flatten, Linear and ReLU layers in a row (the built-in
MLP without normalization or dropout, or such an `nn.Sequential` of the user's), classifying
into several classes, runs its step here. Activations are kept feature-major, one
(features x examples) block per model: the first layer's wide product of a seed's models
(`stacked_layers.StackedLinear`) already gives that layout, each later layer is one batched
product W h with no transposed copy, and every gradient comes out in its parameter's own
layout. The loss's gradient is softmax minus the label, over the batch; ReLU passes it where
its output is positive, as torch's own backward does.

Why: measured on 2 CPU cores, a stacked step of 6 MLP(30) models took 0.76 ms through the
model's own forward and autograd, of which 0.38 ms were its matrix products: about sixty
small operations (transposed copies, the loss's, autograd's own) made up the rest. Here a
step is about fifteen. The numbers are those of autograd up to floating-point noise (the
products run in another orientation).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sweeper.builtin.models import MLP
from sweeper.builtin.stacked_layers import StackedLinear


def linear_relu_chain(template: nn.Module) -> list[StackedLinear] | None:
    """The stacked Linear layers of a model made of Flatten, Linear and ReLU layers in a row
    (Linear, ReLU, Linear, ..., Linear), in order; None for any other model."""
    seq = template.net if type(template) is MLP else template
    if not isinstance(seq, nn.Sequential):
        return None
    mods = list(seq)
    if mods and type(mods[0]) is nn.Flatten and (mods[0].start_dim, mods[0].end_dim) == (1, -1):
        mods = mods[1:]
    linears, kinds = mods[0::2], [type(m) for m in mods[1::2]]
    if not mods or len(mods) % 2 == 0 or any(type(m) is not StackedLinear or m.bias is None for m in linears) or \
            any(k is not nn.ReLU for k in kinds):
        return None
    return linears  # type: ignore[return-value]


class FusedMLP:
    """`layers` (stacked Linear layers with ReLU between them) as one step function."""

    def __init__(self, layers: list[StackedLinear]) -> None:
        self.layers = layers

    def forward(self, x: Tensor, groups: int) -> list[Tensor]:
        """Each layer's output, feature-major (models x features x examples), ReLU applied but
        to the last: the models of each of `groups` groups read that group's examples of x."""
        first = self.layers[0]
        models, width, inputs = first.weight.shape
        xg = x.reshape(groups, -1, inputs)
        wide = first.weight.view(groups, -1, inputs)
        bias = first.bias.view(groups, -1, 1)  # type: ignore[union-attr]
        h = torch.baddbmm(bias, wide, xg.transpose(1, 2)).view(models, width, -1).relu_()
        outs = [h]
        for layer in self.layers[1:]:
            z = torch.baddbmm(layer.bias.unsqueeze(-1), layer.weight, outs[-1])  # type: ignore[union-attr]
            outs.append(z if layer is self.layers[-1] else z.relu_())
        return outs

    @torch.no_grad()
    def step(self, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Each model's mean cross-entropy on its group's batch (x: groups * n examples, y:
        groups x n labels), and the gradients of every layer's weight and bias, in order."""
        groups, n = y.shape
        outs = self.forward(x, groups)
        logits = outs[-1]  # models x classes x n
        labels = y.unsqueeze(1).expand(groups, logits.shape[0] // groups, n).reshape(-1, 1, n)
        lse = torch.logsumexp(logits, 1, keepdim=True)
        losses = (lse - logits.gather(1, labels)).sum((1, 2)) / n
        grad = torch.exp(logits - lse).scatter_add_(1, labels, torch.full_like(labels, -1, dtype=logits.dtype))
        grad.div_(n)
        grads: list[Tensor] = []
        for i in range(len(self.layers) - 1, 0, -1):
            below = outs[i - 1]
            grads += [grad.sum(-1), torch.bmm(grad, below.transpose(1, 2))]
            grad = torch.bmm(self.layers[i].weight.transpose(1, 2), grad)
            grad.mul_(below > 0)
        first = self.layers[0]
        xg = x.reshape(groups, n, -1)
        weight = torch.bmm(grad.view(groups, -1, n), xg).view(first.weight.shape)
        grads += [grad.sum(-1), weight]
        return losses, grads[::-1]

    @torch.no_grad()
    def outputs(self, x: Tensor) -> Tensor:
        """Every model's outputs on x: models x examples x outputs (contiguous: the loss and
        argmax over a transposed view took several times longer than the copy)."""
        return self.forward(x, 1)[-1].transpose(1, 2).contiguous()
