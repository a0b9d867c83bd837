"""CliffMonitor against gradients and parameters read by a plain callback at each step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diagnostics.monitors._fit import fit, model

from deepdescent.callbacks import Callback
from deepdescent.diagnostics.monitors import CliffMonitor
from deepdescent.layers import Dense
from deepdescent.models import Sequential
from deepdescent.optimizers import SGD
from deepdescent.utils import set_random_seed


class Reader(Callback):
    """Reads every step's gradient norm and parameters, one host sync at a time."""

    def __init__(self):
        super().__init__()
        self.norms, self.snapshots = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.snapshots.append({n: p.detach().clone() for n, p in self.model.named_parameters()})

    def on_train_batch_end(self, batch, logs=None):
        grads = torch.cat([p.grad.reshape(-1) for p in self.model.parameters()])
        self.norms.append(float(grads.norm()))


def test_norms_and_update_ratios_are_the_steps_own():
    reader, monitor = Reader(), CliffMonitor(update_interval=3)
    net = model()
    history = fit(net, [reader, monitor])
    np.testing.assert_allclose(monitor.gradient_norms, reader.norms, rtol=1e-6)
    assert history.history["gradient_norm_max"][-1] == pytest.approx(
        max(reader.norms[8:]), rel=1e-6
    )
    after = [*reader.snapshots[1:], {n: p.detach() for n, p in net.named_parameters()}]
    assert monitor.update_steps == [0, 3, 6, 9]
    for index, step in enumerate(monitor.update_steps):
        before, later = reader.snapshots[step], after[step]
        change = sum(
            float(((later[n] - before[n]) ** 2).sum()) for n in before if n.startswith("dense.")
        )
        size = sum(float((before[n] ** 2).sum()) for n in before if n.startswith("dense."))
        assert monitor.update_ratios["dense"][index] == pytest.approx(
            (change / size) ** 0.5, rel=1e-5
        )


@pytest.mark.parametrize(
    ("optimizer", "expected"),
    [
        ({"global_clipnorm": 1e-3}, 1.0),
        ({"global_clipnorm": 1e3}, 0.0),
        ({"clipnorm": 1e-3}, 1.0),
        ({"clipvalue": 1e-4}, 1.0),
        ({"clipvalue": 1e3}, 0.0),
    ],
)
def test_clipped_steps_with_the_optimizers_clipping(optimizer, expected):
    monitor = CliffMonitor()
    history = fit(model(**optimizer), [monitor])
    assert history.history["clipped_fraction"] == [expected] * 3


def test_clipped_fraction_at_an_asked_threshold():
    reader, monitor = Reader(), CliffMonitor(clip_threshold=0.3)
    history = fit(model(), [reader, monitor])
    norms = np.array(reader.norms)
    assert history.history["clipped_fraction"][0] == pytest.approx(float((norms[:4] > 0.3).mean()))
    np.testing.assert_array_equal(monitor.clipped, norms > 0.3)


def test_a_cliff_shows_as_a_spike():
    """Least squares through the origin on 0.01-scale inputs, with one batch of 1-scale
    inputs: that step's gradient, quadratic in the inputs' scale, is 10⁴ times larger
    (the wall of the cliff)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype("float32") * 0.01
    x[160:168] *= 100.0
    set_random_seed(0)
    net = Sequential([Dense(1, use_bias=False, input_shape=(3,))])
    net.compile(optimizer="sgd", loss="mse")
    monitor = CliffMonitor(window=10)
    history = net.fit(
        x,
        np.zeros((256, 1), "float32"),
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[monitor],
    )
    assert monitor.spikes.tolist() == [20]
    assert history.history["gradient_spikes"] == [1.0]


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.realdata
@pytest.mark.skipif(not FASHION.exists(), reason="needs apt-get install dataset-fashion-mnist")
def test_figure_8_1_on_the_seed_network():
    """Goodfellow et al.'s Figure 8.1 on the lecture's 784-32-10 network (SGD, ε = 0.1,
    batch 128, Fashion-MNIST in [0, 1]): after the first epoch the gradient norm grows
    through training while the classification error keeps falling — training does not
    approach a critical point."""
    from deepdescent.datasets import fashion_mnist
    from deepdescent.utils import to_categorical

    (x, labels), _ = fashion_mnist.load_data()
    x = x.reshape(len(x), -1).astype("float32") / 255
    set_random_seed(0)
    net = Sequential(
        [Dense(32, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")]
    )
    net.compile(
        optimizer=SGD(learning_rate=0.1), loss="categorical_crossentropy", metrics=["zero_one_loss"]
    )
    monitor = CliffMonitor()
    history = net.fit(
        x,
        to_categorical(labels, 10),
        batch_size=128,
        epochs=10,
        verbose=0,
        validation_split=0.1,
        callbacks=[monitor],
    )
    medians = [np.median(part) for part in np.array_split(monitor.gradient_norms, 10)]
    errors = history.history["val_zero_one_loss"]
    assert medians[-1] > 1.1 * medians[1] and np.all(np.diff(medians[1:]) > -0.02)
    assert errors[-1] < errors[1] - 0.03
