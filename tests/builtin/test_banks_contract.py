"""The bank contract (`sweeper.builtin.bank.Bank`), checked against every bank: one model,
one configuration's seeds through torch.func (`SeedBank`), configurations stacked (with the
fused MLP step and without it) and a mix of parts. A bank's model m is (configuration,
seed) = `members[m]`: stepped on its seed's batches, its losses and outputs are those of
that configuration trained with that seed alone, within float noise; a dropped model
leaves the others as they were."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from sweeper.builtin.bank import Bank, OneModel
from sweeper.builtin.data import Tensors
from sweeper.builtin.hparams import resolve
from sweeper.builtin.mixed import MixedBank
from sweeper.builtin.stacked import StackedBank
from sweeper.builtin.vectorized import SeedBank

SEEDS = [0, 3]
GRID = [{"learning_rate": 0.05, "momentum": 0.0}, {"learning_rate": 0.2, "momentum": 0.5},
        {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-3}]
STEPS, BATCH, TOL = 4, 16, 1e-4


def tanh_net(config):  # no linear-ReLU chain: stacked without the fused step
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.Tanh(), nn.Linear(12, 10))


@pytest.fixture(scope="module")
def data() -> Tensors:
    from sweeper.builtin import data as datasets
    from sweeper.builtin.data import DataSpec
    from sweeper.study.study import Split

    return datasets.load(DataSpec("digits", "", Split(400, 100)))


def configs(n: int) -> list[dict]:
    return [resolve({"epochs": 1, "hidden_size": 12, "batch_size": BATCH, **point}) for point in GRID[:n]]


BANKS: dict[str, Callable[[Tensors], tuple[Bank, list[dict], object]]] = {
    "one model": lambda d: (OneModel(configs(1)[0], SEEDS[0], d), configs(1), None),
    "seeds (torch.func)": lambda d: (SeedBank(configs(1)[0], SEEDS, d), configs(1), None),
    "stacked, fused": lambda d: (StackedBank(configs(3), SEEDS, d), configs(3), None),
    "stacked": lambda d: (StackedBank(configs(3), SEEDS, d, tanh_net), configs(3), tanh_net),
    "mixed": lambda d: (MixedBank(configs(3), SEEDS, d, [[0], [1, 2]]), configs(3), None),
}


@pytest.fixture(params=list(BANKS))
def bank(request: pytest.FixtureRequest, data: Tensors) -> tuple[Bank, list[dict], object]:
    return BANKS[request.param](data)


def batches(data: Tensors, seeds: int) -> list[Tensor]:
    """STEPS batches for each seed: live seeds x batch indices into the training split."""
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, len(data.y_train), (seeds, BATCH), generator=g) for _ in range(STEPS)]


def alone(cfg: dict, seed: int, data: Tensors, model_fn: object, idx: list[Tensor], row: int) -> tuple[list, Tensor]:
    """One model trained on its seed's rows of the same batches: its losses and outputs."""
    one = OneModel(cfg, seed, data, model_fn)  # type: ignore[arg-type]
    losses = [one.step(b[row:row + 1])[0] for b in idx]
    return losses, one.outputs(data.x_val, [0])[0]


class TestBankContract:
    def test_every_bank_is_tested(self) -> None:
        assert set(Bank.__subclasses__()) == {OneModel, SeedBank, StackedBank, MixedBank}

    def test_members_are_every_configuration_with_every_seed(self, bank) -> None:
        b, cfgs, _ = bank
        assert sorted(b.members) == [(c, s) for c in range(len(cfgs)) for s in range(len(b.seeds))]
        assert b.active == list(range(len(b.members))) and b.live_seeds() == list(range(len(b.seeds)))

    def test_each_model_trains_as_it_would_alone(self, bank, data: Tensors) -> None:
        b, cfgs, model_fn = bank
        idx = batches(data, len(b.seeds))
        losses = [b.step(batch) for batch in idx]
        out = b.outputs(data.x_val, b.active)
        assert out.shape[:2] == (len(b.members), len(data.x_val))
        for m, (c, s) in enumerate(b.members):
            want_losses, want_out = alone(cfgs[c], b.seeds[s], data, model_fn, idx, s)
            assert [step[m] for step in losses] == pytest.approx(want_losses, abs=TOL), (c, s)
            assert torch.allclose(out[m], want_out, atol=TOL), (c, s)

    def test_each_seed_starts_from_its_own_weights(self, bank, data: Tensors) -> None:
        b, _, _ = bank  # untrained, a configuration's models differ by seed only (and share a seed's weights)
        out = b.outputs(data.x_val, b.active)
        for m, (c, s) in enumerate(b.members):
            assert torch.allclose(out[m], out[b.members.index((0, s))], atol=TOL) or c != 0
            assert s == 0 or not torch.allclose(out[m], out[b.members.index((c, 0))], atol=TOL)

    def test_a_dropped_model_leaves_the_others_as_they_were(self, bank, data: Tensors) -> None:
        b, _, _ = bank
        if len(b.members) == 1:
            pytest.skip("one model: nothing left to compare")
        idx = batches(data, len(b.seeds))
        b.step(idx[0])
        before = b.outputs(data.x_val, b.active)
        b.drop([0], diverged=False)
        assert b.active == list(range(1, len(b.members)))
        after = b.outputs(data.x_val, b.active)
        assert torch.allclose(after, before[1:], atol=TOL)
        assert len(b.step(idx[1][b.live_seeds()])) == len(b.active)
