"""Mixed precision in fit: weights and optimizer state in float32, the forward pass in
half precision, float16's loss scaling (an overflowing step skipped, the scale halved),
and training that follows float32's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepdescent as keras
from deepdescent import config, layers, mixed_precision
from deepdescent.models import Sequential

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 6)).astype("float32")
Y = (X[:, :1] - X[:, 1:2] > 0).astype("float32")


def _model(dtype=None, seed=0, hidden="tanh"):
    torch.manual_seed(seed)
    model = (
        Sequential(
            [
                layers.Input(shape=(6,)),
                layers.Dense(8, activation=hidden),
                layers.Dense(1, activation="sigmoid"),
            ],
        )
        if dtype is None
        else _with_policy(dtype, seed, hidden)
    )
    return model


def _with_policy(policy, seed, hidden="tanh"):
    try:
        config.set_dtype_policy(policy)
        return _model(seed=seed, hidden=hidden)
    finally:
        config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_weights_and_state_stay_float32_and_the_forward_pass_is_half(policy):
    model = _model(policy)
    assert model.dtype_policy.name == policy
    model.compile(optimizer="adam", loss="binary_crossentropy")
    seen = []
    model.layers[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    half = torch.bfloat16 if policy == "mixed_bfloat16" else torch.float16
    # Four training batches in half precision (fit's first look at the data is float32).
    assert seen.count(half) == 4
    assert all(p.dtype == torch.float32 for p in model.parameters())
    states = [s for s in model.optimizer.state.values()]
    assert all(
        v.dtype == torch.float32
        for s in states
        for v in s.values()
        if torch.is_tensor(v) and v.is_floating_point()
    )


def test_mixed_training_follows_float32_training():
    results = {}
    for policy in ("float32", "mixed_bfloat16"):
        model = _model(policy if policy != "float32" else None)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
        results[policy] = model.fit(X, Y, epochs=5, batch_size=16, verbose=0, shuffle=False)
    full, mixed = results["float32"].history["loss"], results["mixed_bfloat16"].history["loss"]
    assert mixed[-1] < mixed[0]
    np.testing.assert_allclose(mixed, full, rtol=0.05)


def test_float16_loss_scaling_skips_an_overflowing_step_and_halves_the_scale():
    from deepdescent.training.precision import MixedPrecision

    model = _model("mixed_float16")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.build((None, 6))
    with torch.no_grad():
        model.layers[0].kernel.fill_(1e6)  # float16 overflows in the forward pass
    from deepdescent.training.gradient_path import make_objective

    model.optimizer.bind(list(model.parameters()))
    precision = MixedPrecision(model.dtype_policy, model.device)
    before = [p.detach().clone() for p in model.parameters()]
    scale = precision.scale
    precision.step(
        model,
        make_objective(model),
        model.optimizer,
        torch.from_numpy(X),
        torch.from_numpy(Y),
        None,
    )
    assert precision.scale == scale / 2
    for old, new in zip(before, model.parameters(), strict=True):
        assert torch.equal(old, new.detach())


def test_bfloat16_needs_no_scaling_and_keras_names_work():
    from deepdescent.training.precision import MixedPrecision

    precision = MixedPrecision(config.DTypePolicy("mixed_bfloat16"), torch.device("cpu"))
    assert precision.scale == 1.0
    try:
        mixed_precision.set_global_policy("mixed_float16")
        assert mixed_precision.global_policy().compute_dtype == "float16"
        assert mixed_precision.global_policy().variable_dtype == "float32"
    finally:
        mixed_precision.set_global_policy("float32")
    assert layers.Dense(2, dtype="mixed_bfloat16").dtype_policy.name == "mixed_bfloat16"


def test_closure_methods_are_refused_under_mixed_precision():
    model = _model("mixed_bfloat16")
    model.compile(optimizer="lbfgs", loss="binary_crossentropy")
    with pytest.raises(ValueError, match="first-order"):
        model.fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="policy"):
        config.set_dtype_policy("mixed_int8")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_non_finite_loss_is_skipped_under_mixed_precision_as_without_its_batch(policy):
    """The non-finite guard runs inside the mixed-precision step: a batch whose loss
    overflows is never applied (and does not move float16's loss scale), so the run ends
    where the run without that batch ends, bit for bit."""
    poisoned = X.copy()
    poisoned[16:32] = 3e38
    keep = np.r_[0:16, 32:64]
    runs = {}
    for name, (x, y) in {"poisoned": (poisoned, Y), "without": (X[keep], Y[keep])}.items():
        model = _with_policy(policy, seed=0, hidden="linear")  # no tanh to saturate
        model.compile(optimizer="adam", loss="binary_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
        runs[name] = model, history.history
    (skipping, history), (reference, expected) = runs["poisoned"], runs["without"]
    assert history["skipped_steps"] == [1.0, 1.0]
    for a, b in zip(skipping.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)
    assert history["loss"] == expected["loss"]
    scale = skipping.trainer.state_dict()["loss_scaler"]
    assert scale == reference.trainer.state_dict()["loss_scaler"]
    assert (policy == "mixed_float16") == bool(scale)
