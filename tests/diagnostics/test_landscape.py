"""Lines and planes through parameter space against closed forms and the ReLU invariance."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from diagnostics._problems import classification_batch, flat_parameters, tanh_net

from deepdescent.diagnostics import (
    filter_normalized_direction,
    linear_interpolation,
    loss_surface_2d,
    parameter_vector,
    trajectory_directions,
)
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.utils import set_random_seed

CE = torch.nn.CrossEntropyLoss()


def _cross_entropy_at(net, theta, x, y):
    torch.nn.utils.vector_to_parameters(theta, net.parameters())
    with torch.no_grad():
        return float(CE(net(x), y))


def test_the_line_is_exact_at_its_ends_and_restores_the_model():
    net = tanh_net()
    x, y = classification_batch()
    theta1 = flat_parameters(net)
    theta0 = flat_parameters(tanh_net(seed=9))
    line = linear_interpolation(net, theta0, theta1, CE, x, y)
    assert line.alphas[10] == 0.0 and line.alphas[30] == 1.0 and len(line.alphas) == 41
    probe = copy.deepcopy(net)
    assert line.losses[10] == _cross_entropy_at(probe, theta0, x, y)
    assert line.losses[30] == _cross_entropy_at(probe, theta1, x, y)
    torch.testing.assert_close(flat_parameters(net), theta1, rtol=0, atol=0)


def test_the_line_of_least_squares_is_the_parabola():
    """J(w) = mean((Xw + b − y)²) is quadratic in θ: along θ₀ + α(θ₁ − θ₀) it is
    mean((r₀ + α d)²) with r₀ the residuals at θ₀ and d the change of the predictions."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    model = torch.nn.Linear(3, 1).double()
    theta0, theta1 = rng.normal(size=4), rng.normal(size=4)
    alphas = np.linspace(-1.0, 2.0, 13)
    line = linear_interpolation(
        model, torch.tensor(theta0), torch.tensor(theta1), "mse", x, y, alphas=alphas
    )

    def predictions(theta):
        return x @ theta[:3, None] + theta[3]

    r0, d = predictions(theta0) - y, predictions(theta1) - predictions(theta0)
    parabola = [np.mean((r0 + a * d) ** 2) for a in alphas]
    np.testing.assert_allclose(line.losses, parabola, rtol=1e-12)


def _relu_net():
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ).double()


def _rescaled(net, c):
    """The same function: the ReLU layer (weights and biases) times c, the next layer's
    weights divided by c."""
    scaled = copy.deepcopy(net)
    with torch.no_grad():
        scaled[0].weight.mul_(c)
        scaled[0].bias.mul_(c)
        scaled[2].weight.div_(c)
    return scaled


def test_filter_normalized_slices_are_invariant_to_rescaling_a_relu_layer():
    net = _relu_net()
    scaled = _rescaled(net, 7.0)
    x, y = classification_batch()
    torch.testing.assert_close(scaled(x), net(x))
    options = {"extent": (-0.5, 0.5, -0.5, 0.5), "resolution": 5}
    original = loss_surface_2d(net, CE, x, y, **options)
    rescaled = loss_surface_2d(scaled, CE, x, y, **options)
    np.testing.assert_allclose(rescaled.losses, original.losses, rtol=1e-10)
    raw = loss_surface_2d(net, CE, x, y, normalization=None, **options)
    raw_scaled = loss_surface_2d(scaled, CE, x, y, normalization=None, **options)
    assert np.abs(raw_scaled.losses - raw.losses).max() > 1e-2  # raw directions are not


@pytest.mark.parametrize("layout", ["torch", "keras"])
def test_filters_are_output_units_in_either_layout(layout):
    set_random_seed(0)
    if layout == "torch":
        model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        weight, axis = model[0].weight, 1  # (out, in): a filter is a row
    else:
        model = Sequential([Dense(4, activation="relu", input_shape=(5,)), Dense(2)])
        weight, axis = model.layers[0].kernel, 0  # (in, out): a filter is a column
    direction = filter_normalized_direction(model, seed=1)
    part = direction[: weight.numel()].reshape(weight.shape)
    torch.testing.assert_close(part.norm(dim=axis), weight.detach().norm(dim=axis))
    bias = direction[weight.numel() : weight.numel() + 4]
    assert float(bias.abs().sum()) == 0.0  # biases are not perturbed
    layer = filter_normalized_direction(model, seed=1, normalization="layer")
    assert float(layer[: weight.numel()].norm()) == pytest.approx(float(weight.detach().norm()))


def test_the_surface_is_the_cost_on_the_plane():
    net = tanh_net()
    x, y = classification_batch()
    center = flat_parameters(net)
    plane = torch.randn(
        2, len(center), dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    surface = loss_surface_2d(net, CE, x, y, directions=plane, extent=(-1, 1, -2, 2), resolution=5)
    probe = copy.deepcopy(net)
    for i, beta in enumerate(surface.betas):
        for j, alpha in enumerate(surface.alphas):
            point = center + alpha * plane[0] + beta * plane[1]
            assert surface.losses[i, j] == pytest.approx(
                _cross_entropy_at(probe, point, x, y), rel=1e-12
            )
    assert surface.losses[2, 2] == _cross_entropy_at(probe, center, x, y)
    torch.testing.assert_close(parameter_vector(net), center, rtol=0, atol=0)


def test_a_path_in_a_plane_is_recovered_by_its_principal_directions():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.normal(size=(50, 2)))
    t = np.linspace(0.0, 1.0, 12)
    a, b = 3.0 * np.cos(3 * t), 0.5 * np.sin(5 * t)
    end = rng.normal(size=50)
    path = end + np.outer(a - a[-1], basis[:, 0]) + np.outer(b - b[-1], basis[:, 1])
    projection = trajectory_directions(path)
    directions = projection.directions.numpy()
    in_plane = directions @ basis  # each direction lies in the plane: unit norm there
    np.testing.assert_allclose(np.linalg.norm(in_plane, axis=1), [1.0, 1.0], atol=1e-10)
    assert abs(in_plane[0, 0]) > 0.95  # the first is (nearly) the axis a varies along
    assert projection.explained_variance_ratio.sum() == pytest.approx(1.0)
    reconstructed = end + projection.coordinates @ directions
    np.testing.assert_allclose(reconstructed, path, atol=1e-10)
    np.testing.assert_allclose(projection.coordinates[-1], [0.0, 0.0], atol=1e-12)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"directions": torch.zeros(3, 5)}, "Invalid directions: 'shape .3, 5.'"),
        ({"extent": (1, -1, 0, 1)}, "Invalid extent"),
        ({"normalization": "unit"}, "Invalid normalization: 'unit'"),
        ({"resolution": 1}, "Invalid resolution: 1"),
    ],
)
def test_bad_surface_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        loss_surface_2d(tanh_net(), CE, *classification_batch(), **arguments)


def test_bad_line_and_path_arguments():
    net = tanh_net()
    x, y = classification_batch()
    theta = flat_parameters(net)
    with pytest.raises(ValueError, match="Invalid theta1"):
        linear_interpolation(net, theta, theta[:-1], CE, x, y)
    with pytest.raises(ValueError, match="Invalid alphas"):
        linear_interpolation(net, theta, theta, CE, x, y, alphas=[0.0, np.nan])
    with pytest.raises(ValueError, match=r"Invalid trajectory: 'shape \(2, 5\)'"):
        trajectory_directions(np.zeros((2, 5)))
