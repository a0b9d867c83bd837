"""Supervised pretraining: the stages greedy pretraining trains (their layers, which are
the model's own, frozen or not), and FitNets' hint stage (its loss ½‖u − r‖² against
NumPy, hints learned better than their mean, the teacher left alone)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepdescent.callbacks import Callback
from deepdescent.datasets import gaussian_blobs
from deepdescent.layers import Activation, Dense, Dropout
from deepdescent.models import Sequential
from deepdescent.optimizers import SGD
from deepdescent.strategies import HintLoss, greedy_supervised_pretraining, hint_training


class _Stages(Callback):
    """Records, at the end of each stage, its layers and the first layer's kernel."""

    def __init__(self, first):
        super().__init__()
        self.first, self.layers, self.kernels = first, [], []

    def on_train_end(self, logs=None):
        self.layers.append([type(layer).__name__ for layer in self.model.layers])
        self.kernels.append(self.first.kernel.detach().clone())


def _deep(depth=3):
    layers = [Dense(8, activation="tanh", input_shape=(20,)), Dropout(0.1)]
    layers += [Dense(8, activation="tanh") for _ in range(depth - 1)]
    model = Sequential([*layers, Dense(4), Activation("softmax")])
    model.compile(SGD(lr=0.1), "categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("freeze", [False, True])
def test_each_stage_adds_a_hidden_layer_under_a_fresh_output(freeze):
    x, y = gaussian_blobs(samples=200)
    model = _deep()
    before = [layer.kernel.detach().clone() for layer in model.layers if isinstance(layer, Dense)]
    spy = _Stages(model.layers[0])
    histories = greedy_supervised_pretraining(
        model, x, y, epochs_per_stage=2, freeze=freeze, callbacks=[spy], verbose=0
    )
    assert [len(h.history["loss"]) for h in histories] == [2, 2, 2]
    assert spy.layers == [
        ["Dense", "Dropout", "Dense", "Activation"],
        ["Dense", "Dropout", "Dense", "Dense", "Activation"],
        ["Dense", "Dropout", "Dense", "Dense", "Dense", "Activation"],
    ]
    assert histories[-1] is model.history and "accuracy" in histories[0].history
    after = [layer.kernel for layer in model.layers if isinstance(layer, Dense)]
    assert all(not torch.equal(old, new) for old, new in zip(before, after, strict=True))
    first_layer_moved = [not torch.equal(spy.kernels[0], k) for k in spy.kernels[1:]]
    assert first_layer_moved == ([False, False] if freeze else [True, True])
    assert all(p.requires_grad for p in model.parameters())  # unfrozen at the end


def test_greedy_pretraining_refuses_what_it_cannot_serve():
    single = Sequential([Dense(4, input_shape=(3,), activation="softmax")])
    single.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match="Invalid model: '1 Dense layer"):
        greedy_supervised_pretraining(single, np.zeros((4, 3)), np.zeros((4, 4)))
    bound = Sequential([Dense(4, input_shape=(3,)), Dense(4), Dense(2)])
    bound.compile(torch.optim.SGD(bound.parameters(), lr=0.1), "mse")
    with pytest.raises(ValueError, match="Invalid model: 'compiled with SGD'"):
        greedy_supervised_pretraining(bound, np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(RuntimeError, match="compile"):
        greedy_supervised_pretraining(Sequential([Dense(2, input_shape=(3,)), Dense(2)]), 0, 0)


def test_the_hint_loss_is_half_the_squared_distance_summed_over_units():
    u, r = np.random.default_rng(0).normal(size=(2, 5, 3))
    expected = np.mean(0.5 * ((u - r) ** 2).sum(axis=1))
    assert HintLoss()(torch.tensor(u), torch.tensor(r)).item() == pytest.approx(expected)


def test_hint_training_teaches_the_guided_layer_the_teachers_hint():
    x, y = gaussian_blobs(samples=600, dimensions=10, classes=3, seed=1)
    teacher = Sequential([Dense(16, activation="tanh", input_shape=(10,)), Dense(3, "softmax")])
    teacher.compile(SGD(lr=0.2), "categorical_crossentropy")
    teacher.fit(x, y, epochs=5, verbose=0)
    kept = teacher.get_weights()
    student = Sequential(
        [
            Dense(6, activation="tanh", input_shape=(10,), name="thin"),
            Dense(6, activation="tanh", name="guided"),
            Dense(6, activation="tanh"),
            Dense(3, activation="softmax"),
        ]
    )
    student.compile(SGD(lr=0.05), "categorical_crossentropy", metrics=["accuracy"])
    hints_stage, task_stage = hint_training(
        student, teacher, x, y, guided="guided", hint=0, hint_epochs=8, epochs=3, verbose=0
    )
    with torch.no_grad():
        hints = torch.tanh(torch.as_tensor(x) @ teacher.layers[0].kernel + teacher.layers[0].bias)
    mean_predictor = 0.5 * hints.var(dim=0, correction=0).sum().item()
    assert hints_stage.history["loss"][-1] < 0.5 * mean_predictor
    assert len(task_stage.history["loss"]) == 3 and "accuracy" in task_stage.history
    for old, new in zip(kept, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    with pytest.raises(ValueError, match="Invalid guided"):
        hint_training(student, teacher, x, y, guided=3, hint=0)
    with pytest.raises(ValueError, match="Invalid hint: 'nope'"):
        hint_training(student, teacher, x, y, guided=0, hint="nope")
