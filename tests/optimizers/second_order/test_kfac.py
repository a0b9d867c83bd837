"""K-FAC (Martens & Grosse 2015) against the natural gradient of an explicit Fisher matrix."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference import kfac as reference

from deepdescent import losses
from deepdescent.datasets import fashion_mnist
from deepdescent.layers import Dense
from deepdescent.layers.recording import recordable_layers
from deepdescent.models import Model, Sequential
from deepdescent.optimizers.second_order.kfac import KFAC
from deepdescent.training import Trainer
from deepdescent.utils import set_random_seed, to_categorical

FASHION = Path("/usr/share/datasets/fashion-mnist")
EXACT = {"momentum": 0.0, "kl_clip": None}


def make_layer(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    layer = Dense(2, input_shape=(3,)) if kind == "dense" else torch.nn.Linear(3, 2)
    return layer.double()


def torch_layout(layer: torch.nn.Module) -> np.ndarray:
    """W̃ = [W  b] (out × (in + 1)), row-major: the reference's parameter vector."""
    weight = layer.kernel.T if isinstance(layer, Dense) else layer.weight
    return torch.cat([weight, layer.bias[:, None]], 1).detach().numpy().ravel()


def kronecker_batch(layer: torch.nn.Module):
    """Inputs a_i (6 of them) crossed with residuals r_j (4): targets y = z(a_i) − r_j, so
    the per-sample gradients of the MSE are g = 2 r_j / k whatever the input, and the
    empirical Fisher is exactly G ⊗ A."""
    rng = np.random.default_rng(1)
    inputs, residuals = rng.normal(size=(6, 3)), rng.normal(size=(4, 2))
    a = np.repeat(inputs, len(residuals), axis=0)
    r = np.tile(residuals, (len(inputs), 1))
    with torch.no_grad():
        z = layer(torch.from_numpy(a)).numpy()
    return a, z - r, 2 * r / r.shape[1]


def kfac_step(layer, a, y, **options):
    optimizer = KFAC(layer.parameters(), **options)
    optimizer.prepare(recordable_layers(layer))
    x, target = torch.from_numpy(a), torch.from_numpy(y)

    def closure():
        optimizer.zero_grad()
        loss = F.mse_loss(layer(x), target)
        loss.backward()
        return loss

    optimizer.step(closure)
    return optimizer


@pytest.mark.parametrize("kind", ["dense", "linear"])
def test_step_is_the_natural_gradient_of_the_explicit_fisher(kind):
    """Where F = A ⊗ G holds exactly, the undamped K-FAC step is θ − η F⁻¹∇J (1e-8)."""
    layer = make_layer(kind)
    theta = torch_layout(layer)
    a, y, g = kronecker_batch(layer)
    fisher = reference.empirical_fisher(a, g)
    grad = reference.per_sample_gradients(a, g).mean(axis=0)
    expected = reference.natural_gradient_step(theta, fisher, grad, lr=0.5)
    kfac_step(layer, a, y, lr=0.5, damping=0.0, **EXACT)
    np.testing.assert_allclose(torch_layout(layer), expected, rtol=1e-8, atol=1e-10)
    assert not np.allclose(expected, theta - 0.5 * grad)  # not an SGD step in disguise


@pytest.mark.parametrize("kind", ["dense", "linear"])
def test_factored_tikhonov_damping_with_pi(kind):
    layer = make_layer(kind)
    theta = torch_layout(layer)
    a, y, g = kronecker_batch(layer)
    A, G = reference.factors(a, g)
    curvature = reference.factored_tikhonov(A, G, damping=0.3)
    grad = reference.per_sample_gradients(a, g).mean(axis=0)
    expected = reference.natural_gradient_step(theta, curvature, grad, lr=0.5)
    kfac_step(layer, a, y, lr=0.5, damping=0.3, **EXACT)
    np.testing.assert_allclose(torch_layout(layer), expected, rtol=1e-8, atol=1e-10)


