"""Auxiliary heads: the cost fit minimizes is L(y, f) + w·L(y, g(h)) (a hand-written
PyTorch loop of the same network takes the same SGD step), and the head is dropped at
inference (evaluate, validation, predict)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.layers import AuxiliaryHead, Dense
from deepdescent.models import Sequential, load_model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    labels = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5)
    return x, np.eye(3, dtype="float32")[labels]


def _model(weight=0.3):
    return Sequential(
        [
            Dense(6, activation="tanh", input_shape=(4,)),
            AuxiliaryHead(Dense(3, activation="softmax"), "categorical_crossentropy", weight),
            Dense(5, activation="tanh"),
            Dense(3, activation="softmax"),
        ]
    )


def _cross_entropy(y, logits):
    return -(y * torch.log_softmax(logits, dim=1)).sum(1).mean()


def _by_hand(weights, x, y, weight):
    """The cost written out in torch: the main output's and the head's cross-entropies."""
    w1, b1, wa, ba, w2, b2, w3, b3 = weights
    h = torch.tanh(x @ w1 + b1)
    main = _cross_entropy(y, torch.tanh(h @ w2 + b2) @ w3 + b3)
    return main + weight * _cross_entropy(y, h @ wa + ba), main


def test_fit_minimizes_the_main_loss_plus_the_weighted_head_loss():
    torch.manual_seed(0)
    model = _model(weight=0.5)
    model.compile(
        optimizer={"class_name": "SGD", "config": {"lr": 0.1}}, loss="categorical_crossentropy"
    )
    x, y = _data()
    weights = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    cost, _ = _by_hand(weights, torch.tensor(x), torch.tensor(y), 0.5)
    cost.backward()
    history = model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(cost.item(), rel=1e-5)
    for ours, theirs in zip(model.get_weights(), weights, strict=True):
        expected = (theirs - 0.1 * theirs.grad).detach().numpy()
        np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_the_head_is_dropped_at_inference():
    torch.manual_seed(1)
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, y = _data()
    weights = [torch.tensor(w) for w in model.get_weights()]
    _, main = _by_hand(weights, torch.tensor(x), torch.tensor(y), 0.3)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(main.item(), rel=1e-5)
    history = model.fit(x, y, epochs=1, batch_size=32, validation_data=(x, y), verbose=0)
    assert history.history["val_loss"][0] < history.history["loss"][0]  # no head term
    assert model.predict(x, verbose=0).shape == (32, 3)
    assert model.layers[1].auxiliary_loss(torch.tensor(y)) is None  # nothing kept


def test_a_model_with_a_head_saves_and_reloads(tmp_path):
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.save(tmp_path / "head.deepdescent")
    loaded = load_model(tmp_path / "head.deepdescent")
    head = loaded.layers[1]
    assert isinstance(head, AuxiliaryHead) and head.weight == 0.3
    x, _ = _data()
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_bad_heads_are_refused():
    with pytest.raises(ValueError, match=r"Invalid weight: 0 \(expected a number > 0\)"):
        AuxiliaryHead(Dense(2), "mse", weight=0)
    with pytest.raises(ValueError, match="Unknown loss"):
        AuxiliaryHead(Dense(2), "nope")
