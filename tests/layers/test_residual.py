"""Residual(block): x + F(x) against the formula written out, inside Sequential, its
gradient path, saving, and its error for a block that changes the shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.layers import Dense, Residual
from deepdescent.models import Sequential, load_model


def _model():
    return Sequential(
        [
            Dense(4, input_shape=(3,)),
            Residual([Dense(6, activation="tanh"), Dense(4)], activation="relu"),
            Residual(Dense(4, activation="sigmoid")),
            Dense(2),
        ]
    )


def _numpy_forward(weights, x):
    """The same network written out: relu(h + W₃ tanh(W₂h + b₂) + b₃), then
    h + σ(W₄h + b₄), with h = W₁x + b₁."""
    w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = weights
    h = x @ w1 + b1
    h = np.maximum(h + np.tanh(h @ w2 + b2) @ w3 + b3, 0.0)
    h = h + 1.0 / (1.0 + np.exp(-(h @ w4 + b4)))
    return h @ w5 + b5


def test_residual_adds_the_block_to_its_input():
    torch.manual_seed(0)
    model = _model()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(
        model.predict(x, verbose=0), _numpy_forward(model.get_weights(), x), rtol=1e-5
    )
    names = [name for name, _ in model.named_parameters()]
    assert "residual.inner.0.kernel" in names and "residual_1.inner.0.bias" in names


def test_a_model_with_residual_blocks_saves_and_trains(tmp_path):
    torch.manual_seed(1)
    model = _model()
    model.compile(optimizer={"class_name": "Adam", "config": {"lr": 0.01}}, loss="mse")
    x = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    y = np.stack([x.sum(1), x[:, 0] * x[:, 1]], axis=1)
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    model.save(tmp_path / "residual.deepdescent")
    loaded = load_model(tmp_path / "residual.deepdescent")
    assert isinstance(loaded.layers[1], Residual)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_a_block_that_changes_the_shape_is_refused():
    with pytest.raises(ValueError, match=r"Invalid block: its output shape \(None, 5\) differs"):
        Sequential([Dense(4, input_shape=(3,)), Residual(Dense(5))])
    with pytest.raises(ValueError, match="Invalid block"):
        Residual([])
    with pytest.raises(TypeError, match="Invalid block: Linear"):
        Residual(torch.nn.Linear(3, 3))