def test_kl_clipping_scales_the_step_to_the_bound():
    layer = make_layer("linear")
    theta = torch_layout(layer)
    a, y, g = kronecker_batch(layer)
    grad = reference.per_sample_gradients(a, g).mean(axis=0)
    natural = np.linalg.solve(reference.empirical_fisher(a, g), grad)
    lr, kappa = 0.5, 1e-4
    nu = min(1.0, np.sqrt(kappa / (lr**2 * natural @ grad)))
    assert nu < 1
    kfac_step(layer, a, y, lr=lr, damping=0.0, momentum=0.0, kl_clip=kappa)
    np.testing.assert_allclose(torch_layout(layer), theta - lr * nu * natural, rtol=1e-8)


def test_factors_of_a_dense_stack_trained_through_fit():
    """fit folds the softmax into the cross-entropy and calls the last Dense's
    pre-activation directly: its factors must still be A = E[ã ãᵀ], G = N E[g gᵀ] with g
    the gradient at the logits, as autograd computes them here by hand."""
    torch.manual_seed(0)
    x, labels = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 3, (16,))
    y = F.one_hot(labels, 3).double()
    model = Sequential([Dense(4, "sigmoid", input_shape=(3,)), Dense(3, "softmax")]).double()
    first, last = model.layers
    k1, b1, k2, b2 = (p.detach().clone().requires_grad_() for p in model.parameters())
    z1 = x @ k1 + b1
    h1 = torch.sigmoid(z1)
    z2 = h1 @ k2 + b2
    g1, g2 = torch.autograd.grad(F.cross_entropy(z2, labels), [z1, z2])
    ones = torch.ones(16, 1, dtype=torch.float64)
    optimizer = KFAC(momentum=0.0, fisher="empirical")
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for layer, a, g in ((first, x, g1), (last, h1.detach(), g2)):
        a_tilde = torch.cat([a, ones], 1)
        state = optimizer.state[layer.kernel]
        torch.testing.assert_close(state["A"], a_tilde.T @ a_tilde / 16, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(state["G"], 16 * g.T @ g, rtol=1e-12, atol=1e-14)


def _sigmoid_curvature(z):
    s = torch.sigmoid(z)
    return torch.diag_embed(s * (1 - s)).mean(0) / z.shape[1]


def _softmax_curvature(z):
    p = torch.softmax(z, -1)
    return (torch.diag_embed(p) - p[:, :, None] * p[:, None, :]).mean(0)


SAMPLED = {
    "bernoulli": (losses.BinaryCrossentropy(from_logits=True), _sigmoid_curvature),
    "categorical": (losses.CategoricalCrossentropy(from_logits=True), _softmax_curvature),
    "gaussian": (losses.MeanSquaredError(), lambda z: 2 / z.shape[1] * torch.eye(z.shape[1])),
}


@pytest.mark.parametrize("family", list(SAMPLED))
def test_sampled_fisher_estimates_the_curvature_of_the_loss(family):
    """With targets drawn from the model, E[Ĝ] = E_n[∇²_z L_n], whatever the observed
    targets: checked on 4000 samples to 10% (the estimate's spread is about 2%)."""
    loss, curvature = SAMPLED[family]
    torch.manual_seed(0)
    x = torch.randn(4000, 3, dtype=torch.float64)
    y = F.one_hot(torch.randint(0, 4, (4000,)), 4).double()  # valid for every family
    model = Model(torch.nn.Linear(3, 4).double())
    with torch.no_grad():
        expected = curvature(model(x))
    optimizer = KFAC()
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(x, y, batch_size=4000, epochs=1, verbose=0)
    estimate = optimizer.state[model.module.weight]["G"]
    assert torch.linalg.norm(estimate - expected) < 0.1 * torch.linalg.norm(expected)


def test_sampling_needs_model_outputs_with_a_sampled_loss():
    layer = make_layer("linear")
    optimizer = KFAC(layer.parameters(), fisher="sampled")
    optimizer.prepare(recordable_layers(layer))
    x, y = _linear_batches(1)[0]
    before = layer.weight.detach().clone()

    def closure():
        optimizer.zero_grad()
        loss = F.mse_loss(layer(x), y)
        loss.backward()
        return loss

    with pytest.raises(ValueError, match="model_outputs"):
        optimizer.step(closure)
    torch.testing.assert_close(layer.weight.detach(), before, rtol=0, atol=0)


def _linear_batches(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        (
            torch.randn(8, 3, generator=generator, dtype=torch.float64),
            torch.randn(8, 2, generator=generator, dtype=torch.float64),
        )
        for _ in range(count)
    ]


def _train(optimizer, model, batches):
    for x, y in batches:

        def closure(x=x, y=y):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            return loss

        optimizer.step(closure)


def test_running_averages_and_the_inverse_schedule():
    layer = make_layer("linear")
    optimizer = KFAC(layer.parameters(), stat_decay=0.8, inverse_update_freq=2)
    optimizer.prepare(recordable_layers(layer))
    batches = _linear_batches(3)
    estimates = [torch.cat([x, torch.ones(8, 1, dtype=x.dtype)], 1) for x, _ in batches]
    estimates = [a.T @ a / 8 for a in estimates]
    _train(optimizer, layer, batches[:1])
    state = optimizer.state[layer.weight]
    inverse = state["A_inverse"].clone()
    _train(optimizer, layer, batches[1:2])
    torch.testing.assert_close(state["A"], 0.8 * estimates[0] + 0.2 * estimates[1])
    torch.testing.assert_close(state["A_inverse"], inverse, rtol=0, atol=0)  # not yet due
    _train(optimizer, layer, batches[2:])
    assert not torch.allclose(state["A_inverse"], inverse)


def test_factor_update_frequency_skips_recording():
    layer = make_layer("linear")
    optimizer = KFAC(layer.parameters(), factor_update_freq=2)
    optimizer.prepare(recordable_layers(layer))
    _train(optimizer, layer, _linear_batches(2))
    x = _linear_batches(1)[0][0]
    a = torch.cat([x, torch.ones(8, 1, dtype=x.dtype)], 1)
    torch.testing.assert_close(optimizer.state[layer.weight]["A"], a.T @ a / 8)


def test_parameters_outside_supported_layers_take_sgd_steps():
    """A free scale s (no Dense/Linear) follows torch.optim.SGD with the same gradients."""
    layer = make_layer("linear")
    scale = torch.nn.Parameter(torch.tensor(1.5, dtype=torch.float64))
    twin = torch.nn.Parameter(scale.detach().clone())
    optimizer = KFAC([*layer.parameters(), scale], lr=0.1, momentum=0.9)
    optimizer.prepare(recordable_layers(layer))
    reference_sgd = torch.optim.SGD([twin], lr=0.1, momentum=0.9)
    for x, y in _linear_batches(5):
        optimizer.zero_grad()
        F.mse_loss(scale * layer(x), y).backward()
        twin.grad = scale.grad.clone()
        optimizer.step()
        reference_sgd.step()
    torch.testing.assert_close(scale.detach(), twin.detach(), rtol=1e-14, atol=1e-14)
    assert set(optimizer.state[layer.weight]) >= {"A", "G", "A_inverse", "G_inverse"}


def _mlp(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)
    ).double()


