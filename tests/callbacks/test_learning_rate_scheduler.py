"""LearningRateScheduler sets the optimizer's rate each epoch and logs it."""

from __future__ import annotations

import io
import math

import pytest

from deepdescent.callbacks import LearningRateScheduler
from deepdescent.schedules import StepDecay


def run(callback, model, epochs):
    callback.set_model(model)
    callback.on_train_begin({})
    used, logged = [], []
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch, {})
        used.append([group["lr"] for group in model.optimizer.param_groups])
        logs = {"loss": 1.0}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    return used, logged


def test_keras_two_argument_schedule(model):
    def schedule(epoch, lr):  # Keras's docstring example: hold 2 epochs, then decay
        return lr if epoch < 2 else lr * math.exp(-0.1)

    used, logged = run(LearningRateScheduler(schedule), model, 4)
    expected = [0.1, 0.1, 0.1 * math.exp(-0.1), 0.1 * math.exp(-0.2)]
    assert [groups[0] for groups in used] == pytest.approx(expected)
    assert all(groups[0] == groups[1] for groups in used)  # every parameter group
    assert logged == pytest.approx(expected)


def test_one_argument_schedule_and_schedule_objects(model):
    used, _ = run(LearningRateScheduler(StepDecay(0.4, 2, gamma=0.5)), model, 5)
    assert [groups[0] for groups in used] == pytest.approx([0.4, 0.4, 0.2, 0.2, 0.1])
    used, _ = run(LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1)), model, 3)
    assert [groups[0] for groups in used] == pytest.approx([0.01, 0.02, 0.03])


def test_verbose_message(model):
    stream = io.StringIO()
    run(LearningRateScheduler(lambda epoch, lr: 0.5, verbose=1, stream=stream), model, 1)
    assert stream.getvalue() == "\nEpoch 1: LearningRateScheduler setting learning rate to 0.5.\n"


@pytest.mark.parametrize("bad", [None, "0.1", -0.1, math.nan])
def test_a_bad_rate_from_the_schedule_is_refused(model, bad):
    with pytest.raises(ValueError, match=r"The schedule returned .* for epoch 0"):
        run(LearningRateScheduler(lambda epoch, lr: bad), model, 1)


def test_schedule_must_be_callable():
    with pytest.raises(TypeError, match=r"Invalid schedule: 0\.1"):
        LearningRateScheduler(0.1)
