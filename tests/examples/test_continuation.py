"""The continuation demonstration's claim: from the same start on Rastrigin's function,
gradient descent stops in a local minimum and continuation reaches the global one; and
the blurred function it plots is the closed form of E f(θ + σε)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def test_continuation_reaches_the_global_minimum_where_descent_stalls(load_example):
    paths = load_example("continuation")["run"]()
    stalled, found = paths["sgd"], paths["continuation"]
    np.testing.assert_allclose(stalled.points[-1], [-2.98, 1.99], atol=0.01)
    assert stalled.values[-1] > 12
    np.testing.assert_allclose(found.points[-1], [0.0, 0.0], atol=1e-5)
    assert found.values[-1] < 1e-8


def test_the_blurred_profile_is_the_gaussian_expectation(load_example):
    blurred = load_example("continuation")["blurred"]
    rng = np.random.default_rng(0)
    x, sigma = 0.7, 0.3
    draws = x + sigma * rng.normal(size=400_000)
    sampled = np.mean(draws**2 + 10 - 10 * np.cos(2 * math.pi * draws))
    assert blurred(np.array(x), sigma) == pytest.approx(sampled, abs=0.05)
