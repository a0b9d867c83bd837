"""Models of several outputs: J = Σₖ wₖ Lₖ(yₖ, ŷₖ) against the losses computed by hand on
the predictions, Keras's log names, losses left out, and the compile config saved."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepdescent as keras
from deepdescent import layers, losses, metrics
from deepdescent.models import load_model

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 4)).astype("float32")
SCORE = RNG.normal(size=(20, 1)).astype("float32")
CLASSES = np.eye(3, dtype="float32")[RNG.integers(0, 3, 20)]


def _model():
    torch.manual_seed(0)
    inputs = keras.Input(shape=(4,))
    hidden = layers.Dense(5, activation="relu")(inputs)
    score = layers.Dense(1, name="score")(hidden)
    label = layers.Dense(3, activation="softmax", name="label")(hidden)
    return keras.Model(inputs, [score, label])


def _by_hand(model, weights=(1.0, 1.0)):
    score, label = model.predict(X, verbose=0)
    mse = float(np.mean((score - SCORE) ** 2))
    cce = float(np.mean(-np.sum(CLASSES * np.log(np.clip(label, 1e-7, 1 - 1e-7)), axis=1)))
    return weights[0] * mse + weights[1] * cce, mse, cce


@pytest.mark.parametrize(
    ("loss", "loss_weights", "weights"),
    [
        (["mse", "categorical_crossentropy"], None, (1.0, 1.0)),
        (
            {"score": losses.MeanSquaredError(), "label": "categorical_crossentropy"},
            {"score": 2.0, "label": 0.5},
            (2.0, 0.5),
        ),
        ("mse", None, None),
    ],
    ids=["list", "dict-weighted", "one-for-all"],
)
def test_the_cost_is_the_weighted_sum_of_the_outputs_losses(loss, loss_weights, weights):
    model = _model()
    model.compile(optimizer="sgd", loss=loss, loss_weights=loss_weights)
    logs = model.evaluate(X, [SCORE, CLASSES], batch_size=20, verbose=0, return_dict=True)
    if weights is None:  # one loss for every output: MSE on both
        score, label = model.predict(X, verbose=0)
        expected = np.mean((score - SCORE) ** 2) + np.mean((label - CLASSES) ** 2)
    else:
        expected, mse, cce = _by_hand(model, weights)
        assert logs["score_loss"] == pytest.approx(mse, rel=1e-5)
        assert logs["label_loss"] == pytest.approx(cce, rel=1e-5)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)


def test_per_output_metrics_have_keras_names():
    model = _model()
    model.compile(
        optimizer="sgd",
        loss=["mse", "categorical_crossentropy"],
        metrics={"score": [metrics.MeanAbsoluteError()], "label": ["accuracy"]},
    )
    history = model.fit(X, {"score": SCORE, "label": CLASSES}, epochs=1, verbose=0)
    assert {
        "loss",
        "score_loss",
        "label_loss",
        "score_mean_absolute_error",
        "label_accuracy",
    } <= set(history.history)
    score, label = model.predict(X, verbose=0)
    logs = model.evaluate(X, [SCORE, CLASSES], verbose=0, return_dict=True)
    assert logs["score_mean_absolute_error"] == pytest.approx(
        np.mean(np.abs(score - SCORE)), rel=1e-5
    )
    assert logs["label_accuracy"] == pytest.approx(np.mean(label.argmax(1) == CLASSES.argmax(1)))


def test_an_output_without_a_loss_needs_no_targets():
    model = _model()
    model.compile(optimizer="sgd", loss=[None, "categorical_crossentropy"])
    logs = model.evaluate(X, [CLASSES], verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(_by_hand(model)[2], rel=1e-5)
    model.compile(optimizer="sgd", loss={"label": "categorical_crossentropy"})
    assert model.evaluate(X, {"label": CLASSES}, verbose=0) == pytest.approx(logs["loss"])


def test_the_compile_config_of_several_outputs_is_saved(tmp_path):
    model = _model()
    model.compile(
        optimizer="adam",
        loss={"score": "mse", "label": "categorical_crossentropy"},
        loss_weights={"score": 3.0, "label": 1.0},
        metrics=[["mae"], ["accuracy"]],
    )
    model.fit(X, [SCORE, CLASSES], epochs=1, verbose=0)
    model.save(tmp_path / "two.deepdescent")
    loaded = load_model(tmp_path / "two.deepdescent")
    expected = model.evaluate(X, [SCORE, CLASSES], verbose=0, return_dict=True)
    assert loaded.evaluate(X, [SCORE, CLASSES], verbose=0, return_dict=True) == pytest.approx(
        expected
    )


def test_bad_structures_are_named():
    model = _model()
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss=["mse"])
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss={"nope": "mse"})
    with pytest.raises(ValueError, match="every output"):
        model.compile(loss=[None, None])


def test_loss_weights_scale_a_single_outputs_loss():
    torch.manual_seed(0)
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, layers.Dense(1)(inputs))
    model.compile(loss="mse")
    plain = model.evaluate(X, SCORE, verbose=0)
    model.compile(loss="mse", loss_weights=2.5)
    assert model.evaluate(X, SCORE, verbose=0) == pytest.approx(2.5 * plain, rel=1e-6)


def test_evaluate_lists_the_values_in_kerass_order():
    """Keras 3's list: the loss, each output's loss in output order, then the outputs'
    metrics by name (``label_categorical_accuracy`` before ``score_mae``)."""
    model = _model()
    model.compile(
        optimizer="sgd",
        loss=["mse", "categorical_crossentropy"],
        metrics=[["mae"], ["categorical_accuracy"]],
    )
    logs = model.evaluate(X, [SCORE, CLASSES], verbose=0, return_dict=True)
    order = ["loss", "score_loss", "label_loss", "label_categorical_accuracy", "score_mae"]
    assert sorted(logs) == sorted(order)
    values = model.evaluate(X, [SCORE, CLASSES], verbose=0)
    assert values == pytest.approx([logs[name] for name in order])
