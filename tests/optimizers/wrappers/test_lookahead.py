"""Lookahead against a NumPy transcription of Zhang et al. (2019), Algorithm 1."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from optimizers._harness import BODIES_AND_FUSED, STEPS, assert_follows, chapter8_problems, iterates
from reference import chapter8
from reference import lookahead as paper

from deepdescent import callbacks, optimizers
from deepdescent.layers import Dense
from deepdescent.models import Sequential, load_model
from deepdescent.optimizers import SGD
from deepdescent.optimizers.wrappers.lookahead import Lookahead
from deepdescent.utils import set_random_seed, to_categorical


@pytest.mark.parametrize("impl", BODIES_AND_FUSED)
@pytest.mark.parametrize(("k", "alpha"), [(5, 0.5), (3, 0.8), (1, 0.3)])
@pytest.mark.parametrize(("f", "theta0", "lr"), chapter8_problems())
def test_algorithm_1_around_sgd(f, theta0, lr, k, alpha, impl):
    reference = paper.lookahead(theta0, lambda t: f(t)[1], paper.sgd(lr), k, alpha, STEPS)
    ours = iterates(
        f=f,
        theta0=theta0,
        make_optimizer=lambda p: Lookahead(SGD(p, lr=lr, **impl), k=k, alpha=alpha),
    )
    assert_follows(ours, reference)
    assert f(reference[-1])[0] < 0.75 * f(theta0)[0]


@pytest.mark.parametrize(("f", "theta0", "lr"), chapter8_problems())
def test_algorithm_1_around_torch_adam(f, theta0, lr):
    reference = paper.lookahead(theta0, lambda t: f(t)[1], paper.adam(0.01), 5, 0.5, STEPS)
    ours = iterates(
        f=f, theta0=theta0, make_optimizer=lambda p: Lookahead(torch.optim.Adam(p, lr=0.01))
    )
    assert_follows(ours, reference)


def test_k_counts_updates_not_accumulation_steps():
    f, theta0 = chapter8.ill_conditioned, np.linspace(-1.0, 1.2, 6)
    reference = paper.lookahead(theta0, lambda t: f(t)[1], paper.sgd(0.009), 4, 0.5, 30)

    def make(params):
        return Lookahead(SGD(params, lr=0.009, gradient_accumulation_steps=3), k=4)

    assert_follows(
        iterates(f=f, theta0=theta0, make_optimizer=make, steps=30, repeats=3), reference
    )


def _rosenbrock_closure(optimizer, x):
    def closure():
        optimizer.zero_grad()
        value = ((1 - x[:-1]) ** 2 + 10.0 * (x[1:] - x[:-1] ** 2) ** 2).sum()
        value.backward()
        return value

    return closure


def _steps(optimizer, x, n):
    for _ in range(n):
        optimizer.step(_rosenbrock_closure(optimizer, x))


BASES = [
    pytest.param(lambda p: SGD(p, lr=0.003, momentum=0.9), id="sgd-momentum"),
    pytest.param(lambda p: torch.optim.Adam(p, lr=0.01), id="torch-adam"),
]


@pytest.mark.parametrize("base", BASES)
def test_state_dict_round_trip_mid_cycle_continues_identically(base):
    x = torch.linspace(-1, 1, 10, dtype=torch.float64, requires_grad=True)
    optimizer = Lookahead(base([x]), k=5)
    _steps(optimizer, x, 7)  # two updates into the second cycle
    state = copy.deepcopy(optimizer.state_dict())
    assert state["iterations"] == 7 and "lookahead.slow_weights" in state["state"][0]
    twin = x.detach().clone().requires_grad_()
    _steps(optimizer, x, 9)
    resumed = Lookahead(base([twin]), k=5)
    resumed.load_state_dict(state)
    _steps(resumed, twin, 9)
    torch.testing.assert_close(twin, x, rtol=0, atol=0)
    slow = resumed.state[twin]["slow_weights"]
    assert slow.dtype == twin.dtype and "lookahead.slow_weights" not in resumed.base_optimizer.state
    assert all(not k.startswith("lookahead.") for k in resumed.base_optimizer.state[twin])


def test_idle_parameters_get_no_slow_weights_and_groups_keep_their_rates():
    moving, fixed, idle = (torch.ones(4, requires_grad=True) for _ in range(3))
    base = SGD([{"params": [moving]}, {"params": [fixed], "lr": 0.0}, {"params": [idle]}], lr=0.1)
    optimizer = Lookahead(base, k=2)
    for _ in range(5):
        optimizer.zero_grad()
        (moving**2 + fixed**2).sum().backward()
        optimizer.step()
    assert idle not in optimizer.state and moving in optimizer.state
    torch.testing.assert_close(fixed.detach(), torch.ones(4))
    torch.testing.assert_close(idle.detach(), torch.ones(4))
    assert optimizer.param_groups is base.param_groups


# -- the Keras door ----------------------------------------------------------------------


def _blobs(n=200, d=5, classes=3):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(classes, d))
    labels = rng.integers(0, classes, size=n)
    x = (centers[labels] + rng.normal(size=(n, d))).astype("float32")
    return x, to_categorical(labels, classes)


def _model(optimizer):
    set_random_seed(0)
    model = Sequential([Dense(8, activation="sigmoid", input_shape=(5,)), Dense(3, "softmax")])
    optimizer = optimizer(model) if callable(optimizer) else optimizer
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_an_unbound_spec_binds_through_compile_and_fit():
    spec = Lookahead(SGD(learning_rate=0.1), k=5, alpha=0.5)
    assert not spec.is_bound and spec.learning_rate == 0.1
    model = _model(spec)
    x, y = _blobs()
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert spec.is_bound and spec.base_optimizer.is_bound
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert spec.learning_rate == 0.1
    assert spec.iterations == 8 * 13


def test_the_inner_optimizers_polyak_average_is_swapped_in_when_fit_ends():
    spec = Lookahead(SGD(learning_rate=0.1, use_ema=True, ema_momentum=None), k=3)
    assert spec.use_ema
    model = _model(spec)
    x, y = _blobs(n=64)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    for param in model.parameters():
        torch.testing.assert_close(param.detach(), spec.base_optimizer.state[param]["ema"])


def test_wrapping_a_bound_torch_adam_through_fit():
    model = _model(lambda m: Lookahead(torch.optim.Adam(m.parameters(), lr=0.01)))
    x, y = _blobs()
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.optimizer.learning_rate == 0.01


def test_schedulers_set_the_inner_optimizers_learning_rate():
    spec = Lookahead("sgd")
    model = _model(spec)
    x, y = _blobs(n=32)
    scheduler = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[scheduler])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert spec.base_optimizer.learning_rate == pytest.approx(0.1 / 3)


def test_config_round_trip_and_model_file(tmp_path):
    spec = Lookahead(SGD(learning_rate=0.05, momentum=0.9), k=3, alpha=0.8)
    config = spec.get_config()
    assert config == {
        "base_optimizer": optimizers.serialize(spec.base_optimizer),
        "k": 3,
        "alpha": 0.8,
    }
    rebuilt = Lookahead.from_config(config)
    assert rebuilt.get_config() == config and not rebuilt.is_bound
    model = _model(spec)
    x, y = _blobs(n=64)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)  # 4 updates: mid-cycle
    model.save(tmp_path / "model.zip")
    loaded = load_model(tmp_path / "model.zip")
    assert isinstance(loaded.optimizer, Lookahead) and loaded.optimizer.iterations == 4
    for m in (model, loaded):
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "argument"),
    [
        ({"k": 0}, ValueError, "k"),
        ({"k": 2.5}, ValueError, "k"),
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": 1.5}, ValueError, "alpha"),
        ({"base_optimizer": 42}, TypeError, "base_optimizer"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, error, argument):
    with pytest.raises(error, match=f"Invalid {argument}"):
        Lookahead(**{"base_optimizer": SGD(), **kwargs})
