"""The initialization demonstration's claims at width 64 and depth 20 (the example runs
width 256): signals level across depth under Glorot, orthogonal and LSUV, geometric
blow-up or vanishing under N(0, 1) and N(0, 0.01²)."""

from __future__ import annotations

import pytest

DEPTH = 20


@pytest.fixture(scope="module")
def results(load_example):
    return load_example("initialization_depth")["measure"](depth=DEPTH, width=64, batch=128)


def _ratio(values, towards_input=False):
    """last layer / first layer (first / last for a gradient flowing to the input)."""
    return values[0] / values[-1] if towards_input else values[-1] / values[0]


@pytest.mark.parametrize("scheme", ["Glorot uniform", "orthogonal", "LSUV"])
def test_a_deep_linear_network_keeps_both_signals_within_a_factor_of_2(results, scheme):
    found = results["linear", scheme]
    assert found.spread(found.activation_variance) < 2
    assert found.spread(found.activation_gradient_norm) < 2


def test_naive_scales_blow_up_or_vanish_geometrically_in_the_linear_network(results):
    large, small = results["linear", "N(0, 1)"], results["linear", "N(0, 0.01²)"]
    assert _ratio(large.activation_variance) > 1e20  # ×64 per layer
    assert _ratio(large.activation_gradient_norm, towards_input=True) > 1e10
    assert _ratio(small.activation_variance) < 1e-20  # ×0.0064 per layer
    assert _ratio(small.activation_gradient_norm, towards_input=True) < 1e-10


def test_naive_scales_saturate_or_silence_the_tanh_network_geometrically(results):
    saturated, silent = results["tanh", "N(0, 1)"], results["tanh", "N(0, 0.01²)"]
    assert min(saturated.activation_variance) > 0.85  # most units near ±1
    # ...and yet the chaotic phase: the gradient grows geometrically towards the input.
    assert _ratio(saturated.activation_gradient_norm, towards_input=True) > 1e4
    assert _ratio(silent.activation_variance) < 1e-20


@pytest.mark.parametrize("scheme", ["Glorot uniform", "orthogonal", "LSUV"])
def test_the_tanh_network_drifts_at_most_polynomially_under_scaled_schemes(results, scheme):
    """tanh at gain 1 sits between saturation and silence: the activation variance decays
    like 1/(2l), not geometrically, so every statistic stays within a factor of 30 over
    20 layers, where the naive scales move by many orders of magnitude."""
    found = results["tanh", scheme]
    for values in (
        found.activation_variance,
        found.activation_gradient_norm,
        found.weight_gradient_norm,
    ):
        assert found.spread(values) < 30


def test_what_each_scaled_scheme_keeps_level_in_the_tanh_network(results):
    glorot, orthogonal = results["tanh", "Glorot uniform"], results["tanh", "orthogonal"]
    lsuv = results["tanh", "LSUV"]
    assert glorot.spread(glorot.weight_gradient_norm) < 2  # Glorot & Bengio's finding
    assert orthogonal.spread(orthogonal.weight_gradient_norm) < 2
    assert lsuv.spread(lsuv.activation_variance) < 1.1  # unit pre-activation variance
