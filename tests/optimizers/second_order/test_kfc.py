"""KFC (Grosse & Martens 2016) in K-FAC: the patches against the layers' own convolutions
and F.unfold, the factors against a loop over the output locations (tests/reference/kfc.py),
the step against the exact inverse of the Kronecker product, the layouts against each
other, and a small CNN trained through fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference import kfc as reference

from deepdescent.layers import Conv1D, Conv2D, Conv3D, Dense, Flatten, MaxPooling2D
from deepdescent.layers.recording import recordable_layers
from deepdescent.models import Sequential
from deepdescent.optimizers.second_order import kfc
from deepdescent.optimizers.second_order.kfac import KFAC
from deepdescent.optimizers.second_order.layer_taps import tap_layers

FIXED = {"adaptive": False, "momentum": 0.0, "fisher": "empirical"}

# (layer, input shape of one example): every padding rule, stride and dilation the
# recorders translate, in 1, 2 and 3 dimensions, both channel layouts, both front ends.
GEOMETRIES = {
    "keras_2d_same": (lambda: Conv2D(4, 3, padding="same", input_shape=(7, 6, 3)), (7, 6, 3)),
    "keras_2d_same_strided_odd_pad": (
        lambda: Conv2D(4, (2, 3), strides=2, padding="same", input_shape=(7, 6, 3)),
        (7, 6, 3),
    ),
    "keras_2d_dilated": (lambda: Conv2D(4, 3, dilation_rate=2, input_shape=(9, 8, 3)), (9, 8, 3)),
    "keras_2d_channels_first": (
        lambda: Conv2D(4, 3, padding="same", data_format="channels_first", input_shape=(3, 7, 6)),
        (3, 7, 6),
    ),
    "keras_1d_causal_dilated": (
        lambda: Conv1D(4, 3, padding="causal", dilation_rate=2, input_shape=(10, 3)),
        (10, 3),
    ),
    "keras_3d_strided": (
        lambda: Conv3D(2, 2, strides=(1, 2, 1), input_shape=(4, 5, 3, 2)),
        (4, 5, 3, 2),
    ),
    "torch_2d_reflect_same": (
        lambda: torch.nn.Conv2d(3, 4, 3, padding="same", padding_mode="reflect"),
        (3, 7, 6),
    ),
    "torch_2d_even_kernel_same_dilated": (
        lambda: torch.nn.Conv2d(3, 4, 4, padding="same", dilation=2),
        (3, 9, 8),
    ),
    "torch_1d_circular_strided": (
        lambda: torch.nn.Conv1d(3, 4, 3, stride=2, padding=1, padding_mode="circular"),
        (3, 9),
    ),
    "torch_3d_padded": (lambda: torch.nn.Conv3d(3, 4, 2, padding=1), (3, 4, 3, 3)),
}


def _pre_activation(layer, x):
    return layer.call_pre_activation(x) if hasattr(layer, "call_pre_activation") else layer(x)


@pytest.mark.parametrize("case", GEOMETRIES)
def test_expanded_activations_times_the_kernel_give_the_layers_output(case):
    """⟦A⟧ W̄ᵀ + b (G&M's expanded activations) equals the convolution torch's kernel
    computes, location by location: the patches, their column order and the padding are
    the layer's."""
    torch.manual_seed(0)
    make, shape = GEOMETRIES[case]
    layer = make().double()
    (record,) = recordable_layers(layer)
    x = torch.randn(2, *shape, dtype=torch.float64)
    patches = kfc.expanded_activations(x, record.convolution)
    flat = record.weight.reshape(len(record.weight), -1)
    expected = kfc.location_rows(_pre_activation(layer, x), record.convolution)
    torch.testing.assert_close(patches @ flat.T + record.bias, expected.detach())


def test_expanded_activations_are_f_unfold_in_2d():
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(3, 2, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))
    (record,) = recordable_layers(layer)
    x = torch.randn(2, 3, 7, 6)
    unfolded = F.unfold(x, (3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))
    patches = kfc.expanded_activations(x, record.convolution)
    torch.testing.assert_close(patches, unfolded.transpose(1, 2), rtol=0, atol=0)


