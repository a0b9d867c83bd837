"""Bias heuristics against the targets' marginal statistics in closed form; LSUV and the
per-layer signals against NumPy transcriptions (tests/reference/initialization.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from reference import initialization as reference

from deepdescent.layers import Activation, Conv2D, Dense, Flatten, Layer
from deepdescent.models import Sequential
from deepdescent.strategies import initialize_biases, lsuv, signal_propagation


def _softmax_model(classes=4, activation="softmax"):
    return Sequential(
        [
            Dense(8, activation="relu", input_shape=(5,)),
            Dense(classes, activation=activation, kernel_initializer="zeros"),
        ]
    )


def _outputs(model, n=3):
    with torch.no_grad():
        return model(torch.randn(n, 5))


def test_softmax_output_bias_gives_the_class_frequencies():
    """With zero output weights the output is softmax(b): exactly the class frequencies,
    so the initial loss is their entropy."""
    labels = np.array([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])
    frequencies = np.bincount(labels) / len(labels)
    for y in (labels, np.eye(4)[labels]):
        model = _softmax_model()
        initialize_biases(model, y)
        probabilities = _outputs(model)
        torch.testing.assert_close(probabilities, torch.tensor(frequencies).float().expand(3, 4))
    entropy = -np.sum(frequencies * np.log(frequencies))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(10, 5)).astype("float32")
    assert model.evaluate(x, np.eye(4)[labels], verbose=0) == pytest.approx(entropy, rel=1e-5)


def test_a_class_never_seen_counts_as_half_an_example():
    model = _softmax_model(classes=3)
    initialize_biases(model, np.array([0, 0, 1, 1]))
    counts = np.array([2.0, 2.0, 0.5])
    torch.testing.assert_close(_outputs(model)[0], torch.tensor(counts / counts.sum()).float())


def test_sigmoid_output_bias_is_the_logit_of_each_positive_rate():
    y = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])
    model = _softmax_model(classes=2, activation="sigmoid")
    initialize_biases(model, y)
    output = model.layers[-1]
    torch.testing.assert_close(output.bias, torch.tensor([math.log(3.0), math.log(1 / 3)]))
    torch.testing.assert_close(_outputs(model)[0], torch.tensor([0.75, 0.25]))


def test_linear_output_bias_is_the_targets_mean_and_a_trailing_softmax_counts():
    model = _softmax_model(classes=2, activation=None)
    initialize_biases(model, np.array([[1.0, -2.0], [3.0, 0.0]]))
    torch.testing.assert_close(model.layers[-1].bias, torch.tensor([2.0, -1.0]))
    split = Sequential(
        [Dense(3, input_shape=(5,), kernel_initializer="zeros"), Activation("softmax")]
    )
    initialize_biases(split, np.array([0, 1, 1, 2]))
    torch.testing.assert_close(_outputs(split)[0], torch.tensor([0.25, 0.5, 0.25]))


def test_hidden_relu_biases_get_the_small_positive_constant():
    model = Sequential(
        [
            Dense(4, activation="relu", input_shape=(5,)),
            Dense(4, activation="tanh"),
            Dense(4),
            Activation("relu"),
            Dense(2, activation="relu"),
        ]
    )
    initialize_biases(model)
    biases = [layer.bias for layer in model.layers if isinstance(layer, Dense)]
    torch.testing.assert_close(biases[0], torch.full((4,), 0.1))
    torch.testing.assert_close(biases[1], torch.zeros(4))
    torch.testing.assert_close(biases[2], torch.full((4,), 0.1))
    torch.testing.assert_close(biases[3], torch.zeros(2))  # the output is not hidden
    initialize_biases(model, relu_bias=0.5, forget_bias=None)
    torch.testing.assert_close(biases[0], torch.full((4,), 0.5))
    initialize_biases(model, relu_bias=None)
    torch.testing.assert_close(biases[0], torch.full((4,), 0.5))  # None leaves them


class _Gated(Layer):
    """A stand-in for a gated recurrent layer: a bias of 3 gates declared by ``gates``."""

    gates = ("update", "forget", "output")

    def __init__(self, units):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.full((3 * units,), -0.3))
        self.built = True


def test_forget_gates_start_at_one_through_the_gates_hook():
    model = Sequential([Dense(4, input_shape=(5,)), _Gated(2), Dense(2)])
    initialize_biases(model)
    gated = model.layers[1]
    torch.testing.assert_close(gated.bias, torch.tensor([-0.3, -0.3, 1.0, 1.0, -0.3, -0.3]))


def test_bias_heuristics_refuse_what_they_cannot_serve():
    with pytest.raises(ValueError, match="output activation is 'tanh'"):
        initialize_biases(_softmax_model(activation="tanh"), np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"Invalid y: 'label 4' \(expected < 4\)"):
        initialize_biases(_softmax_model(), np.array([0, 4]))
    with pytest.raises(ValueError, match=r"Invalid y.*one-hot rows"):
        initialize_biases(_softmax_model(), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="no bias"):
        initialize_biases(Sequential([Dense(2, input_shape=(3,), use_bias=False)]), [0, 1])


def _tanh_network(depth=4, width=16, bias=0.0, activation="tanh"):
    layers = [Dense(width, activation=activation, input_shape=(width,))]
    layers += [Dense(width, activation=activation) for _ in range(depth - 1)]
    model = Sequential(layers).double()
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.fill_(bias)
    return model


def _weights(model):
    return [layer.kernel.detach().numpy().copy() for layer in model.layers]


def _biases(model):
    return [layer.bias.detach().numpy().copy() for layer in model.layers]


def test_lsuv_is_algorithm_1_of_mishkin_and_matas():
    torch.manual_seed(0)
    model = _tanh_network(bias=0.2)
    with torch.no_grad():
        for layer in model.layers:
            layer.kernel.mul_(3.0)  # far from unit variance, so that it iterates
    x = torch.randn(64, 16, dtype=torch.float64)
    expected = reference.lsuv(x.numpy(), _weights(model), _biases(model), "tanh", 0.01, 10)
    variances = lsuv(model, x, tolerance=0.01, orthonormal=False)
    for ours, theirs in zip(_weights(model), expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert all(abs(v - 1.0) < 0.01 for v in variances.values())


def test_lsuv_starts_from_orthonormal_weights_and_warns_when_short_of_iterations():
    torch.manual_seed(1)
    model = _tanh_network()
    lsuv(model, torch.randn(32, 16, dtype=torch.float64), seed=3)
    for kernel in _weights(model):
        gram = kernel.T @ kernel  # orthonormal columns, then one scale per layer
        np.testing.assert_allclose(gram, gram[0, 0] * np.eye(16), atol=1e-10)
    biased = _tanh_network()
    with torch.no_grad():  # biases of ±2 across the units: Var(B_L) >= 4 whatever W
        biased.layers[0].bias.copy_(2.0 * (-1.0) ** torch.arange(16))
    with pytest.warns(RuntimeWarning, match="after 2 rescalings"):
        lsuv(biased, torch.randn(32, 16, dtype=torch.float64), max_iterations=2)


def test_lsuv_treats_convolutions_as_their_fan_in_by_filters_matrix():
    """Mishkin & Matas's networks are convolutional: each kernel, flattened to (filters,
    fan-in), starts with orthonormal rows, then its output (all locations) reaches unit
    variance."""
    torch.manual_seed(0)
    model = Sequential(
        [
            Conv2D(4, 3, activation="tanh", input_shape=(6, 6, 2)),
            Flatten(),
            Dense(3, activation="tanh"),
        ]
    ).double()
    variances = lsuv(model, torch.randn(32, 6, 6, 2, dtype=torch.float64), tolerance=0.01, seed=0)
    assert list(variances) == ["conv2d", "dense"]
    assert all(abs(v - 1.0) < 0.01 for v in variances.values())
    rows = model.layers[0].kernel.detach().reshape(4, -1).numpy()
    gram = rows @ rows.T  # orthonormal rows, then one scale
    np.testing.assert_allclose(gram, gram[0, 0] * np.eye(4), atol=1e-10)


def test_lsuv_refuses_bad_arguments():
    model = _tanh_network()
    with pytest.raises(ValueError, match=r"Invalid x.*a batch of 2 or more"):
        lsuv(model, torch.randn(1, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match="Invalid tolerance"):
        lsuv(model, torch.randn(4, 16, dtype=torch.float64), tolerance=0)
    with pytest.raises(ValueError, match="Invalid model"):
        lsuv(Sequential([Activation("tanh", input_shape=(3,))]), np.zeros((4, 3)))


@pytest.mark.parametrize("activation", ["tanh", "linear"])
def test_signal_propagation_matches_backpropagation_written_out(activation):
    torch.manual_seed(2)
    model = _tanh_network(depth=5, bias=0.1, activation=activation)
    x = torch.randn(20, 16, dtype=torch.float64)
    r = torch.randn(20, 16, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    variance, activation_grads, weight_grads = reference.signals(
        x.numpy(), _weights(model), _biases(model), activation, r.numpy()
    )
    found = signal_propagation(model, x, seed=7)
    assert found.names == [layer.name for layer in model.layers]
    np.testing.assert_allclose(found.activation_variance, variance, rtol=1e-10)
    np.testing.assert_allclose(found.activation_gradient_norm, activation_grads, rtol=1e-10)
    np.testing.assert_allclose(found.weight_gradient_norm, weight_grads, rtol=1e-10)
    assert all(p.grad is None for p in model.parameters())
