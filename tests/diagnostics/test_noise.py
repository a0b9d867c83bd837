"""Gradient noise against brute-force per-example gradients (one autograd call each)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diagnostics._problems import classification_batch, exact_hessian_of, tanh_net

from deepdescent.diagnostics import gradient_noise, noise_from_two_batches, per_example_gradients
from deepdescent.diagnostics._objective import resolve
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.utils import set_random_seed, to_categorical

CE = torch.nn.CrossEntropyLoss()


def _brute_force(net, x, y):
    rows = []
    for xi, yi in zip(x, y, strict=True):
        net.zero_grad()
        CE(net(xi[None]), yi[None]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]).clone())
    return torch.stack(rows).numpy()


def _keras_model():
    set_random_seed(0)
    model = Sequential(
        [Dense(5, activation="sigmoid", input_shape=(4,)), Dense(3, activation="softmax")]
    ).double()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, labels = classification_batch()
    return model, x, torch.tensor(to_categorical(labels.numpy(), 3)).double()


def test_per_example_gradients_of_a_torch_and_a_keras_model():
    net = tanh_net()
    x, y = classification_batch()
    computed = per_example_gradients(resolve(net, CE, x, y))
    np.testing.assert_allclose(computed.numpy(), _brute_force(net, x, y), rtol=1e-10, atol=1e-12)
    model, x, y = _keras_model()
    rows = []
    for xi, yi in zip(x, y, strict=True):
        model.zero_grad()
        logits = model.forward_pre_activation(xi[None])
        (-(yi * logits.log_softmax(-1)).sum()).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone())
    computed = per_example_gradients(resolve(model, None, x, y))
    np.testing.assert_allclose(computed.numpy(), torch.stack(rows).numpy(), rtol=1e-10, atol=1e-12)


def test_noise_statistics_match_the_brute_force_ones():
    net = tanh_net()
    x, y = classification_batch(n=32)
    grads = _brute_force(net, x, y)
    mean = grads.mean(axis=0)
    trace = ((grads - mean) ** 2).sum() / (len(grads) - 1)
    noise = gradient_noise(net, CE, x, y, draws=4000)
    assert noise.batch_size == 32
    assert noise.trace_covariance == pytest.approx(trace, rel=1e-10)
    assert noise.gradient_norm_sq == pytest.approx(mean @ mean, rel=1e-10)
    assert noise.true_gradient_norm_sq == pytest.approx(mean @ mean - trace / 32, rel=1e-10)
    assert noise.noise_scale == pytest.approx(trace / (mean @ mean - trace / 32), rel=1e-10)
    assert sum(noise.layer_trace_covariance.values()) == pytest.approx(trace, rel=1e-10)
    assert sorted(noise.layer_trace_covariance) == ["0", "2"]
    np.testing.assert_array_equal(noise.batch_sizes, [1, 2, 4, 8, 16, 32])
    np.testing.assert_allclose(
        noise.standard_errors, np.sqrt(trace / noise.batch_sizes), rtol=1e-12
    )
    # Sampling with replacement from the batch: E‖ĝ_m − Ḡ‖² = (B − 1)/B · tr Σ / m.
    population = np.sqrt((31 / 32) * trace / noise.batch_sizes)
    np.testing.assert_allclose(noise.sampled_standard_errors, population, rtol=0.08)
    assert noise.critical_batch_size is None
    full = torch.tensor(mean * 0.5)
    given = gradient_noise(net, CE, x, y, draws=0, true_gradient=full)
    assert given.noise_scale == pytest.approx(trace / (0.25 * mean @ mean), rel=1e-10)
    assert len(given.sampled_standard_errors) == 0


def test_critical_batch_size_with_the_hessian():
    net = tanh_net()
    x, y = classification_batch(n=16)
    grads = _brute_force(net, x, y)
    h = exact_hessian_of(net, CE, x, y)
    mean, deviations = grads.mean(axis=0), grads - grads.mean(axis=0)
    trace_h_sigma = np.einsum("ij,jk,ik->", deviations, h, deviations) / 15
    expected = trace_h_sigma / (mean @ h @ mean - trace_h_sigma / 16)
    noise = gradient_noise(net, CE, x, y, hessian=True)
    assert noise.critical_batch_size == pytest.approx(expected, rel=1e-8)


def test_two_batch_estimates_are_unbiased():
    """McCandlish et al.'s Appendix A.1 estimators, averaged over many pairs of batches
    drawn with replacement, recover the population's |G|² and tr Σ."""
    rng = np.random.default_rng(0)
    population = rng.normal(size=(64, 6)) + np.array([0.5, -0.2, 0.1, 0.0, 0.3, 0.0])
    truth_g = population.mean(axis=0) @ population.mean(axis=0)
    truth_trace = ((population - population.mean(axis=0)) ** 2).sum() / 64
    estimates = []
    for _ in range(20000):
        small = population[rng.integers(0, 64, 4)].mean(axis=0)
        large = population[rng.integers(0, 64, 32)].mean(axis=0)
        estimates.append(noise_from_two_batches(small @ small, large @ large, 4, 32))
    g, trace = np.mean(estimates, axis=0)
    assert g == pytest.approx(truth_g, rel=0.05)
    assert trace == pytest.approx(truth_trace, rel=0.02)


def test_bad_noise_arguments():
    net = tanh_net()
    x, y = classification_batch()
    with pytest.raises(ValueError, match=r"Invalid x: '1 examples' \(expected at least 2"):
        gradient_noise(net, CE, x[:1], y[:1])
    with pytest.raises(ValueError, match="Invalid batch_sizes"):
        gradient_noise(net, CE, x, y, batch_sizes=[0, 4])
    with pytest.raises(ValueError, match="Invalid large: 4"):
        noise_from_two_batches(1.0, 0.5, 4, 4)
