import itertools

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeper.errors import SearchSpaceError
from sweeper.study.space import Choice, as_dimension, choice, expand_grid, grid_size, intrange, loguniform, uniform


def test_grid_matches_itertools_product_in_order():
    space = {"learning_rate": as_dimension([0.01, 0.1, 1.0]), "momentum": choice(0.0, 0.9),
             "hidden_size": intrange(16, 64, step=16)}
    expected = [dict(zip(space, combo)) for combo in itertools.product(
        [0.01, 0.1, 1.0], [0.0, 0.9], [16, 32, 48, 64])]
    assert list(expand_grid(space)) == expected
    assert grid_size(space) == 24


def test_continuous_dimensions_refuse_a_grid():
    with pytest.raises(SearchSpaceError, match="cannot enumerate"):
        list(expand_grid({"learning_rate": loguniform(1e-3, 1e-1)}))


@pytest.mark.parametrize("make, message", [
    (lambda: uniform(1.0, 0.5), "low < high"),
    (lambda: loguniform(0.0, 1.0), "low > 0"),
    (lambda: uniform(float("nan"), 1.0), "finite"),
    (lambda: intrange(5, 1), "low <= high"),
    (lambda: intrange(1, 5, step=0), "step >= 1"),
    (lambda: intrange(1.5, 5), "integer"),
    (lambda: choice(), "at least one"),
    (lambda: choice(1, 1), "repeat"),
    (lambda: as_dimension(0.1), "expected a list"),
])
def test_bad_primitives_name_the_rule(make, message):
    with pytest.raises(SearchSpaceError, match=message):
        make()


def test_optuna_distributions():
    assert loguniform(1e-3, 1.0).to_optuna() == optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)
    assert intrange(1, 9, step=2).to_optuna() == optuna.distributions.IntDistribution(1, 9, step=2)
    assert isinstance(choice("sgd", "adam").to_optuna(), optuna.distributions.CategoricalDistribution)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_uniform_accepts_exactly_ordered_bounds(low, high):
    if low < high:
        dim = uniform(low, high)
        assert dim.bounds() == [low, high]
    else:
        with pytest.raises(SearchSpaceError):
            uniform(low, high)


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(1, 7))
def test_intrange_grid_is_python_range(low, high, step):
    if low > high:
        with pytest.raises(SearchSpaceError):
            intrange(low, high, step)
        return
    values = intrange(low, high, step).grid_values()
    assert values == list(range(low, high + 1, step))
    assert all(low <= v <= high for v in values)


@given(st.lists(st.integers(), min_size=1, max_size=8, unique=True))
def test_choice_keeps_values_in_order(values):
    assert Choice(tuple(values)).grid_values() == values
