"""Layers that hold the parameters of several models and run all of them on one batch.

A stacked batch holds every model's examples one after the other: `models * n` rows, model
m's at rows m*n .. (m+1)*n. The model's own `forward` runs on it unchanged, its layers with
parameters replaced by these: a Linear layer is a batched matrix product, a Conv2d a grouped
convolution, BatchNorm a BatchNorm over `models * channels` channels (each model's own
statistics), LayerNorm one normalisation with each model's own scale and shift. Layers
without parameters (activations, pooling, Flatten, Dropout) need no change.

The first layer reads the input before any model has changed it, and models of one group
(one seed during training, all of them in evaluation) read the same input: it gets one
copy per group (`groups * n` rows) and, for Linear and Conv2d, computes every model of a
group in one wide product.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EVAL_CHUNK = 4096  # at most this many images per evaluation chunk
ACTIVATION_BUDGET = 2**24  # floats of one layer's output, all models together, per evaluation chunk
MIN_EVAL_CHUNK = 64


class NotStackable(Exception):
    """The models cannot be trained as one stacked model (the message says why)."""


class _Context:
    groups = 1  # groups of models that read the same input, in the current forward pass


class StackedLayer(nn.Module):
    """A layer of several models: its tensors have a first "model" dimension."""

    param_names: tuple[str, ...] = ()
    buffer_names: tuple[str, ...] = ()
    weight: Tensor
    bias: Tensor | None
    running_mean: Tensor | None
    running_var: Tensor | None

    def __init__(self, ctx: _Context) -> None:
        super().__init__()
        self.ctx, self.first = ctx, False
        self.name = ""  # the layer's name in the model (its state_dict's prefix)

    def _stack(self, layers: list[nn.Module]) -> None:
        for name in self.param_names:
            values = [getattr(layer, name) for layer in layers]
            stacked = None if values[0] is None else torch.stack([v.detach() for v in values]).requires_grad_()
            object.__setattr__(self, name, stacked)
        for name in self.buffer_names:
            values = [getattr(layer, name) for layer in layers]
            object.__setattr__(self, name, None if values[0] is None else torch.stack(values).clone())

    def tensors(self, kind: str) -> list[Tensor]:
        names = self.param_names if kind == "params" else self.buffer_names
        return [t for t in (getattr(self, n) for n in names) if t is not None]

    @property
    def models(self) -> int:
        return int(self.tensors("params")[0].shape[0])

    def keep(self, index: Tensor) -> None:
        for name in self.param_names:
            t = getattr(self, name)
            if t is not None:
                object.__setattr__(self, name, t.detach()[index].requires_grad_())
        for name in self.buffer_names:
            t = getattr(self, name)
            if t is not None:
                object.__setattr__(self, name, t[index])

    @torch.no_grad()
    def zero_rows(self, rows: Tensor) -> None:
        for t in self.tensors("params") + self.tensors("buffers"):
            t[rows] = 0

    def spread(self, x: Tensor) -> Tensor:
        """A first layer's input, one copy per group, as one copy per model."""
        if not self.first:
            return x
        groups, per_group = self.ctx.groups, self.models // self.ctx.groups
        x = x.view(groups, 1, x.shape[0] // groups, *x.shape[1:])
        return x.expand(groups, per_group, *x.shape[2:]).reshape(-1, *x.shape[3:])


class StackedLinear(StackedLayer):
    param_names = ("weight", "bias")

    def __init__(self, ctx: _Context, layers: list[nn.Linear]) -> None:
        super().__init__(ctx)
        self._stack(layers)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.weight, self.bias
        models, out_features, in_features = weight.shape
        if self.first:  # each group's models side by side: one product per group
            groups = self.ctx.groups
            per_group = models // groups
            wide = weight.view(groups, per_group * out_features, in_features)
            xg = x.reshape(groups, -1, in_features)
            rows = xg.shape[1]
            # as W x^T: the weights' gradient comes out in their own layout, with no copy; and one
            # code path for any number of groups, so a model's numbers do not depend on its group's size
            yt = torch.bmm(wide, xg.transpose(1, 2)) if bias is None else torch.baddbmm(
                bias.view(groups, -1, 1), wide, xg.transpose(1, 2))
            y = yt.view(groups, per_group, out_features, rows).transpose(2, 3)
            return y.reshape(models * (x.shape[0] // groups), *x.shape[1:-1], out_features)
        xm = x.reshape(models, -1, in_features)
        if bias is None:
            y = torch.bmm(xm, weight.transpose(1, 2))
        else:
            y = torch.baddbmm(bias.unsqueeze(1), xm, weight.transpose(1, 2))
        return y.view(*x.shape[:-1], out_features)


class StackedConv2d(StackedLayer):
    param_names = ("weight", "bias")

    def __init__(self, ctx: _Context, layers: list[nn.Conv2d]) -> None:
        super().__init__(ctx)
        conv = layers[0]
        if conv.padding_mode != "zeros":
            raise NotStackable(f"Conv2d with padding_mode {conv.padding_mode!r} (only 'zeros' is stacked)")
        self.stride, self.padding, self.dilation, self.conv_groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self._stack(layers)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        models, out_channels = self.weight.shape[:2]
        weight = self.weight.flatten(0, 1)
        bias = None if self.bias is None else self.bias.flatten()
        if self.first and self.conv_groups == 1:  # each group's input once, its models' filters side by side
            groups = self.ctx.groups
        else:
            x, groups = self.spread(x), models * self.conv_groups
        n = x.shape[0] * self.conv_groups // groups
        xi = x.view(-1, n, *x.shape[1:]).transpose(0, 1).reshape(n, -1, *x.shape[2:])
        y = F.conv2d(xi, weight, bias, self.stride, self.padding, self.dilation, groups)
        y = y.view(n, models, out_channels, *y.shape[2:]).transpose(0, 1)
        return y.reshape(models * n, out_channels, *y.shape[3:])


class StackedBatchNorm(StackedLayer):
    """BatchNorm1d/2d as torch's `_BatchNorm.forward` computes it, for every model at once."""

    param_names = ("weight", "bias")
    buffer_names = ("running_mean", "running_var")

    def __init__(self, ctx: _Context, layers: list[nn.modules.batchnorm._BatchNorm]) -> None:
        super().__init__(ctx)
        bn = layers[0]
        self.momentum, self.eps, self.track = bn.momentum, bn.eps, bn.track_running_stats
        self.batches = int(bn.num_batches_tracked) if bn.num_batches_tracked is not None else 0
        self.training = bn.training
        self._stack(layers)  # type: ignore[arg-type]

    @property
    def models(self) -> int:
        tensors = self.tensors("params") + self.tensors("buffers")
        if not tensors:
            raise NotStackable("a BatchNorm layer without affine parameters or running statistics")
        return int(tensors[0].shape[0])

    def forward(self, x: Tensor) -> Tensor:
        x = self.spread(x)
        models, shape = self.models, x.shape
        n = shape[0] // models
        xi = x.view(models, n, *shape[1:]).transpose(0, 1).reshape(n, -1, *shape[2:])
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track:
            self.batches += 1
            factor = 1.0 / self.batches if self.momentum is None else self.momentum
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track

        def flat(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.view(-1)

        y = F.batch_norm(xi, flat(self.running_mean) if track else None, flat(self.running_var) if track else None,
                         flat(self.weight), flat(self.bias), use_batch, factor, self.eps)
        return y.view(n, models, *shape[1:]).transpose(0, 1).reshape(shape)


class StackedLayerNorm(StackedLayer):
    param_names = ("weight", "bias")

    def __init__(self, ctx: _Context, layers: list[nn.LayerNorm]) -> None:
        super().__init__(ctx)
        self.shape, self.eps = tuple(layers[0].normalized_shape), layers[0].eps
        self._stack(layers)  # type: ignore[arg-type]

    @property
    def models(self) -> int:
        tensors = self.tensors("params")
        if not tensors:
            raise NotStackable("a LayerNorm without parameters is stacked as it is: it has nothing to stack")
        return int(tensors[0].shape[0])

    def forward(self, x: Tensor) -> Tensor:
        x = self.spread(x)
        y = F.layer_norm(x, self.shape, None, None, self.eps)
        per_model = y.view(self.models, -1, *self.shape)
        if self.weight is not None:
            per_model = per_model * self.weight.unsqueeze(1)
        if self.bias is not None:
            per_model = per_model + self.bias.unsqueeze(1)
        return per_model.reshape(x.shape)


LAYERS: dict[type, Callable[[_Context, list[Any]], StackedLayer]] = {
    nn.Linear: StackedLinear, nn.Conv2d: StackedConv2d, nn.BatchNorm1d: StackedBatchNorm,
    nn.BatchNorm2d: StackedBatchNorm, nn.LayerNorm: StackedLayerNorm,
}


def _own_tensors(module: nn.Module) -> bool:
    return any(t is not None for t in [*module._parameters.values(), *module._buffers.values()])


class StackedModel:
    """Models of one architecture, stacked: `forward(x, groups)` runs all of them on x (one
    copy of the input per group of models); `params` are the stacked parameters, in a fixed
    order. Checked at construction against each model's own outputs on `probe` inputs."""

    def __init__(self, models: list[nn.Module], probe: Tensor) -> None:
        shapes = [[(n, type(m), tuple(t.shape)) for n, m in model.named_modules()
                   for t in [*m._parameters.values(), *m._buffers.values()] if t is not None] for model in models]
        if any(s != shapes[0] for s in shapes):
            raise NotStackable("the models differ in their layers or shapes")
        order, sizes = _call_order(models[0], probe)
        self.ctx = _Context()
        self.template = copy.deepcopy(models[0])
        self.layers: list[StackedLayer] = []
        for name, module in list(self.template.named_modules()):
            if not _own_tensors(module):
                continue
            make = LAYERS.get(type(module))
            if make is None:
                raise NotStackable(f"layer `{name or 'model'}` ({type(module).__name__}) has parameters of a kind "
                                   f"that is not stacked; stacked are {sorted(t.__name__ for t in LAYERS)}")
            if order.count(name) > 1:
                raise NotStackable(f"layer `{name}` is called more than once in a forward pass")
            layer = make(self.ctx, [dict(m.named_modules())[name] for m in models])
            layer.first = bool(order) and name == order[0]
            layer.name = name
            self._replace(name, layer)
            self.layers.append(layer)
        if not self.layers or not order:
            raise NotStackable("the model has no layer with parameters that its forward pass calls")
        self.activation = max(sizes)  # the largest layer output per example, to size evaluation chunks
        self.params: list[Tensor] = []
        self._collect()
        self._check(models, probe)

    def _replace(self, name: str, layer: StackedLayer) -> None:
        if not name:
            self.template = layer
            return
        parent, _, child = name.rpartition(".")
        setattr(self.template.get_submodule(parent) if parent else self.template, child, layer)

    def _collect(self) -> None:
        self.params = [t for layer in self.layers for t in layer.tensors("params")]

    def __call__(self, x: Tensor, groups: int) -> Tensor:
        self.ctx.groups = groups
        return self.template(x)

    def train(self) -> None:
        """Training mode, where the model is not in it already: switching walks every
        submodule, which at every step cost a stacked MLP(30) a tenth of its step."""
        if not self.template.training:
            self.template.train()

    def eval(self) -> None:
        if self.template.training:
            self.template.eval()

    def keep(self, index: Tensor) -> None:
        """Keep only the models at `index` (positions along the model dimension)."""
        for layer in self.layers:
            layer.keep(index)
        self._collect()

    def zero_rows(self, rows: list[int]) -> None:
        index = torch.tensor(rows, dtype=torch.long, device=self.params[0].device)
        for layer in self.layers:
            layer.zero_rows(index)

    def named_tensors(self) -> dict[str, Tensor]:
        """Every stacked parameter and buffer by its name in a model's state_dict."""
        return {f"{layer.name}.{n}" if layer.name else n: getattr(layer, n) for layer in self.layers
                for n in (*layer.param_names, *layer.buffer_names) if getattr(layer, n) is not None}

    def counters(self) -> dict[str, int]:
        """BatchNorm's batch counts (one for every model), by their name in a model's state_dict."""
        return {f"{layer.name}.num_batches_tracked" if layer.name else "num_batches_tracked": layer.batches
                for layer in self.layers if isinstance(layer, StackedBatchNorm)}

    def set_counters(self, counts: dict[str, int]) -> None:
        for layer in self.layers:
            key = f"{layer.name}.num_batches_tracked" if layer.name else "num_batches_tracked"
            if isinstance(layer, StackedBatchNorm) and key in counts:
                layer.batches = int(counts[key])

    def eval_chunk(self, models: int) -> int:
        return max(MIN_EVAL_CHUNK, min(EVAL_CHUNK, ACTIVATION_BUDGET // max(1, models * self.activation)))

    @torch.no_grad()
    def _check(self, models: list[nn.Module], probe: Tensor) -> None:
        modes = [m.training for m in models]
        for m in models:
            m.eval()
        try:
            expected = torch.stack([m(probe) for m in models])
            self.eval()
            got = self(probe, groups=1)
        except Exception as e:  # the model's forward does something a stacked batch breaks
            raise NotStackable(f"the stacked forward pass failed: {type(e).__name__}: {e}") from None
        finally:
            for m, mode in zip(models, modes, strict=True):
                m.train(mode)
            self.train()
        if got.shape != (len(models) * len(probe), *expected.shape[2:]) or not torch.allclose(
                got.view(expected.shape), expected, rtol=1e-4, atol=1e-5):
            raise NotStackable("the stacked models' outputs differ from the models' own on a probe batch")


def _call_order(model: nn.Module, probe: Tensor) -> tuple[list[str], list[int]]:
    """Names of the layers with parameters in the order a forward pass calls them, and the
    size of each layer's output per example."""
    order: list[str] = []
    sizes = [1]
    hooks = []
    for name, module in model.named_modules():
        if _own_tensors(module):
            def hook(_: nn.Module, __: Any, out: Any, name: str = name) -> None:
                order.append(name)
                if isinstance(out, Tensor):
                    sizes.append(out.numel() // max(1, len(probe)))
            hooks.append(module.register_forward_hook(hook))
    mode = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(probe)
    except Exception as e:
        raise NotStackable(f"the model's forward pass failed on a probe batch: {type(e).__name__}: {e}") from None
    finally:
        model.train(mode)
        for h in hooks:
            h.remove()
    return order, sizes
