import pytest
import torch
from torch import nn

from sweeper.builtin.hparams import NORMALIZATIONS, resolve
from sweeper.builtin.models import build


class TutorialMLP(nn.Module):
    """Seed 000's MLP, verbatim."""

    def __init__(self, num_hidden):
        super().__init__()
        self.layer1 = nn.Linear(28 * 28, num_hidden)
        self.layer2 = nn.Linear(num_hidden, 10)

    def forward(self, img):
        return self.layer2(torch.relu(self.layer1(img.view(-1, 28 * 28))))


def test_mlp_starts_from_the_tutorial_models_weights():
    torch.manual_seed(3)
    ours = build(resolve({"hidden_size": 30}), (1, 28, 28), 10)
    torch.manual_seed(3)
    theirs = TutorialMLP(30)
    x = torch.rand(5, 1, 28, 28)
    assert torch.equal(ours(x), theirs(x))


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("layers", [1, 3])
def test_mlp_normalization_placement(normalization, layers):
    model = build(resolve({"normalization": normalization, "num_layers": layers, "hidden_size": 8,
                           "dropout": 0.2}), (1, 8, 8), 10)
    kinds = [type(m).__name__ for m in model.modules()]
    assert model(torch.rand(4, 1, 8, 8)).shape == (4, 10)
    assert kinds.count("Linear") == layers + 1 and kinds.count("Dropout") == layers
    expected = {"none": (0, 0), "layernorm": (0, layers)}.get(normalization, (layers, 0))
    assert (kinds.count("BatchNorm1d"), kinds.count("LayerNorm")) == expected
    if normalization.startswith("bn"):
        relu_before_bn = kinds.index("ReLU") < kinds.index("BatchNorm1d")
        assert relu_before_bn == (normalization == "bn_after_relu")


@pytest.mark.parametrize("normalization", ["none", "bn_before_relu", "bn_after_relu"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_cnn_on_each_input_shape(normalization, shape):
    model = build(resolve({"model": "cnn", "normalization": normalization}), shape, 10)
    assert model(torch.rand(2, *shape)).shape == (2, 10)
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert bns == (0 if normalization == "none" else 2)


def test_cnn_has_the_tutorial_parameter_count():
    model = build(resolve({"model": "cnn"}), (1, 28, 28), 10)
    assert sum(p.numel() for p in model.parameters()) == 40 + 296 + 3930  # conv1, conv2, fc


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_lenet(shape):
    model = build(resolve({"model": "lenet"}), shape, 1)
    assert model(torch.rand(2, *shape)).shape == (2, 1)


def test_unsupported_combinations_fail_clearly():
    with pytest.raises(ValueError, match="lenet needs images of at least 28x28"):
        build(resolve({"model": "lenet"}), (1, 8, 8), 10)
    with pytest.raises(ValueError, match="model cnn supports normalization"):
        build(resolve({"model": "cnn", "normalization": "layernorm"}), (1, 28, 28), 10)


def test_zero_initialisation():
    model = build(resolve({"init": "zeros"}), (1, 8, 8), 10)
    assert all(int(torch.count_nonzero(p)) == 0 for p in model.parameters())