def test_state_dict_round_trip_resumes_identically():
    options = {"lr": 0.05, "momentum": 0.9, "inverse_update_freq": 3, "factor_update_freq": 2}
    model = _mlp(0)
    optimizer = KFAC(model.parameters(), **options)
    optimizer.prepare(recordable_layers(model))
    batches = _linear_batches(10, seed=3)
    _train(optimizer, model, batches[:5])
    saved_state = copy.deepcopy(optimizer.state_dict())
    saved_weights = {k: v.clone() for k, v in model.state_dict().items()}
    _train(optimizer, model, batches[5:])
    twin = _mlp(1)
    twin.load_state_dict(saved_weights)
    resumed = KFAC(twin.parameters(), **options)
    resumed.prepare(recordable_layers(twin))
    resumed.load_state_dict(saved_state)
    _train(resumed, twin, batches[5:])
    for ours, theirs in zip(twin.parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_release_removes_the_taps_and_no_layer_method_is_replaced():
    layer = make_layer("dense")
    optimizer = KFAC(layer.parameters())
    optimizer.prepare(recordable_layers(layer))
    assert len(layer._pre_activation_hooks) == 1
    assert "call_pre_activation" not in vars(layer) and "call" not in vars(layer)
    optimizer.release()
    assert len(layer._pre_activation_hooks) == 0


def test_a_model_trained_by_fit_keeps_its_layer_methods_and_no_hooks():
    """After fit with K-FAC the model is the model it was: the layers' methods are the
    class's (nothing patched on the instances), no hook is left on any module, and its
    next fit with another optimizer may take the hand-written back-propagation."""
    torch.manual_seed(0)
    x, labels = torch.randn(32, 3), torch.randint(0, 3, (32,))
    model = Sequential([Dense(4, "sigmoid", input_shape=(3,)), Dense(3, "softmax")])
    model.compile(optimizer=KFAC(), loss="categorical_crossentropy")
    model.fit(x, F.one_hot(labels, 3).float(), batch_size=8, epochs=1, verbose=0)
    for layer in model.layers:
        assert not set(vars(layer)) & {"call", "call_pre_activation", "pre_activation"}
        assert not layer._pre_activation_hooks
        assert not layer._forward_hooks and not layer._forward_pre_hooks
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    assert Trainer(model).gradient_path.name == "manual"


def test_a_layer_whose_pass_was_not_recorded_is_an_error():
    layer = make_layer("linear")
    optimizer = KFAC(layer.parameters())
    optimizer.prepare(recordable_layers(layer))
    layer.weight.grad = torch.ones_like(layer.weight)
    with pytest.raises(RuntimeError, match="no statistics for layer"):
        optimizer.step()


def test_shared_hyperparameters_cannot_differ_between_groups():
    layer = make_layer("linear")
    with pytest.raises(ValueError, match="Invalid damping"):
        KFAC([{"params": [layer.weight]}, {"params": [layer.bias], "damping": 0.5}])


def test_config_round_trip():
    optimizer = KFAC(lr=0.05, fisher="empirical", kl_clip=None)
    config = optimizer.get_config()
    assert KFAC.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("momentum", 1.0),
        ("damping", -1e-3),
        ("stat_decay", 1.0),
        ("factor_update_freq", 0),
        ("inverse_update_freq", 0),
        ("kl_clip", 0.0),
        ("fisher", "true"),
        ("lr", -0.1),
        ("gradient_accumulation_steps", 2),
    ],
)
def test_invalid_hyperparameters_name_the_argument(argument, value):
    with pytest.raises(ValueError, match=f"Invalid {argument}"):
        KFAC(**{argument: value})


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_compile_by_name_trains_the_seed_network_on_fashion_mnist():
    """784-32-10 (sigmoid, softmax), 5000 images, 2 epochs: far above chance (10%)."""
    (x, y), (xt, yt) = fashion_mnist.load_data()
    set_random_seed(0)
    model = Sequential([Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, "softmax")])
    model.compile(optimizer="kfac", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x[:5000].reshape(5000, -1) / 255.0,
        to_categorical(y[:5000], 10),
        epochs=2,
        batch_size=128,
        verbose=0,
    )
    _, accuracy = model.evaluate(
        xt[:2000].reshape(2000, -1) / 255.0, to_categorical(yt[:2000], 10), verbose=0
    )
    assert accuracy > 0.7, f"test accuracy {accuracy:.3f} after 2 epochs"
