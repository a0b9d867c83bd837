"""Batch and layer normalization against the book's formulas in NumPy
(tests/reference/normalization.py) and torch.nn.BatchNorm1d / LayerNorm, in training and
at inference; their weights in Keras's order, saving, the trainer's gradient path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import normalization as reference

from deepdescent.layers import BatchNormalization, Dense, LayerNormalization
from deepdescent.models import Sequential, load_model
from deepdescent.training import choose_gradient_path


def _batch(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _bn(features=5, **kwargs):
    layer = BatchNormalization(input_shape=(features,), **kwargs).double()
    with torch.no_grad():
        layer.gamma.copy_(torch.linspace(0.5, 2.0, features))
        layer.beta.copy_(torch.linspace(-1.0, 1.0, features))
    return layer


def test_batch_normalization_in_training_is_the_books_formula_with_keras_moving_averages():
    layer = _bn(momentum=0.9, epsilon=1e-3)
    gamma, beta = layer.gamma.detach().numpy(), layer.beta.detach().numpy()
    mean, variance = np.zeros(5), np.ones(5)
    for seed in range(3):
        h = _batch(16, 5, seed=seed) * 3 + 2
        expected, mu, batch_variance = reference.batch_norm_training(h.numpy(), gamma, beta, 1e-3)
        np.testing.assert_allclose(layer(h).detach().numpy(), expected, rtol=1e-12)
        mean = reference.moving_average(mean, mu, 0.9)
        variance = reference.moving_average(variance, batch_variance, 0.9)
        np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-12)
        np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-12)
    layer.eval()
    h = _batch(4, 5, seed=9)
    expected = reference.batch_norm_inference(h.numpy(), gamma, beta, mean, variance, 1e-3)
    np.testing.assert_allclose(layer(h).detach().numpy(), expected, rtol=1e-12)


def test_batch_normalization_matches_torch_batchnorm1d_forward_backward_and_running_mean():
    """Same normalization and gradients; torch's momentum is 1 − Keras's and its running
    variance is the unbiased one (·m/(m − 1))."""
    ours = _bn(momentum=0.8, epsilon=1e-5)
    theirs = torch.nn.BatchNorm1d(5, eps=1e-5, momentum=0.2).double()
    with torch.no_grad():
        theirs.weight.copy_(ours.gamma)
        theirs.bias.copy_(ours.beta)
    h = _batch(12, 5).requires_grad_()
    h2 = h.detach().clone().requires_grad_()
    weights = torch.linspace(-1, 1, 60, dtype=torch.float64).reshape(12, 5)
    (ours(h) * weights).sum().backward()
    (theirs(h2) * weights).sum().backward()
    torch.testing.assert_close(h.grad, h2.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.gamma.grad, theirs.weight.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.beta.grad, theirs.bias.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.moving_mean, theirs.running_mean, rtol=1e-12, atol=1e-12)
    biased = h.detach().var(dim=0, correction=0)
    torch.testing.assert_close(ours.moving_variance, 0.8 + 0.2 * biased)
    torch.testing.assert_close(theirs.running_var, 0.8 + 0.2 * biased * 12 / 11)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        theirs.running_var.copy_(ours.moving_variance)
    torch.testing.assert_close(ours(h.detach()), theirs(h.detach()), rtol=1e-12, atol=1e-12)


def test_batch_normalization_of_sequences_normalizes_each_channel_over_batch_and_time():
    layer = BatchNormalization(input_shape=(7, 3)).double()  # (batch, time, channels)
    torch_layer = torch.nn.BatchNorm1d(3, eps=1e-3).double()  # (batch, channels, time)
    h = _batch(4, 7, 3)
    torch.testing.assert_close(layer(h), torch_layer(h.transpose(1, 2)).transpose(1, 2))
    channels_first = BatchNormalization(axis=1, input_shape=(3, 7)).double()
    torch.testing.assert_close(channels_first(h.transpose(1, 2)), layer(h).transpose(1, 2))


@pytest.mark.parametrize(("axis", "shape"), [(-1, (6,)), ([1, 2], (3, 4)), (-1, (3, 4))])
def test_layer_normalization_matches_the_formula_and_torch_layernorm(axis, shape):
    layer = LayerNormalization(axis=axis, epsilon=1e-5, input_shape=shape).double()
    normalized = shape if isinstance(axis, list) else shape[-1:]
    with torch.no_grad():
        layer.gamma.copy_(torch.linspace(0.5, 2.0, int(np.prod(normalized))).reshape(normalized))
        layer.beta.copy_(torch.linspace(-1.0, 1.0, int(np.prod(normalized))).reshape(normalized))
    theirs = torch.nn.LayerNorm(normalized, eps=1e-5).double()
    with torch.no_grad():
        theirs.weight.copy_(layer.gamma)
        theirs.bias.copy_(layer.beta)
    h = _batch(5, *shape).requires_grad_()
    h2 = h.detach().clone().requires_grad_()
    out = layer(h)
    axes = tuple(range(-len(normalized), 0))
    expected = reference.layer_norm(
        h.detach().numpy(), layer.gamma.detach().numpy(), layer.beta.detach().numpy(), 1e-5, axes
    )
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12)
    out.pow(2).sum().backward()
    theirs(h2).pow(2).sum().backward()
    torch.testing.assert_close(h.grad, h2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(layer.gamma.grad, theirs.weight.grad, rtol=1e-10, atol=1e-12)
    layer.eval()
    torch.testing.assert_close(layer(h.detach()), out.detach())  # no batch statistics
    torch.testing.assert_close(layer(h.detach()[:1]), out.detach()[:1])  # a batch of one


def test_weights_are_in_keras_order_and_survive_saving(tmp_path):
    model = Sequential(
        [Dense(4, input_shape=(3,), use_bias=False), BatchNormalization(), LayerNormalization()]
    )
    model.train()
    model(torch.randn(8, 3))  # moves the moving averages away from 0 and 1
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 4), (4,), (4,), (4,), (4,), (4,), (4,)]
    names = list(model.state_dict())
    assert names[1:5] == [
        "batch_normalization.gamma",
        "batch_normalization.beta",
        "batch_normalization.moving_mean",
        "batch_normalization.moving_variance",
    ]
    trainable = {name for name, _ in model.named_parameters()}
    assert "batch_normalization.moving_mean" not in trainable
    summary = model.summary(print_fn=lambda _: None)  # Keras's counts: moving stats frozen
    assert "batch_normalization (BatchNormalization)" in summary and " 16 │" in summary
    assert "Trainable params: 28 " in summary and "Non-trainable params: 8 " in summary
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.deepdescent")
    loaded = load_model(tmp_path / "m.deepdescent")
    for ours, theirs in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_a_model_with_normalization_trains_through_autograd():
    model = Sequential([Dense(8, input_shape=(3,)), BatchNormalization(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    path = choose_gradient_path(model)
    assert path.name == "autograd" and "layer" in path.reason
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    history = model.fit(x, x.sum(1, keepdims=True), batch_size=16, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_batch_normalization_refuses_a_batch_of_one_while_training_and_bad_arguments():
    layer = BatchNormalization(input_shape=(3,))
    with pytest.raises(ValueError, match=r"more than one value per feature.*shape \(1, 3\)"):
        layer(torch.randn(1, 3))
    layer.eval()
    assert layer(torch.randn(1, 3)).shape == (1, 3)  # inference uses the moving averages
    with pytest.raises(ValueError, match=r"Invalid momentum: 1\.0 \(expected 0 <= momentum < 1"):
        BatchNormalization(momentum=1.0)
    with pytest.raises(ValueError, match="Invalid epsilon"):
        LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match=r"Invalid axis: 0 .*not the batch axis"):
        BatchNormalization(axis=0, input_shape=(3,))
    with pytest.raises(ValueError, match="Invalid axis: 3"):
        LayerNormalization(axis=3, input_shape=(3, 4))