# (layer, example shape channels-last, pads of the reference, stride, dilation)
FACTOR_CASES = {
    "keras_same_strided_odd_pad": (
        lambda: Conv2D(3, (3, 2), strides=2, padding="same", input_shape=(5, 5, 2)),
        (5, 5, 2),
        ((1, 1), (0, 1)),  # TensorFlow's "same": the odd extra position at the end
        (2, 2),
        (1, 1),
    ),
    "keras_dilated_valid": (
        lambda: Conv2D(3, 2, dilation_rate=2, input_shape=(6, 6, 2)),
        (6, 6, 2),
        ((0, 0), (0, 0)),
        (1, 1),
        (2, 2),
    ),
    "torch_padded": (
        lambda: torch.nn.Conv2d(2, 3, 3, padding=1),
        (5, 4, 2),
        ((1, 1), (1, 1)),
        (1, 1),
        (1, 1),
    ),
}


def _channels_first(layer):
    return isinstance(layer, torch.nn.Conv2d) or getattr(layer, "data_format", "") == (
        "channels_first"
    )


def _one_step(layer, x, y, **options):
    """One K-FAC step on the mean squared error of the layer's output; the optimizer."""
    optimizer = KFAC(layer.parameters(), **{**FIXED, **options})
    optimizer.prepare(recordable_layers(layer))

    def closure():
        optimizer.zero_grad()
        loss = F.mse_loss(_pre_activation(layer, x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return optimizer


@pytest.mark.parametrize("case", FACTOR_CASES)
def test_factors_are_omega_and_gamma_of_a_loop_over_locations(case):
    """A = Ω = E[Σ_t ⟦ã⟧_t⟦ã⟧_tᵀ] and G = Γ = (1/|T|) E[Σ_t Ds_t Ds_tᵀ] (G&M §3, Theorem 1), with
    Ds the derivatives of each example's own loss: for ℓₙ the mean of (z − y)² over the
    example's |T| locations and k outputs, Ds = 2 (z − y) / (|T| k)."""
    make, shape, pads, stride, dilation = FACTOR_CASES[case]
    torch.manual_seed(0)
    layer = make().double()
    x = torch.randn(4, *shape, dtype=torch.float64)
    if _channels_first(layer):
        x = x.movedim(-1, 1)
    with torch.no_grad():
        z = _pre_activation(layer, x)
    y = torch.randn_like(z)
    optimizer = _one_step(layer, x, y, damping=1e-3)
    (record,) = recordable_layers(layer)
    residual = (z - y).movedim(1, -1) if _channels_first(layer) else z - y
    residual = residual.reshape(len(z), -1, residual.shape[-1]).numpy()
    derivatives = 2 * residual / (residual.shape[1] * residual.shape[2])
    x_last = (x.movedim(1, -1) if _channels_first(layer) else x).numpy()
    patches = reference.patches2d(x_last, layer.kernel_size, stride, dilation, pads)
    state = optimizer.state[record.weight]
    np.testing.assert_allclose(state["A"].numpy(), reference.omega(patches), rtol=1e-12)
    np.testing.assert_allclose(state["G"].numpy(), reference.gamma(derivatives), rtol=1e-12)


def test_running_factors_move_towards_omega_and_gamma_in_place():
    """A ← (1 − w) A + w Ω and G ← (1 − w) G + w Γ on the factors' own storage, Ω and Γ of
    the pass's patches and derivatives (g = Ds / N: the pass's loss is the examples' mean)."""
    rng = np.random.default_rng(3)
    patches, derivatives = rng.normal(size=(5, 3, 4)), rng.normal(size=(5, 3, 2))
    start = [m @ m.T for m in (rng.normal(size=(5, 5)), rng.normal(size=(2, 2)))]
    factors = tuple(torch.from_numpy(m.copy()) for m in start)
    storage = [f.data_ptr() for f in factors]
    homogeneous = torch.from_numpy(np.concatenate([patches, np.ones((5, 3, 1))], axis=2))
    kfc.average_kronecker_factors(factors, homogeneous, torch.from_numpy(derivatives / 5), 0.3)
    expected = [0.7 * start[0] + 0.3 * reference.omega(patches)]
    expected.append(0.7 * start[1] + 0.3 * reference.gamma(derivatives))
    for factor, want in zip(factors, expected, strict=True):
        np.testing.assert_allclose(factor.numpy(), want, rtol=1e-12)
    assert [f.data_ptr() for f in factors] == storage


def test_factors_of_a_convolution_trained_through_fit():
    """Through fit (channels-last batches, the softmax folded into the cross-entropy): the
    convolution's A and G are Ω and Γ of the batch, Ds from each example's own loss."""
    torch.manual_seed(0)
    x = torch.randn(8, 5, 5, 2, dtype=torch.float64)
    labels = torch.arange(8) % 3
    model = Sequential(
        [Conv2D(3, 3, padding="same", input_shape=(5, 5, 2)), Flatten(), Dense(3, "softmax")]
    ).double()
    conv, dense = model.layers[0], model.layers[2]
    z = conv(x).detach().requires_grad_()
    per_example = F.cross_entropy(
        z.flatten(1) @ dense.kernel + dense.bias, labels, reduction="none"
    )
    (derivatives,) = torch.autograd.grad(per_example.sum(), z)  # row n: ∂ℓₙ/∂zₙ
    optimizer = KFAC(adaptive=False, fisher="empirical", lr=1e-3)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x, labels, batch_size=8, epochs=1, verbose=0)
    patches = reference.patches2d(x.numpy(), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    state = optimizer.state[conv.kernel]
    np.testing.assert_allclose(state["A"].numpy(), reference.omega(patches), rtol=1e-10)
    expected_g = reference.gamma(derivatives.reshape(8, 25, 3).detach().numpy())
    np.testing.assert_allclose(state["G"].numpy(), expected_g, rtol=1e-10)


def test_a_1x1_convolution_on_a_1x1_input_is_dense_kfac():
    """One location and a 1×1 kernel: the factors and the step are dense K-FAC's exactly."""
    torch.manual_seed(0)
    conv = Conv2D(2, 1, input_shape=(1, 1, 3)).double()
    dense = Dense(2, input_shape=(3,)).double()
    with torch.no_grad():
        dense.kernel.copy_(conv.kernel.reshape(2, 3).T)
        dense.bias.copy_(torch.tensor([0.3, -0.2]))
        conv.bias.copy_(dense.bias)
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    conv_kfac = _one_step(conv, x[:, None, None, :], y[:, None, None, :], lr=0.5, damping=0.1)
    dense_kfac = _one_step(dense, x, y, lr=0.5, damping=0.1)
    for key in ("A", "G"):
        torch.testing.assert_close(
            conv_kfac.state[conv.kernel][key], dense_kfac.state[dense.kernel][key]
        )
    torch.testing.assert_close(conv.kernel.reshape(2, 3).T, dense.kernel)
    torch.testing.assert_close(conv.bias, dense.bias)


LAYOUTS = {
    "keras_channels_last": lambda: Conv2D(3, 2, input_shape=(5, 5, 2)),
    "keras_channels_first": lambda: Conv2D(
        3, 2, data_format="channels_first", input_shape=(2, 5, 5)
    ),
    "torch": lambda: torch.nn.Conv2d(2, 3, 2),
}


def _twins(x_last):
    """The three layouts of one convolution with the same kernel, and their inputs."""
    torch.manual_seed(1)
    layers = {name: make().double() for name, make in LAYOUTS.items()}
    first = layers["torch"]
    for layer in layers.values():
        record = recordable_layers(layer)[0]
        with torch.no_grad():
            record.weight.copy_(first.weight)
            record.bias.copy_(first.bias)
    inputs = {
        name: x_last if name == "keras_channels_last" else x_last.movedim(-1, 1) for name in layers
    }
    return layers, inputs


@pytest.mark.parametrize("layout", LAYOUTS)
def test_undamped_step_is_the_exact_kronecker_inverse_applied(layout):
    """One example, no damping: the step is θ − η unvec((Γ ⊗ Ω)⁻¹ vec ∇W̄), the system
    solved whole. (One example at 16 locations: at a single location Ω = ããᵀ has rank
    one and no inverse without damping.)"""
    x_last = torch.randn(1, 5, 5, 2, dtype=torch.float64)
    layers, inputs = _twins(x_last)
    layer, x = layers[layout], inputs[layout]
    (record,) = recordable_layers(layer)
    with torch.no_grad():
        z = _pre_activation(layer, x)
    y = torch.randn_like(z)
    loss = F.mse_loss(_pre_activation(layer, x), y)
    weight_grad, bias_grad = torch.autograd.grad(loss, [record.weight, record.bias])
    gradient = torch.cat([weight_grad.reshape(3, -1), bias_grad[:, None]], 1)
    residual = (z - y).movedim(1, -1) if _channels_first(layer) else z - y
    residual = residual.reshape(1, -1, 3).numpy()
    patches = reference.patches2d(x_last.numpy(), (2, 2), (1, 1), (1, 1), ((0, 0), (0, 0)))
    omega = torch.from_numpy(reference.omega(patches))
    gamma = torch.from_numpy(reference.gamma(2 * residual / residual[0].size))
    step = torch.linalg.solve(torch.kron(gamma, omega), gradient.reshape(-1)).reshape(3, -1)
    expected_weight = record.weight.detach() - 0.5 * step[:, :-1].reshape(record.weight.shape)
    expected_bias = record.bias.detach() - 0.5 * step[:, -1]
    _one_step(layer, x, y, lr=0.5, damping=0.0)
    torch.testing.assert_close(record.weight.detach(), expected_weight, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(record.bias.detach(), expected_bias, rtol=1e-9, atol=1e-12)


def test_keras_and_torch_layouts_take_the_same_steps():
    """Channels-last, channels-first and torch.nn.Conv2d twins, damped, with momentum,
    over three minibatches: the same kernels after every step."""
    torch.manual_seed(2)
    batches = [torch.randn(4, 5, 5, 2, dtype=torch.float64) for _ in range(3)]
    layers, _ = _twins(batches[0])
    targets = [torch.randn(4, 4, 4, 3, dtype=torch.float64) for _ in batches]
    optimizers = {}
    for name, layer in layers.items():
        optimizers[name] = KFAC(layer.parameters(), adaptive=False, lr=0.3, damping=1e-2)
        optimizers[name].prepare(recordable_layers(layer))
    for x_last, y_last in zip(batches, targets, strict=True):
        for name, layer in layers.items():
            channels_first = _channels_first(layer)
            x = x_last.movedim(-1, 1) if channels_first else x_last
            y = y_last.movedim(-1, 1) if channels_first else y_last
            optimizers[name].zero_grad()
            F.mse_loss(_pre_activation(layer, x), y).backward()
            optimizers[name].step()
        kernels = [recordable_layers(layer)[0].weight for layer in layers.values()]
        for kernel in kernels[1:]:
            torch.testing.assert_close(kernel, kernels[0], rtol=1e-10, atol=1e-12)
    assert not torch.allclose(kernels[0], torch.zeros_like(kernels[0]))


@pytest.mark.parametrize("make", [GEOMETRIES["keras_2d_same"][0], lambda: torch.nn.Conv1d(3, 2, 3)])
def test_squared_gradient_sums_of_a_convolution_are_per_example_gradients_squared(make):
    """Hessian-free's diagonal (1/N) Σₙ (∇ℓₙ)² for a convolution, against each example's
    gradient from its own backward pass."""
    torch.manual_seed(0)
    layer = make().double()
    (record,) = recordable_layers(layer)
    shape = (7, 6, 3) if isinstance(layer, Conv2D) else (3, 8)
    x = torch.randn(5, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = torch.randn_like(_pre_activation(layer, x))
    (tap,) = tap_layers([record], [record.weight, record.bias], lambda: True)
    F.mse_loss(_pre_activation(layer, x), y).backward()
    sums = tap.squared_gradient_sums()
    tap.detach()
    expected = [torch.zeros_like(record.weight), torch.zeros_like(record.bias)]
    for n in range(len(x)):
        loss = F.mse_loss(_pre_activation(layer, x[n : n + 1]), y[n : n + 1])
        grads = torch.autograd.grad(loss, [record.weight, record.bias])
        for total, grad in zip(expected, grads, strict=True):
            total += grad * grad / len(x)
    torch.testing.assert_close(sums[record.weight], expected[0], rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(sums[record.bias], expected[1], rtol=1e-10, atol=1e-14)


def test_grouped_convolutions_keep_the_first_order_fallback_and_say_so_once():
    model = Sequential([Conv2D(4, 3, groups=2, input_shape=(6, 6, 2)), Flatten(), Dense(2)])
    optimizer = KFAC(model.parameters(), adaptive=False)
    with pytest.warns(RuntimeWarning, match=r"2 parameter\(s\) are in no layer") as caught:
        optimizer.prepare(recordable_layers(model))
    assert len(caught) == 1


def test_a_small_cnn_trains_with_kfac_through_fit():
    """Two convolutions and a Dense head through compile/fit (sampled Fisher, adaptive
    step): no parameter falls back to gradient steps, the convolutions carry KFC
    factors, and the loss falls."""
    torch.manual_seed(0)
    x = torch.rand(192, 8, 8, 1)
    labels = (x[:, :4].mean((1, 2, 3)) > x[:, 4:].mean((1, 2, 3))).long()
    model = Sequential(
        [
            Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
            MaxPooling2D(),
            Conv2D(6, 2, activation="relu"),
            Flatten(),
            Dense(2, activation="softmax"),
        ]
    )
    optimizer = KFAC(curvature_fraction=1.0)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        history = model.fit(x, labels, batch_size=64, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    first, second = model.layers[0], model.layers[2]
    assert optimizer.state[first.kernel]["A"].shape == (1 * 9 + 1, 1 * 9 + 1)
    assert optimizer.state[second.kernel]["G"].shape == (6, 6)
